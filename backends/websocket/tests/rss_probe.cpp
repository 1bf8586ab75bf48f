// Measures the server's resident memory (not a test).
//
//   herald_websocket_rss [connections=10000] [--transport-only]
//   herald_websocket_rss --pipelined [requests=100000]
//   herald_websocket_rss --pings [pings=1000000]
//
// Per idle WebSocket session: --transport-only replaces the engine by a bare
// ConnectionHandler that keeps the connections and sends a welcome: the transport's share
// alone.
//
// --pipelined and --pings are clients that never read: one sends pipelined GET requests
// (answered with 4 KiB each, like herald-server's /metrics), the other WebSocket pings with
// 100-byte payloads; both set a 4 KiB receive buffer. Prints the server's RSS before and at
// its peak while the attack runs.
//
// The server (Engine on the in-memory backends + websocket::Server) runs in this process;
// a forked child opens the connections with plain sockets, so the client side costs the
// server nothing.

#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
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

// Child of an attack: connects to the server with a 4 KiB receive buffer, sends `head` (an
// upgrade, or nothing), reads its answer up to `until` (the welcome), then writes `body`
// and never reads again. Writes one byte on `ready` once `body` is written (or the server
// cut it); killed by the parent.
[[noreturn]] void run_attacker(std::uint16_t port, const std::string& head, const char* until,
                               const std::string& body, int ready) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) _exit(1);
  auto send_all = [fd](const std::string& bytes) {
    for (std::size_t at = 0; at < bytes.size();) {
      const ssize_t n = send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      if (n <= 0) return;
      at += static_cast<std::size_t>(n);
    }
  };
  send_all(head);
  std::string in;
  char buffer[4096];
  while (until != nullptr && in.find(until) == std::string::npos) {
    const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) _exit(1);
    in.append(buffer, static_cast<std::size_t>(got));
  }
  send_all(body);
  if (write(ready, "x", 1) < 0) _exit(1);
  pause();
  _exit(0);
}

// Runs one attack against `w` and prints the server's RSS before and at its peak. The attack
// is over once `progress` (e.g. requests read) has not moved for a second after the child
// wrote what it could, or after 120 s.
void attack(WsWorld& w, const char* what, const std::string& head, const char* until,
            const std::string& body, const std::function<std::uint64_t()>& progress) {
  int ready[2];
  if (pipe(ready) != 0) std::abort();
  const long before = rss_kb();
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child == 0) run_attacker(w.port(), head, until, body, ready[1]);
  close(ready[1]);
  long peak = before;
  std::uint64_t last = 0;
  auto moved = start;
  bool written = false;
  for (;;) {
    std::this_thread::sleep_for(Millis(20));  // a sampling interval, not a synchronisation
    peak = std::max(peak, rss_kb());
    const auto now = std::chrono::steady_clock::now();
    const std::uint64_t p = progress();
    if (p != last) moved = now;
    last = p;
    if (!written) {
      pollfd pfd{ready[0], POLLIN, 0};
      written = poll(&pfd, 1, 0) == 1;
    }
    if ((written || p > 0) && now - moved >= std::chrono::seconds(1)) break;
    if (now - start >= std::chrono::seconds(120)) break;
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  std::printf("%s: server RSS %ld KiB before, %ld KiB at its peak: +%.1f MiB (%s)\n", what, before,
              peak, double(peak - before) / 1024.0,
              written ? "all sent" : "the server stopped reading");
}

int pipelined(int n) {
  WsWorld w(test_server_options(), test_engine_options(),
            [](HttpRequest, std::function<void(HttpResponse)> respond) {
              HttpResponse out;
              out.content_type = "text/plain";
              out.body.assign(4096, 'm');
              respond(std::move(out));
            });
  std::string burst;
  for (int i = 0; i < n; ++i) burst += "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  attack(w, ("pipelined " + std::to_string(n) + " requests").c_str(), "", nullptr, burst,
         [&] { return w.server->stats().http_requests; });
  std::printf("requests read by the server: %llu of %d\n",
              static_cast<unsigned long long>(w.server->stats().http_requests), n);
  return 0;
}

int pings(int n) {
  WsWorld w;
  const std::string upgrade =
      "GET /ws?userId=flood HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  const std::string one = WsClient::encode(kPing, std::string(100, 'p'));
  std::string flood;
  flood.reserve(one.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) flood += one;
  attack(w, ("pings " + std::to_string(n)).c_str(), upgrade, "\"welcome\"", flood,
         [] { return std::uint64_t{0}; });
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

  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--pipelined") return pipelined(argc > 2 ? std::atoi(argv[2]) : 100'000);
  if (mode == "--pings") return pings(argc > 2 ? std::atoi(argv[2]) : 1'000'000);
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
