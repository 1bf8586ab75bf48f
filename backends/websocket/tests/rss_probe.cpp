// Measures the server's resident memory per idle WebSocket session (not a test).
//
//   herald_websocket_rss [connections=10000] [--transport-only]
//
// --transport-only replaces the engine by a bare ConnectionHandler that keeps the
// connections and sends a welcome: the transport's share alone.
//
// The server (Engine on the in-memory backends + websocket::Server) runs in this process;
// a forked child opens the connections with plain sockets (upgrade, read the 101 and the
// welcome) and keeps them open, so the client side costs the server nothing. Prints the
// server's RSS before and after, and the difference per connection.

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define DOCTEST_CONFIG_IMPLEMENT  // the fixture's checks, without doctest's main
#include <doctest/doctest.h>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;

namespace {

/// Bytes malloc has handed out and not taken back (all arenas).
std::size_t heap_bytes() {
  return mallinfo2().uordblks;
}

long rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// Child: opens `n` sessions over plain blocking sockets on one io_context (upgrade, wait
// for the welcome frame), reports how many succeeded on `ready`, then waits on `stop`.
[[noreturn]] void run_clients(std::uint16_t port, int n, int ready, int stop) {
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> sockets;
  sockets.reserve(static_cast<std::size_t>(n));
  const asio::ip::tcp::endpoint server(asio::ip::address_v4::loopback(), port);
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    s.connect(server, ec);
    if (ec) break;
    const std::string request =
        "GET /ws?userId=u" + std::to_string(i) +
        " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    asio::write(s, asio::buffer(request), ec);
    std::string in;
    char buffer[4096];
    while (!ec && in.find("\"welcome\"") == std::string::npos) {
      const std::size_t got = s.read_some(asio::buffer(buffer), ec);
      in.append(buffer, got);
    }
    if (!ec) ++ok;
    sockets.push_back(std::move(s));
  }
  if (write(ready, &ok, sizeof ok) < 0) _exit(1);
  char byte;
  if (read(stop, &byte, 1) < 0) _exit(1);
  _exit(0);
}

/// Keeps every connection and greets it: the transport without an engine.
class BareHandler final : public ConnectionHandler {
 public:
  void on_open(std::shared_ptr<Connection> c) override {
    c->send(Frame{R"({"op":"welcome"})", nullptr});
    std::lock_guard<std::mutex> lock(mutex_);
    open_.insert(std::move(c));
  }
  void on_message(const std::shared_ptr<Connection>&, std::string) override {}
  void on_written(const std::shared_ptr<Connection>&, std::size_t) override {}
  void on_closed(const std::shared_ptr<Connection>& c, CloseCode, std::string) override {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(c);
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_.size();
  }

 private:
  std::mutex mutex_;
  std::set<std::shared_ptr<Connection>> open_;
};

std::size_t heap_before = 0, heap_after = 0;

long measure(std::uint16_t port, int n, const std::function<std::size_t()>& sessions, int& ok) {
  int ready[2], stop[2];
  if (pipe(ready) != 0 || pipe(stop) != 0) std::abort();
  heap_before = heap_bytes();
  const pid_t child = fork();
  if (child == 0) run_clients(port, n, ready[1], stop[0]);
  close(ready[1]);
  close(stop[0]);
  if (read(ready[0], &ok, sizeof ok) != sizeof ok) std::abort();
  eventually([&] { return sessions() == static_cast<std::size_t>(ok); }, Millis(60000));
  const long after = rss_kb();
  heap_after = heap_bytes();
  if (write(stop[1], "x", 1) < 0) std::abort();
  waitpid(child, nullptr, 0);
  return after;
}

void report(const char* what, int n, int ok, long before, long after) {
  std::printf(
      "%s: %d of %d sessions\nserver RSS: %ld KiB before, %ld KiB after\n"
      "per session: %.2f KiB\n",
      what, ok, n, before, after, ok ? double(after - before) / ok : 0.0);
  std::printf("heap in use per session: %.0f bytes\n",
              ok ? double(heap_after - heap_before) / ok : 0.0);
}

int transport_only(int n) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });
  auto server = Server::create(io, test_server_options(), nullptr);
  BareHandler handler;
  auto executor = make_asio_executor(io);
  auto started = await<Result<void>>([&](auto done) {
    server->start(handler, Done(executor, [done](Result<void> r) { done(r); }));
  });
  if (!started || !started->ok()) return 1;
  const long before = rss_kb();
  int ok = 0;
  const long after = measure(
      server->port(), n, [&] { return handler.size(); }, ok);
  report("transport only", n, ok, before, after);
  server->close_all();
  eventually([&] { return server->connections() == 0; });
  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();
  return 0;
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

  if (argc > 2 && std::string(argv[2]) == "--transport-only") return transport_only(n);

  WsWorld w;
  // Warm up: one session through every path, so first-use allocations are not counted.
  {
    auto c = connect_user(w, "warmup");
    c->close();
  }
  eventually([&] { return w.sessions() == 0; });
  const long before = rss_kb();
  int ok = 0;
  const long after = measure(
      w.port(), n, [&] { return static_cast<std::size_t>(w.sessions()); }, ok);
  report("engine + transport", n, ok, before, after);
  return 0;
}
