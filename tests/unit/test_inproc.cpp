// In-process transport: connection lifecycle, frame queueing, written-byte reports, closes.

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/executor.hpp"
#include "herald/inproc.hpp"

using herald::CloseCode;
using herald::Connection;
using herald::Frame;
using herald::Handshake;
using herald::InProcClient;
using herald::InProcTransport;

namespace {

/// Records every handler call as a line of text and keeps the connections it was given.
class Recorder final : public herald::ConnectionHandler {
 public:
  void on_open(std::shared_ptr<Connection> connection) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back("open " + connection->handshake().query.at("userId"));
      connections_.push_back(connection);
    }
    if (open_hook) open_hook(connection);
  }
  void on_message(const std::shared_ptr<Connection>& connection, std::string text) override {
    record("message " + text);
    if (message_hook) message_hook(connection, text);
  }
  void on_written(const std::shared_ptr<Connection>&, std::size_t bytes) override {
    record("written " + std::to_string(bytes));
  }
  void on_closed(const std::shared_ptr<Connection>&, CloseCode code,
                 std::string reason) override {
    record("closed " + std::to_string(static_cast<int>(code)) + " " + reason);
  }

  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }
  std::shared_ptr<Connection> connection(std::size_t i = 0) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_.at(i);
  }

  std::function<void(const std::shared_ptr<Connection>&)> open_hook;
  std::function<void(const std::shared_ptr<Connection>&, const std::string&)> message_hook;

 private:
  void record(std::string line) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(line));
  }
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
  std::vector<std::shared_ptr<Connection>> connections_;
};

Handshake user(const std::string& id) {
  Handshake h;
  h.path = "/ws";
  h.query["userId"] = id;
  return h;
}

Frame frame(std::string head, std::string body = {}) {
  Frame f;
  f.head = std::move(head);
  if (!body.empty()) f.body = std::make_shared<const std::string>(std::move(body));
  return f;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("inproc: open, message, frames queued until taken, written with exact bytes") {
  InProcTransport transport;
  Recorder handler;
  herald::ManualExecutor ex;
  bool started = false;
  transport.start(handler, herald::Done(std::shared_ptr<herald::Executor>(&ex, [](auto*) {}),
                                        [&](herald::Result<void> r) { started = r.ok(); }));
  ex.run();
  CHECK(started);

  auto client = transport.connect(user("alice"));
  REQUIRE(client.get() != nullptr);
  CHECK_FALSE(client->closed());
  CHECK(handler.events() == Lines{"open alice"});
  auto conn = handler.connection();
  CHECK(conn->handshake().path == "/ws");

  client->send("{\"op\":\"ping\"}");
  CHECK(handler.events() == Lines{"open alice", "message {\"op\":\"ping\"}"});

  conn->send(frame("head1:", "shared-body"));  // 6 + 11 bytes
  conn->send(frame("second"));                 // 6 bytes
  conn->send(frame("third!!"));                // 7 bytes
  CHECK(client->pending_bytes() == 30);
  CHECK(handler.events().size() == 2);  // nothing written until the client takes

  auto first = client->take();
  REQUIRE(first);
  CHECK(*first == "head1:shared-body");
  CHECK(client->pending_bytes() == 13);
  CHECK(handler.events().back() == "written 17");

  auto rest = client->take_all();
  CHECK(rest == std::deque<std::string>{"second", "third!!"});
  CHECK(client->pending_bytes() == 0);
  CHECK(handler.events().back() == "written 13");
  CHECK_FALSE(client->take());
  CHECK(client->take_all().empty());
  CHECK(handler.events().size() == 4);  // empty takes report nothing
}

TEST_CASE("inproc: on_frame callback mode delivers each frame and counts it as written") {
  InProcTransport transport;
  Recorder handler;
  transport.start(handler, {});
  auto client = transport.connect(user("bob"));
  auto conn = handler.connection();

  conn->send(frame("early"));  // before the callback: queued, then handed to it
  std::vector<std::string> got;
  client->on_frame([&](const std::string& text) { got.push_back(text); });
  CHECK(got == Lines{"early"});
  CHECK(client->pending_bytes() == 0);
  conn->send(frame("a", "bc"));
  conn->send(frame("xyz"));
  CHECK(got == Lines{"early", "abc", "xyz"});
  CHECK_FALSE(client->take());
  CHECK(handler.events() == Lines{"open bob", "written 5", "written 3", "written 3"});

  // Removing the callback goes back to queueing.
  client->on_frame(nullptr);
  conn->send(frame("later"));
  CHECK(got.size() == 3);
  CHECK(client->pending_bytes() == 5);
}

TEST_CASE("inproc: server close keeps queued frames readable and reports on_closed once") {
  InProcTransport transport;
  Recorder handler;
  transport.start(handler, {});
  auto client = transport.connect(user("carol"));
  auto conn = handler.connection();
  conn->send(frame("before-close"));
  conn->close(CloseCode::slow_consumer, "queue over its bound");
  conn->close(CloseCode::normal, "again");  // second close: no effect
  client->close();                          // client close after server close: no effect
  conn->send(frame("after-close"));         // dropped

  CHECK(client->closed());
  CHECK(client->close_code() == CloseCode::slow_consumer);
  CHECK(client->close_reason() == "queue over its bound");
  CHECK(handler.events() == Lines{"open carol", "closed 4008 queue over its bound"});
  CHECK(client->take() == std::optional<std::string>("before-close"));
  CHECK_FALSE(client->take());
  client->send("ignored");  // a closed client sends nothing
  // No on_written after on_closed, no message: on_closed stays last.
  CHECK(handler.events() == Lines{"open carol", "closed 4008 queue over its bound"});
}

TEST_CASE("inproc: client close reports on_closed once with code normal") {
  InProcTransport transport;
  Recorder handler;
  transport.start(handler, {});
  auto client = transport.connect(user("dave"));
  auto conn = handler.connection();
  client->close();
  client->close();
  conn->close(CloseCode::going_away, "shutdown");  // after the client closed: no effect
  CHECK(client->closed());
  CHECK(client->close_code() == CloseCode::normal);
  CHECK(client->close_reason() == "client closed");
  CHECK(handler.events() == Lines{"open dave", "closed 1000 client closed"});
  conn->send(frame("dropped"));
  CHECK(client->pending_bytes() == 0);
}

TEST_CASE("inproc: connect when not accepting returns a client closed with going_away") {
  InProcTransport transport;
  Recorder handler;

  auto early = transport.connect(user("erin"));  // before start
  REQUIRE(early.get() != nullptr);
  CHECK(early->closed());
  CHECK(early->close_code() == CloseCode::going_away);
  CHECK_FALSE(early->close_reason().empty());

  transport.start(handler, {});
  auto ok = transport.connect(user("erin"));
  CHECK_FALSE(ok->closed());
  transport.stop_accepting({});
  auto late = transport.connect(user("frank"));
  CHECK(late->closed());
  CHECK(late->close_code() == CloseCode::going_away);
  late->send("nobody listens");
  late->close();
  CHECK(late->close_code() == CloseCode::going_away);
  // Open connections stay open after stop_accepting.
  CHECK_FALSE(ok->closed());
  CHECK(handler.events() == Lines{"open erin"});
}

TEST_CASE("inproc: the handler may send and close from inside its callbacks") {
  InProcTransport transport;
  Recorder handler;
  handler.open_hook = [](const std::shared_ptr<Connection>& c) { c->send(frame("welcome")); };
  handler.message_hook = [](const std::shared_ptr<Connection>& c, const std::string& text) {
    if (text == "bye") c->close(CloseCode::normal, "bye");
  };
  transport.start(handler, {});
  auto client = transport.connect(user("gina"));
  std::vector<std::string> got;
  client->on_frame([&](const std::string& text) { got.push_back(text); });
  CHECK(got == Lines{"welcome"});
  client->send("bye");
  CHECK(client->closed());
  CHECK(handler.events() == Lines{"open gina", "written 7", "message bye", "closed 1000 bye"});

  // A handler that rejects right inside on_open: on_closed still comes after on_open.
  Recorder rejecting;
  rejecting.open_hook = [](const std::shared_ptr<Connection>& c) {
    c->close(CloseCode::unauthorized, "bad token");
  };
  InProcTransport t2;
  t2.start(rejecting, {});
  auto refused = t2.connect(user("hank"));
  CHECK(refused->closed());
  CHECK(refused->close_code() == CloseCode::unauthorized);
  CHECK(rejecting.events() == Lines{"open hank", "closed 4001 bad token"});
}

TEST_CASE("inproc: concurrent sends and closes from both sides keep on_closed last and once") {
  for (int round = 0; round < 50; ++round) {
    InProcTransport transport;
    Recorder handler;
    transport.start(handler, {});
    auto client = transport.connect(user("ivy"));
    auto conn = handler.connection();
    client->on_frame([](const std::string&) {});
    std::thread engine([&] {
      for (int i = 0; i < 200; ++i) conn->send(frame("f"));
      conn->close(CloseCode::going_away, "server");
    });
    std::thread peer([&] {
      for (int i = 0; i < 100; ++i) client->send("m");
      client->close();
    });
    engine.join();
    peer.join();
    const Lines events = handler.events();
    REQUIRE_FALSE(events.empty());
    CHECK(events.front() == "open ivy");
    CHECK(events.back().rfind("closed ", 0) == 0);
    int closes = 0;
    for (const auto& e : events) closes += e.rfind("closed ", 0) == 0 ? 1 : 0;
    CHECK(closes == 1);
  }
}
