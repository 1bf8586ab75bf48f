// Measures the server's resident memory per idle WebSocket session (not a test).
//
//   herald_websocket_rss [connections=10000]
//
// The server (Engine on the in-memory backends + websocket::Server) runs in this process;
// a forked child opens the connections with plain sockets (upgrade, read the 101 and the
// welcome) and keeps them open, so the client side costs the server nothing. Prints the
// server's RSS before and after, and the difference per connection.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#define DOCTEST_CONFIG_IMPLEMENT  // the fixture's checks, without doctest's main
#include <doctest/doctest.h>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;

namespace {

long rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// Child: opens `n` sessions, reports on `ready`, then waits until told to stop.
[[noreturn]] void run_clients(std::uint16_t port, int n, int ready, int stop) {
  std::vector<std::unique_ptr<WsClient>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<WsClient>(port, "/ws?userId=u" + std::to_string(i));
    if (c->ok() && !c->next_op("welcome").is_null()) ++ok;
    clients.push_back(std::move(c));
  }
  if (write(ready, &ok, sizeof ok) < 0) _exit(1);
  char byte;
  if (read(stop, &byte, 1) < 0) _exit(1);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  doctest::Context context;  // the fixture's REQUIREs, outside a test case
  context.setAsDefaultForAssertsOutOfTestCases();
  context.setAssertHandler([](const doctest::AssertData& d) {
    std::fprintf(stderr, "failed: %s at %s:%d\n", d.m_expr, d.m_file, d.m_line);
    std::abort();
  });
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  ServerOptions so = test_server_options();
  EngineOptions eo = test_engine_options();
  WsWorld w(so, eo);
  // Warm up: one session through every path, so first-use allocations are not counted.
  { auto c = connect_user(w, "warmup"); c->close(); }
  eventually([&] { return w.sessions() == 0; });
  const long before = rss_kb();

  int ready[2], stop[2];
  if (pipe(ready) != 0 || pipe(stop) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) run_clients(w.port(), n, ready[1], stop[0]);
  int ok = 0;
  if (read(ready[0], &ok, sizeof ok) != sizeof ok) return 1;
  eventually([&] { return w.sessions() == ok; }, Millis(60000));
  const long after = rss_kb();
  std::printf("sessions: %d of %d\nserver RSS: %ld KiB before, %ld KiB after\n"
              "per session: %.2f KiB (server side: socket, strand, websocketpp, engine)\n",
              ok, n, before, after, ok ? double(after - before) / ok : 0.0);
  if (write(stop[1], "x", 1) < 0) return 1;
  waitpid(child, nullptr, 0);
  return 0;
}
