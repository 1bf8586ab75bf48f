// The Transport contract seen by a ConnectionHandler, without an engine: on_open first,
// messages in order, on_written with exact frame sizes, on_closed exactly once and last.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

namespace {

/// Records every call; checks the ordering rules as they happen.
class Recorder final : public ConnectionHandler {
 public:
  void on_open(std::shared_ptr<Connection> c) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (opened_ || closed_ != 0) ++violations_;
    opened_ = true;
    connection_ = std::move(c);
    changed_.notify_all();
  }
  void on_message(const std::shared_ptr<Connection>&, std::string text) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!opened_ || closed_ != 0) ++violations_;
    messages_.push_back(std::move(text));
    changed_.notify_all();
  }
  void on_written(const std::shared_ptr<Connection>&, std::size_t bytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!opened_ || closed_ != 0) ++violations_;
    written_ += bytes;
    changed_.notify_all();
  }
  void on_closed(const std::shared_ptr<Connection>&, CloseCode code, std::string reason) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!opened_) ++violations_;
    ++closed_;
    code_ = code;
    reason_ = std::move(reason);
    changed_.notify_all();
  }

  template <class Condition>
  bool wait(Condition condition, Millis timeout = kWait) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return condition(*this); });
  }
  std::shared_ptr<Connection> connection() {
    std::lock_guard<std::mutex> lock(mutex_);
    return connection_;
  }

  // Read under wait() (the lock is held) or after the connection is done.
  bool opened_ = false;
  int closed_ = 0;
  int violations_ = 0;
  std::size_t written_ = 0;
  std::vector<std::string> messages_;
  CloseCode code_ = CloseCode::normal;
  std::string reason_;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<Connection> connection_;
};

/// A server with a Recorder as its handler, on an io_context run by test_host_threads().
struct TransportWorld {
  explicit TransportWorld(ServerOptions o = test_server_options()) {
    for (unsigned i = 0; i < test_host_threads(); ++i) threads.emplace_back([this] { io.run(); });
    server = Server::create(io, o, nullptr);
    auto started = await<Result<void>>([&](auto done) {
      server->start(recorder, Done(executor, [done](Result<void> r) { done(r); }));
    });
    REQUIRE(started);
    REQUIRE(started->ok());
  }
  ~TransportWorld() {
    server->close_all();
    eventually([&] { return server->connections() == 0; });
    guard.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::shared_ptr<Executor> executor = make_asio_executor(io);
  std::vector<std::thread> threads;
  Recorder recorder;
  std::unique_ptr<Server> server;
};

}  // namespace

TEST_CASE("on_written reports exactly the sizes of the frames written in send order") {
  TransportWorld w;
  WsClient c(w.server->port(), "/ws?x=1");
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = w.recorder.connection();
  CHECK(conn->handshake().path == "/ws");
  CHECK(conn->handshake().query.at("x") == "1");
  CHECK(conn->handshake().headers.at("sec-websocket-version") == "13");
  CHECK(conn->handshake().remote.rfind("127.0.0.1:", 0) == 0);

  // Heads with a shared body, whole frames shared (empty head), sizes from 1 B to 100 KiB.
  auto shared = std::make_shared<const std::string>("{\"shared\":true}");
  std::vector<Frame> frames;
  for (int i = 0; i < 60; ++i) {
    const std::string head = "{\"i\":" + std::to_string(i) + ",\"pad\":\"";
    if (i % 3 == 0) {
      frames.push_back(Frame{{}, shared});
    } else {
      auto body = std::make_shared<const std::string>(std::string(i * 1700, 'x') + "\"}");
      frames.push_back(Frame{head, body});
    }
  }
  std::size_t total = 0;
  for (const Frame& f : frames) {
    total += f.size();
    conn->send(f);
  }
  for (const Frame& f : frames) {
    auto got = c.next_frame();
    REQUIRE(got);
    CHECK(got->opcode == kText);
    CHECK(got->payload == f.text());
  }
  CHECK(w.recorder.wait([&](Recorder& r) { return r.written_ == total; }));
  std::this_thread::sleep_for(50ms);  // nothing more may arrive (no double report)
  CHECK(w.recorder.wait([&](Recorder& r) { return r.written_ == total && r.violations_ == 0; }));
}

TEST_CASE("client messages arrive in order and a client close is reported once") {
  TransportWorld w;
  WsClient c(w.server->port(), "/ws");
  REQUIRE(c.ok());
  for (int i = 0; i < 100; ++i) c.send_text("m" + std::to_string(i));
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.messages_.size() == 100; }));
  for (int i = 0; i < 100; ++i) CHECK(w.recorder.messages_[i] == "m" + std::to_string(i));
  c.close(4100, "done");
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(static_cast<int>(w.recorder.code_) == 4100);
  CHECK(w.recorder.violations_ == 0);
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE(
    "a server close is answered by the client and reported once and later sends are dropped") {
  TransportWorld w;
  WsClient c(w.server->port(), "/ws");
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = w.recorder.connection();
  conn->send(Frame{"before", nullptr});
  conn->close(CloseCode::unauthorized, "no token");
  conn->send(Frame{"after", nullptr});
  auto f = c.next_frame();
  REQUIRE(f);
  CHECK(f->payload == "before");
  CHECK(c.wait_closed());
  CHECK(c.close_code() == 4001);
  CHECK(c.close_reason() == "no token");
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(w.recorder.code_ == CloseCode::unauthorized);
  conn->close(CloseCode::normal, "again");  // no effect, no second report
  std::this_thread::sleep_for(50ms);
  CHECK(w.recorder.wait([](Recorder& r) { return r.closed_ == 1 && r.violations_ == 0; }));
}

TEST_CASE("a client that does not answer the close frame is cut off after close_timeout") {
  ServerOptions o = test_server_options();
  o.close_timeout = 300ms;
  TransportWorld w(o);
  WsClient c(w.server->port(), "/ws");
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  const auto start = std::chrono::steady_clock::now();
  w.recorder.connection()->close(CloseCode::going_away, "bye");  // the client never reads
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(w.recorder.code_ == CloseCode::going_away);
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE("the buffer safety net closes a session whose handler ignores on_written") {
  ServerOptions o = test_server_options();
  o.max_buffered_bytes = 64 * 1024;
  o.socket_send_buffer = 4096;
  o.close_timeout = 300ms;
  o.send_timeout = 300ms;  // its close frame cannot go out either: cut
  TransportWorld w(o);
  WsClient::Options small;
  small.receive_buffer = 4096;
  WsClient c(w.server->port(), "/ws", small);  // never reads
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = w.recorder.connection();
  auto body = std::make_shared<const std::string>(std::string(4000, 'b'));
  for (int i = 0; i < 200; ++i) conn->send(Frame{"h", body});  // 800 KB, far over the net
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(w.recorder.code_ == CloseCode::slow_consumer);
  CHECK(w.server->stats().overflow_closes == 1);
  CHECK(w.recorder.written_ < 200 * 4001);
  CHECK(eventually([&] { return w.server->connections() == 0; }));
  CHECK(w.server->stats().buffered_bytes == 0);
}

TEST_CASE("a 4008 close drops what waits: whole frames then the close and exact on_written") {
  ServerOptions o = test_server_options();
  o.socket_send_buffer = 4096;
  TransportWorld w(o);
  WsClient::Options small;
  small.receive_buffer = 4096;
  WsClient c(w.server->port(), "/ws", small);  // reads nothing until the close is queued
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = w.recorder.connection();

  // 400 KB: far more than the socket buffers take; most of it waits in the server.
  std::vector<Frame> frames;
  for (int i = 0; i < 200; ++i) {
    auto body = std::make_shared<const std::string>(std::string(2000, 'x') + "\"}");
    frames.push_back(Frame{"{\"i\":" + std::to_string(i) + ",\"pad\":\"", body});
  }
  for (const Frame& f : frames) conn->send(f);
  REQUIRE(eventually([&] { return w.server->stats().buffered_bytes > 200 * 1024; }));
  conn->close(CloseCode::slow_consumer, "too slow");
  // What waited is dropped at once; what is left is the write in progress (at most 32 of
  // these frames in one gather write) and the close frame.
  CHECK(eventually([&] { return w.server->stats().buffered_bytes < 72 * 1024; }));

  // The client reads again: the first frames, whole and in order, then the close frame.
  std::size_t got = 0, bytes = 0;
  while (auto f = c.next_frame()) {
    REQUIRE(got < frames.size());
    CHECK(f->payload == frames[got].text());
    bytes += frames[got].size();
    ++got;
  }
  CHECK(c.close_code() == 4008);
  CHECK(c.close_reason() == "too slow");
  CHECK(got < frames.size() / 2);
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(w.recorder.code_ == CloseCode::slow_consumer);
  // on_written counted exactly the frames that reached the socket, none of the dropped ones.
  CHECK(w.recorder.wait([&](Recorder& r) { return r.written_ == bytes && r.violations_ == 0; }));
  CHECK(eventually([&] { return w.server->stats().buffered_bytes == 0; }));
}

TEST_CASE("a vanished client is reported as 1006 once") {
  TransportWorld w;
  WsClient c(w.server->port(), "/ws");
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  c.drop();
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.closed_ == 1; }));
  CHECK(static_cast<int>(w.recorder.code_) == 1006);
  w.recorder.connection()->send(Frame{"late", nullptr});  // dropped silently
  CHECK(eventually([&] { return w.server->connections() == 0; }));
  CHECK(w.recorder.wait([](Recorder& r) { return r.closed_ == 1 && r.violations_ == 0; }));
}

TEST_CASE("frames that arrive with the upgrade request are processed after the handshake") {
  TransportWorld w;
  TestSocket s;
  REQUIRE(s.connect(w.server->port()));
  // The upgrade and a masked text frame "hi" in one write.
  std::string bytes =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  bytes += "\x81\x82";
  bytes += std::string("\x01\x02\x03\x04", 4);
  bytes += static_cast<char>('h' ^ 0x01);
  bytes += static_cast<char>('i' ^ 0x02);
  REQUIRE(s.write(bytes));
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.messages_.size() == 1; }));
  CHECK(w.recorder.messages_[0] == "hi");
}

TEST_CASE("an HTTP request pipelined before an upgrade is answered first") {
  ServerOptions o = test_server_options();
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto server = Server::create(io, o, [](HttpRequest r, std::function<void(HttpResponse)> respond) {
    HttpResponse out;
    out.body = r.path;
    respond(out);
  });
  Recorder recorder;
  auto executor = make_asio_executor(io);
  REQUIRE(await<Result<void>>([&](auto done) {
    server->start(recorder, Done(executor, [done](Result<void> r) { done(r); }));
  }));
  HttpClient h(server->port());
  REQUIRE(h.send_raw(
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  auto first = h.read_reply();
  REQUIRE(first);
  CHECK(first->body == "/first");
  auto upgraded = h.read_reply();
  REQUIRE(upgraded);
  CHECK(upgraded->status == 101);
  CHECK(recorder.wait([](Recorder& r) { return r.opened_; }));
  server->close_all();
  eventually([&] { return server->connections() == 0; });
  guard.reset();
  io.stop();
  t.join();
}

TEST_CASE("io_threads: destroying the server with sessions open stops its own threads - a connection the handler still holds stays safe to use") {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread host([&io] { io.run(); });  // one thread, as io_threads asks of the host
  auto executor = make_asio_executor(io);
  Recorder recorder;
  ServerOptions o = test_server_options();
  o.io_threads = 2;
  auto server = Server::create(io, o, nullptr);
  auto started = await<Result<void>>([&](auto done) {
    server->start(recorder, Done(executor, [done](Result<void> r) { done(r); }));
  });
  REQUIRE(started);
  REQUIRE(started->ok());
  // Connections go to the lanes round robin, the host's first: this one takes it, so the
  // session below is on one of the server's own loops.
  TestSocket first;
  REQUIRE(first.connect(server->port()));
  WsClient c(server->port(), "/ws?x=1");
  REQUIRE(c.ok());
  REQUIRE(recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = recorder.connection();
  conn->send(Frame{"before", nullptr});
  auto got = c.next_frame();
  REQUIRE(got);
  CHECK(got->payload == "before");

  // The closes queued by the destructor still run on the loops before they stop: the
  // session is reported closed (1001) by the time the destructor returns.
  server.reset();
  CHECK(recorder.wait([](Recorder& r) { return r.closed_ == 1; }, 0ms));
  CHECK(recorder.code_ == CloseCode::going_away);
  CHECK(c.wait_closed());  // aborted: the socket is closed without a close frame
  // Its loop is gone; the connection object is not: sends and closes are dropped.
  conn->send(Frame{"after", nullptr});
  conn->close(CloseCode::normal, "late");
  CHECK_FALSE(c.next_frame(100ms));
  conn.reset();
  CHECK(recorder.wait([](Recorder& r) { return r.closed_ == 1 && r.violations_ == 0; }));

  guard.reset();
  io.stop();
  host.join();
}

/// Counts sessions opened on the host's thread and elsewhere.
class OpenThreads final : public ConnectionHandler {
 public:
  explicit OpenThreads(std::thread::id host) : host_(host) {}
  void on_open(std::shared_ptr<Connection>) override {
    (std::this_thread::get_id() == host_ ? on_host : elsewhere).fetch_add(1);
  }
  void on_message(const std::shared_ptr<Connection>&, std::string) override {}
  void on_written(const std::shared_ptr<Connection>&, std::size_t) override {}
  void on_closed(const std::shared_ptr<Connection>&, CloseCode, std::string) override {}
  std::atomic<int> on_host{0}, elsewhere{0};

 private:
  const std::thread::id host_;
};

TEST_CASE(
    "io_threads: plain HTTP requests are served on the host's thread, sessions on every thread") {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread host([&io] { io.run(); });  // one thread, as io_threads asks of the host
  const std::thread::id host_id = host.get_id();
  auto executor = make_asio_executor(io);
  ServerOptions o = test_server_options();
  o.io_threads = 2;  // three lanes: the host's, then the two loops, round robin
  std::atomic<int> served{0}, served_elsewhere{0};
  auto server =
      Server::create(io, o, [&](HttpRequest r, std::function<void(HttpResponse)> respond) {
        served.fetch_add(1);
        if (std::this_thread::get_id() != host_id) served_elsewhere.fetch_add(1);
        HttpResponse out;
        out.body = r.method + " " + r.path;
        respond(out);
      });
  OpenThreads opens(host_id);
  auto started = await<Result<void>>([&](auto done) {
    server->start(opens, Done(executor, [done](Result<void> r) { done(r); }));
  });
  REQUIRE(started);
  REQUIRE(started->ok());

  // Six connections, four of them accepted on a loop; two requests on each (kept alive),
  // the first one whole in the first bytes the server reads.
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<HttpClient>(server->port()));
  for (auto& h : clients) {
    CHECK(h->request("POST", "/notify", "{}").body == "POST /notify");
    CHECK(h->request("GET", "/users/a/notifications?limit=1").body == "GET /users/a/notifications");
  }
  CHECK(served.load() == 12);
  CHECK(served_elsewhere.load() == 0);

  // Whatever the first bytes do not tell is served where it was accepted, as before: a
  // request line cut short, a percent-encoded path, the WebSocket path without an upgrade.
  for (const char* first : {"GE", "GET /w%73 HTTP/1.1\r\n", "GET /ws HTTP/1.1\r\n"}) {
    for (int i = 0; i < 3; ++i) {  // one on each lane
      HttpClient h(server->port());
      REQUIRE(h.send_raw(first));
      const std::string rest =
          std::string(first) == "GE" ? "T /x HTTP/1.1\r\nHost: x\r\n\r\n" : "Host: x\r\n\r\n";
      REQUIRE(h.send_raw(rest));
      auto reply = h.read_reply();
      REQUIRE(reply);
      CHECK(reply->status != 0);
    }
  }

  // WebSocket sessions stay on the lane that accepted them: of three in a row, two are on
  // the server's own loops.
  std::vector<std::unique_ptr<WsClient>> sessions;
  for (int i = 0; i < 3; ++i) {
    sessions.push_back(std::make_unique<WsClient>(server->port(), "/ws?x=1"));
    REQUIRE(sessions.back()->ok());
  }
  CHECK(eventually([&] { return opens.on_host.load() + opens.elsewhere.load() == 3; }));
  CHECK(opens.on_host.load() == 1);
  CHECK(opens.elsewhere.load() == 2);

  server->close_all();
  CHECK(eventually([&] { return server->connections() == 0; }));
  server.reset();
  guard.reset();
  io.stop();
  host.join();
}

TEST_CASE("frames that are not UTF-8 are dropped but reported written - the valid ones around them arrive in order") {
  TransportWorld w;
  WsClient c(w.server->port(), "/ws?x=1");
  REQUIRE(c.ok());
  REQUIRE(w.recorder.wait([](Recorder& r) { return r.opened_; }));
  auto conn = w.recorder.connection();
  // Invalid bytes before, inside and after whole 8-byte words of ASCII, a sequence cut at
  // the end, an overlong encoding; valid two-, three- and four-byte characters likewise.
  const std::vector<std::pair<std::string, bool>> texts = {
      {"plain ascii only", true},
      {"\xff", false},
      {"12345678\xff", false},
      {"1234567890123456\xc3", false},
      {"123456789012345\xc3\xa9 ok", true},
      {"1234567\xe2\x82\xac and more ascii after the euro", true},
      {"12345678901234567\xf0\x9f\x98\x80", true},
      {"overlong \xc0\xaf", false},
      {"surrogate \xed\xa0\x80", false},
      {"", true},
  };
  std::size_t total = 0;
  for (const auto& entry : texts) {
    const Frame f{"", std::make_shared<const std::string>(entry.first)};
    total += f.size();
    conn->send(f);
  }
  for (const auto& [text, valid] : texts) {
    if (!valid) continue;
    auto got = c.next_frame();
    REQUIRE(got);
    CHECK(got->payload == text);
  }
  CHECK(w.recorder.wait([&](Recorder& r) { return r.written_ == total; }));
  conn->send(Frame{"last", nullptr});
  auto last = c.next_frame();
  REQUIRE(last);
  CHECK(last->payload == "last");  // nothing invalid arrived before it
}
