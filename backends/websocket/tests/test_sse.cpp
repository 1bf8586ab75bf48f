// Server-Sent Events: GET /sse streams the engine's frames as events whose ids resume every
// stream (Last-Event-ID), requests are POSTed to the stream's secret path, heartbeats are
// comments, and a client that does not read is closed like a slow WebSocket session.

#include <string>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::string id;       // empty: the event had no id line, or an empty one
  bool has_id = false;  // it had an id line
  json data;
};

/// A raw event-stream client: one GET, then events read with deadlines.
class SseClient {
 public:
  SseClient(std::uint16_t port, const std::string& target,
            const std::vector<std::string>& headers = {}, int receive_buffer = 0) {
    if (!socket_.connect(port, receive_buffer)) return;
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto& h : headers) request += h + "\r\n";
    socket_.write(request + "Accept: text/event-stream\r\n\r\n");
  }

  /// The response head ("" on timeout).
  std::string head() {
    const auto until = std::chrono::steady_clock::now() + kWait;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!socket_.read_some(in_, left(until))) return "";
    std::string h = in_.substr(0, end);
    in_.erase(0, end + 4);
    return h;
  }

  /// The next event (comments and `retry:` skipped, counted in comments()); nullopt on
  /// timeout or end of stream.
  std::optional<Event> next(Millis timeout = kWait) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t end;
      while ((end = in_.find("\n\n")) == std::string::npos)
        if (!socket_.read_some(in_, left(until))) return std::nullopt;
      std::string block = in_.substr(0, end);
      in_.erase(0, end + 2);
      Event e;
      bool data = false;
      std::size_t pos = 0;
      while (pos <= block.size()) {
        std::size_t nl = block.find('\n', pos);
        if (nl == std::string::npos) nl = block.size();
        const std::string line = block.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.rfind(":", 0) == 0) ++comments_;
        if (line.rfind("id: ", 0) == 0 || line == "id:") {
          e.has_id = true;
          e.id = line.substr(line.size() > 3 ? 4 : 3);
        }
        if (line.rfind("data: ", 0) == 0) {
          e.data = json::parse(line.substr(6));
          data = true;
        }
      }
      if (data) return e;
    }
  }

  /// The next event whose frame has `op`, skipping others.
  std::optional<Event> next_op(const std::string& op, Millis timeout = kWait) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (auto e = next(left(until)))
      if (e->data.value("op", "") == op) return e;
    return std::nullopt;
  }

  bool wait_eof(Millis timeout = kWait) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!socket_.eof())
      if (!socket_.read_some(in_, left(until)) && !socket_.eof()) return false;
    return true;
  }

  int comments() const { return comments_; }
  TestSocket& socket() { return socket_; }

 private:
  static Millis left(std::chrono::steady_clock::time_point until) {
    auto d = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
    return d.count() > 0 ? d : Millis(0);
  }
  TestSocket socket_;
  std::string in_;
  int comments_ = 0;
};

/// Opens a stream and reads up to its welcome; returns the POST path.
std::string open_stream(SseClient& c) {
  const std::string head = c.head();
  REQUIRE(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("Content-Type: text/event-stream") != std::string::npos);
  auto first = c.next();
  REQUIRE(first);
  REQUIRE(first->data["op"] == "sse");
  auto welcome = c.next_op("welcome");
  REQUIRE(welcome);
  return first->data["post"].get<std::string>();
}

/// The seqs of the next `n` notification events.
std::vector<Seq> next_seqs(SseClient& c, std::size_t n) {
  std::vector<Seq> got;
  while (got.size() < n) {
    auto e = c.next_op("notification");
    if (!e) break;
    got.push_back(e->data["seq"].get<Seq>());
  }
  return got;
}

PublishRequest to_topic(const std::string& topic) {
  PublishRequest r;
  r.target = Target::to_topic(topic);
  r.type = "chat";
  r.data = "{}";
  return r;
}

}  // namespace

TEST_CASE("sse: frames arrive as events - POSTed acks reach the engine - a dropped stream "
          "resumes from Last-Event-ID with only what it missed") {
  WsWorld w;
  auto c = std::make_unique<SseClient>(w.port(), "/sse?userId=alice");
  const std::string post = open_stream(*c);
  const std::string epoch = std::to_string(w.store->epoch());
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"alice"}).ok());
  std::string last_id;
  for (Seq seq = 1; seq <= 3; ++seq) {
    auto e = c->next_op("notification");
    REQUIRE(e);
    CHECK(e->data["seq"] == seq);
    CHECK(e->id == std::to_string(seq) + "." + epoch);
    last_id = e->id;
  }

  HttpClient http(w.port());
  auto accepted = http.request("POST", post, R"({"op":"ack","seq":3})");
  CHECK(accepted.status == 202);
  CHECK(eventually([&] {
    auto st = await<Result<InboxState>>([&](auto done) {
      w.store->inbox_state("alice", TimePoint{}, Completion<InboxState>(w.executor, done));
    });
    return st && st->ok() && (*st)->ack_cursor == 3;
  }));
  // A request answered on the stream: its reply is an event.
  CHECK(http.request("POST", post, R"({"op":"ping","rid":"p1"})").status == 202);
  auto pong = c->next_op("pong");
  REQUIRE(pong);
  CHECK(pong->data["rid"] == "p1");

  c->socket().reset();
  c.reset();
  CHECK(eventually([&] { return w.sessions() == 0; }));
  CHECK(http.request("POST", post, R"({"op":"ping"})").status == 404);  // the stream ended
  for (int i = 0; i < 2; ++i) REQUIRE(w.notify({"alice"}).ok());
  // EventSource sends the last id it saw; `since` on the URL is overridden by it.
  SseClient again(w.port(), "/sse?userId=alice&since=0", {"Last-Event-ID: " + last_id});
  open_stream(again);
  CHECK(next_seqs(again, 2) == std::vector<Seq>{4, 5});
}

TEST_CASE("sse: topics on the URL are joined - their positions are in the ids and resume too") {
  WsWorld w;
  REQUIRE(w.publish(to_topic("room:1")).ok());
  auto c = std::make_unique<SseClient>(w.port(), "/sse?userId=bob&topics=room:1");
  open_stream(*c);
  auto joined = c->next_op("subscribed");
  REQUIRE(joined);
  CHECK(joined->data["topic"] == "room:1");
  const std::string epoch = std::to_string(w.store->epoch());
  CHECK(joined->id == "0." + epoch + ",room:1@1." + epoch);
  REQUIRE(w.publish(to_topic("room:1")).ok());
  auto e = c->next_op("notification");
  REQUIRE(e);
  CHECK(e->id == "0." + epoch + ",room:1@2." + epoch);

  c->socket().reset();
  c.reset();
  CHECK(eventually([&] { return w.sessions() == 0; }));
  for (int i = 0; i < 2; ++i) REQUIRE(w.publish(to_topic("room:1")).ok());
  SseClient again(w.port(), "/sse?userId=bob&topics=room:1", {"Last-Event-ID: " + e->id});
  open_stream(again);
  CHECK(next_seqs(again, 2) == std::vector<Seq>{3, 4});
}

// A notification's position is read from the start of its frame without parsing it (sse.hpp);
// a stream whose name the frame writes with escapes ('"', '\') takes the JSON parser's way.
// Both ways must give the same ids.
TEST_CASE("sse: names written with escapes in frames keep their positions in the ids") {
  WsWorld w;
  const std::string user = "a\"b", topic = "r\\1";
  auto c = std::make_unique<SseClient>(w.port(), "/sse?userId=a%22b&topics=r%5C1");
  open_stream(*c);
  auto joined = c->next_op("subscribed");
  REQUIRE(joined);
  CHECK(joined->data["topic"] == topic);
  const std::string epoch = std::to_string(w.store->epoch());
  REQUIRE(w.notify({user}).ok());
  auto inbox = c->next_op("notification");
  REQUIRE(inbox);
  CHECK(inbox->id == "1." + epoch + "," + topic + "@0." + epoch);
  REQUIRE(w.publish(to_topic(topic)).ok());
  auto room = c->next_op("notification");
  REQUIRE(room);
  CHECK(room->id == "1." + epoch + "," + topic + "@1." + epoch);

  c->socket().reset();
  c.reset();
  CHECK(eventually([&] { return w.sessions() == 0; }));
  REQUIRE(w.notify({user}).ok());
  REQUIRE(w.publish(to_topic(topic)).ok());
  SseClient again(w.port(), "/sse?userId=a%22b", {"Last-Event-ID: " + room->id});
  open_stream(again);
  CHECK(next_seqs(again, 2) == std::vector<Seq>{2, 2});  // the inbox's and the topic's
}

// Found by tests/fuzz/sse_position.cpp: a seq of 20 digits over 2^64 passed the id's check,
// and the engine then closed every reconnection ("since must be a seq number").
TEST_CASE("sse: a Last-Event-ID whose seq does not fit in 64 bits is ignored") {
  WsWorld w;
  REQUIRE(w.notify({"alice"}).ok());
  SseClient c(w.port(), "/sse?userId=alice", {"Last-Event-ID: 18446744073709551616.1"});
  open_stream(c);
  CHECK(next_seqs(c, 1) == std::vector<Seq>{1});  // from the start, as without an id
}

// The engine closes a handshake whose topics it cannot parse (1002), and EventSource would
// reconnect with the same id forever: such an id is ignored as a whole instead.
TEST_CASE("sse: a Last-Event-ID with a topic entry the server never writes is ignored") {
  WsWorld w;
  REQUIRE(w.notify({"alice"}).ok());
  const std::string epoch = std::to_string(w.store->epoch());
  const std::vector<std::string> ids = {"1." + epoch + ",$broadcast@3", "1." + epoch + ",room@x",
                                        "1." + epoch + ",room", "1." + epoch + ",", "1,room@1.y"};
  for (const std::string& forged : ids) {
    CAPTURE(forged);
    SseClient c(w.port(), "/sse?userId=alice&topics=room:2", {"Last-Event-ID: " + forged});
    open_stream(c);
    CHECK(next_seqs(c, 1) == std::vector<Seq>{1});  // from the start, as without an id
    auto joined = c.next_op("subscribed");
    REQUIRE(joined);
    CHECK(joined->data["topic"] == "room:2");  // the URL's topics still apply
  }
  // The server's own ids (name@seq.epoch) still resume, the topic's included.
  SseClient c(w.port(), "/sse?userId=alice", {"Last-Event-ID: 1." + epoch + ",room:2@0." + epoch});
  open_stream(c);
  auto joined = c.next_op("subscribed");
  REQUIRE(joined);
  CHECK(joined->data["topic"] == "room:2");
}

// An id the transport passes (its form is the server's) may still be refused by the engine:
// its topics and the URL's together over max_session_topics (a client that opened with
// topics=a, left a and joined up to the cap has one). The close event then clears the id,
// so that EventSource's next attempt goes without it instead of failing the same way forever.
TEST_CASE("sse: a handshake refused with its Last-Event-ID clears the id in the close event") {
  EngineOptions engine = test_engine_options();
  engine.max_session_topics = 2;
  WsWorld w(test_server_options(), engine);
  REQUIRE(w.notify({"alice"}).ok());
  const std::string epoch = std::to_string(w.store->epoch());
  const std::string id = "1." + epoch + ",b@0." + epoch + ",c@0." + epoch;
  SseClient refused(w.port(), "/sse?userId=alice&topics=a", {"Last-Event-ID: " + id});
  REQUIRE(refused.head().find("200") != std::string::npos);
  auto closed = refused.next_op("close");
  REQUIRE(closed);
  CHECK(closed->data["code"] == 1002);
  CHECK(closed->has_id);
  CHECK(closed->id.empty());

  // Without the id (what EventSource sends next) the stream opens with the URL's topics.
  SseClient again(w.port(), "/sse?userId=alice&topics=a");
  open_stream(again);
  auto joined = again.next_op("subscribed");
  REQUIRE(joined);
  CHECK(joined->data["topic"] == "a");
}

TEST_CASE("sse: heartbeats are comments - POSTs need JSON and a live stream's path - a refused "
          "client reads the close event") {
  ServerOptions o = test_server_options();
  o.ping_interval = 100ms;
  o.idle_timeout = 0ms;
  WsWorld w(o);
  SseClient c(w.port(), "/sse?userId=carol");
  const std::string post = open_stream(c);
  CHECK(eventually([&] {
    c.next(10ms);
    return c.comments() >= 2;
  }));
  HttpClient http(w.port());
  CHECK(http.request("POST", post, "{}", {{"Content-Type", "text/plain"}}).status == 415);
  CHECK(http.request("POST", "/sse/0123456789abcdef0123456789abcdef", "{}").status == 404);
  CHECK(http.request("GET", post).status == 405);

  SseClient refused(w.port(), "/sse");  // no userId
  refused.head();
  auto closed = refused.next_op("close");
  REQUIRE(closed);
  CHECK(closed->data["code"] == 4001);
  CHECK_FALSE(closed->has_id);  // refused for its credentials: a Last-Event-ID stays
  CHECK(refused.wait_eof());
}

TEST_CASE("sse: a client that stops reading is closed as a slow consumer") {
  ServerOptions o = test_server_options();
  o.max_buffered_bytes = 256 * 1024;
  EngineOptions e = test_engine_options();
  e.max_session_queue_bytes = 64 * 1024;
  WsWorld w(o, e);
  SseClient c(w.port(), "/sse?userId=dave", {}, 4096);
  open_stream(c);
  const std::string big = "\"" + std::string(16 * 1024, 'x') + "\"";
  // Bounded: the session is closed long before 2,000 notifications of 16 KiB.
  for (int i = 0; i < 2000 && w.sessions() > 0; ++i) REQUIRE(w.notify({"dave"}, big).ok());
  CHECK(eventually([&] { return w.sessions() == 0; }));
  CHECK(w.server->stats().sse_sessions == 1);
}
