// The STOMP adapter (herald::stomp::wrap) against a real engine on the in-process transport
// and a ManualExecutor: connect and authentication, inbox delivery and the three ack modes,
// topics with receipts, heart-beats, errors.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "herald/herald.hpp"
#include "herald/stomp.hpp"
#include "support/engine_fixture.hpp"

namespace doctest {
// Shows seq lists in failed assertions.
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
    return (out + "]").c_str();
  }
};
}  // namespace doctest

using namespace herald;
using herald::stomp::StompFrame;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

class StompWorld {
 public:
  explicit StompWorld(EngineOptions o = options(), stomp::StompOptions so = {},
                      Authenticator auth = dev_authenticator())
      : executor(std::make_shared<ManualExecutor>()), hub_(MemoryBrokerHub::create()) {
    wrapped_ = stomp::wrap(inproc_, executor, so);
    Backends b;
    b.store = MemoryStore::create();
    b.registry = MemoryRegistry::create([ex = executor] { return ex->now(); });
    b.broker = hub_->make_broker(executor);
    b.transports = {wrapped_.get()};
    engine = std::make_unique<Engine>(executor, std::move(b), o, std::move(auth));
    Status started(Errc::internal, "start did not complete");
    engine->start([&](Status s) { started = s; });
    executor->run();
    REQUIRE_MESSAGE(started.ok(), started.message());
  }
  ~StompWorld() {
    engine->shutdown([] {});
    executor->run();
    executor->advance(seconds(60));
    engine.reset();
    executor->run();
  }

  static EngineOptions options() {
    EngineOptions o = test::World::defaults();
    o.ack_timeout = seconds(1);
    o.max_delivery_attempts = 5;
    return o;
  }

  std::shared_ptr<InProcClient> open(const std::string& path = "/stomp") {
    Handshake hs;
    hs.path = path;
    auto c = inproc_.connect(std::move(hs));
    executor->run();
    return c;
  }

  void send(InProcClient& c, const StompFrame& f) {
    c.send(stomp::encode(f));
    executor->run();
  }

  /// Opens a STOMP connection and completes CONNECT as `user`; the CONNECTED frame is taken.
  std::shared_ptr<InProcClient> connect(const std::string& user, std::string heartbeat = "0,0") {
    auto c = open();
    send(*c, {"CONNECT", {{"accept-version", "1.2"}, {"host", "h"}, {"login", user},
                          {"heart-beat", std::move(heartbeat)}}, {}});
    auto fs = take(*c);
    REQUIRE(fs.size() == 1);
    REQUIRE(fs[0].command == "CONNECTED");
    return c;
  }

  /// Every frame the client received (heart-beats counted in `heartbeats`).
  std::vector<StompFrame> take(InProcClient& c) {
    executor->run();
    std::vector<StompFrame> out;
    for (const std::string& text : c.take_all()) {
      stomp::Decoded d = stomp::decode(text);
      REQUIRE_MESSAGE(d.error.empty(), d.error);
      REQUIRE(d.consumed == text.size());
      heartbeats += d.heartbeats;
      for (auto& f : d.frames) out.push_back(std::move(f));
    }
    return out;
  }

  void notify(const std::string& user, const std::string& data = "{\"n\":1}") {
    PublishRequest r;
    r.target = Target::to_users({user});
    r.type = "test.note";
    r.data = data;
    publish(std::move(r));
  }
  void publish(PublishRequest r) {
    Status s(Errc::internal, "publish did not complete");
    engine->publish(std::move(r), [&](Result<PublishResult> x) { s = x.status(); });
    executor->run();
    REQUIRE_MESSAGE(s.ok(), s.message());
  }

  std::shared_ptr<ManualExecutor> executor;
  std::unique_ptr<Engine> engine;
  std::size_t heartbeats = 0;

 private:
  std::shared_ptr<MemoryBrokerHub> hub_;
  InProcTransport inproc_;
  std::unique_ptr<Transport> wrapped_;
};

std::string h(const StompFrame& f, const char* name) {
  const std::string* v = f.header(name);
  return v ? *v : "<none>";
}

std::vector<std::string> seqs_of(const std::vector<StompFrame>& fs) {
  std::vector<std::string> out;
  for (const StompFrame& f : fs)
    if (f.command == "MESSAGE") out.push_back(h(f, "herald-seq"));
  return out;
}

StompFrame subscribe(const std::string& id, const std::string& destination,
                     const std::string& ack = "auto", const std::string& receipt = "") {
  StompFrame f{"SUBSCRIBE", {{"id", id}, {"destination", destination}, {"ack", ack}}, {}};
  if (!receipt.empty()) f.headers.emplace_back("receipt", receipt);
  return f;
}

StompFrame ack(const std::string& id) { return {"ACK", {{"id", id}}, {}}; }

using Seqs = std::vector<std::string>;

}  // namespace

TEST_CASE("stomp: CONNECT as a user gets CONNECTED, other paths stay native") {
  StompWorld w;
  auto c = w.open();
  w.send(*c, {"CONNECT", {{"accept-version", "1.0,1.1,1.2"}, {"login", "alice"},
                          {"heart-beat", "0,0"}}, {}});
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "CONNECTED");
  CHECK(h(fs[0], "version") == "1.2");
  CHECK(h(fs[0], "user-name") == "alice");
  CHECK(h(fs[0], "server") == std::string("herald/") + HERALD_VERSION_STRING);
  CHECK(h(fs[0], "session").rfind(w.engine->instance_id() + "-", 0) == 0);
  CHECK(h(fs[0], "heart-beat") == "10000,10000");

  auto native = w.open("/ws");  // no userId: the engine refuses it with 4001 as always
  CHECK(native->closed());
  CHECK(native->close_code() == CloseCode::unauthorized);
}

TEST_CASE("stomp: the authenticator decides from the CONNECT credentials") {
  Authenticator auth = [](const Handshake& hs, std::function<void(AuthResult)> answer) {
    auto it = hs.headers.find("authorization");
    if (it != hs.headers.end() && it->second == "Bearer good")
      return answer(AuthResult::allow("alice"));
    answer(AuthResult::refuse("bad token"));
  };
  StompWorld w(StompWorld::options(), {}, auth);

  auto ok = w.open();
  w.send(*ok, {"CONNECT", {{"accept-version", "1.2"}, {"passcode", "good"}}, {}});
  auto fs = w.take(*ok);
  REQUIRE(fs.size() == 1);
  CHECK(h(fs[0], "user-name") == "alice");

  auto bearer = w.open();
  w.send(*bearer, {"CONNECT", {{"accept-version", "1.2"}, {"Authorization", "Bearer good"}}, {}});
  CHECK(w.take(*bearer).at(0).command == "CONNECTED");

  auto refused = w.open();
  w.send(*refused, {"CONNECT", {{"accept-version", "1.2"}, {"Authorization", "Bearer bad"}}, {}});
  fs = w.take(*refused);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "ERROR");
  CHECK(h(fs[0], "message") == "unauthorized");
  CHECK(fs[0].body == "bad token");
  CHECK(refused->closed());
  CHECK(refused->close_code() == CloseCode::unauthorized);
}

TEST_CASE("stomp: inbox MESSAGEs wait for the subscription, auto ack acks the engine") {
  StompWorld w;
  auto c = w.connect("bob");
  w.notify("bob", R"({"title":"one"})");
  w.notify("bob");
  CHECK(w.take(*c).empty());  // held until SUBSCRIBE
  w.send(*c, subscribe("sub-0", "/user/queue/notifications", "auto", "r1"));
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 3);
  CHECK(fs[0].command == "RECEIPT");
  CHECK(h(fs[0], "receipt-id") == "r1");
  const StompFrame& m = fs[1];
  CHECK(m.command == "MESSAGE");
  CHECK(h(m, "destination") == "/user/queue/notifications");
  CHECK(h(m, "subscription") == "sub-0");
  CHECK(h(m, "message-id") == "inbox:bob:1");
  CHECK(h(m, "ack") == "<none>");
  CHECK(h(m, "content-type") == "application/json");
  CHECK(h(m, "herald-seq") == "1");
  CHECK(h(m, "herald-type") == "test.note");
  CHECK(h(m, "herald-epoch") != "<none>");
  CHECK(h(m, "redelivered") == "<none>");
  auto body = nlohmann::json::parse(m.body);
  CHECK(body["id"] == h(m, "herald-id"));
  CHECK(body["type"] == "test.note");
  CHECK(body["data"]["title"] == "one");
  CHECK(body.contains("created_at"));
  CHECK(h(fs[2], "herald-seq") == "2");

  w.notify("bob");  // live
  CHECK(seqs_of(w.take(*c)) == Seqs{"3"});
  w.executor->advance(seconds(10));
  CHECK(seqs_of(w.take(*c)).empty());  // acked: never redelivered
  CHECK(w.engine->metrics().acked.value() == 3);
}

TEST_CASE("stomp: ack client is cumulative") {
  StompWorld w;
  auto c = w.connect("bob");
  w.send(*c, subscribe("s", "/user/queue/notifications", "client"));
  for (int i = 0; i < 3; ++i) w.notify("bob");
  auto fs = w.take(*c);
  REQUIRE(seqs_of(fs) == Seqs{"1", "2", "3"});
  CHECK(h(fs[1], "ack") == "inbox:bob:2");
  w.send(*c, ack("inbox:bob:2"));
  w.executor->advance(seconds(1));
  fs = w.take(*c);
  REQUIRE(seqs_of(fs) == Seqs{"3"});  // 1 and 2 were acked by ACK 2
  CHECK(h(fs[0], "redelivered") == "true");
  CHECK(h(fs[0], "herald-attempt") == "2");
  w.send(*c, ack("inbox:bob:3"));
  w.executor->advance(seconds(10));
  CHECK(seqs_of(w.take(*c)).empty());
}

TEST_CASE("stomp: ack client-individual acks the engine up to the first gap") {
  StompWorld w;
  auto c = w.connect("bob");
  w.send(*c, subscribe("s", "/user/queue/notifications", "client-individual"));
  for (int i = 0; i < 4; ++i) w.notify("bob");
  REQUIRE(seqs_of(w.take(*c)) == Seqs{"1", "2", "3", "4"});
  const Duration batch = EngineOptions{}.ack_batch_delay;  // the engine's acks wait this long
  w.send(*c, ack("inbox:bob:4"));
  w.send(*c, ack("inbox:bob:2"));
  w.executor->advance(batch);
  CHECK(w.engine->metrics().acked.value() == 0);  // 1 is missing
  w.send(*c, ack("inbox:bob:1"));
  w.executor->advance(batch);
  CHECK(w.engine->metrics().acked.value() == 2);  // 1 and 2
  w.send(*c, {"NACK", {{"id", "inbox:bob:3"}}, {}});
  w.executor->advance(seconds(1));
  CHECK(seqs_of(w.take(*c)) == Seqs{"3", "4"});  // the engine still waits for 3
  w.send(*c, ack("inbox:bob:3"));
  w.executor->advance(batch);
  CHECK(w.engine->metrics().acked.value() == 4);
  w.executor->advance(seconds(10));
  CHECK(seqs_of(w.take(*c)).empty());
}

TEST_CASE("stomp: a topic SUBSCRIBE gets its RECEIPT once joined, UNSUBSCRIBE leaves") {
  StompWorld w;
  auto c = w.connect("bob");
  w.send(*c, subscribe("t1", "/topic/news", "client", "r-sub"));
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "RECEIPT");
  CHECK(h(fs[0], "receipt-id") == "r-sub");

  PublishRequest r;
  r.target = Target::to_topic("news");
  r.type = "news.posted";
  r.data = "[1]";
  w.publish(r);
  fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(h(fs[0], "destination") == "/topic/news");
  CHECK(h(fs[0], "subscription") == "t1");
  CHECK(h(fs[0], "message-id") == "topic:news:1");
  CHECK(h(fs[0], "ack") == "topic:news:1");
  w.send(*c, ack("topic:news:1"));  // accepted, nothing to do

  w.send(*c, {"UNSUBSCRIBE", {{"id", "t1"}, {"receipt", "r-unsub"}}, {}});
  fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(h(fs[0], "receipt-id") == "r-unsub");
  w.publish(r);
  CHECK(w.take(*c).empty());
  CHECK(!c->closed());
}

// A MESSAGE's headers come from the notification's head, read without a parser, and its
// body from a buffer every recipient of that notification shares (made once per fan-out);
// a name the frame writes with escapes ('"', '\\') takes the JSON parser's way. Every
// recipient must get each notification's own headers and body either way.
TEST_CASE(
    "stomp: MESSAGEs of a fan-out carry each notification's own headers and body - "
    "names with escapes too") {
  StompWorld w;
  for (const std::string topic : {"news", "n\"s\\1"}) {
    CAPTURE(topic);
    auto c1 = w.connect("bob");
    auto c2 = w.connect("carol");
    w.send(*c1, subscribe("t1", "/topic/" + topic));
    w.send(*c2, subscribe("t2", "/topic/" + topic));
    w.take(*c1);
    w.take(*c2);
    for (int i = 1; i <= 2; ++i) {
      PublishRequest r;
      r.target = Target::to_topic(topic);
      r.type = "type:" + std::to_string(i);
      r.data = "[" + std::to_string(i) + "]";
      w.publish(r);
    }
    for (auto* c : {c1.get(), c2.get()}) {
      auto fs = w.take(*c);
      REQUIRE(fs.size() == 2);
      for (std::size_t i = 0; i < 2; ++i) {
        const std::string n = std::to_string(i + 1);
        CHECK(h(fs[i], "herald-stream") == "topic:" + topic);
        CHECK(h(fs[i], "message-id") == "topic:" + topic + ":" + n);
        CHECK(h(fs[i], "herald-type") == "type:" + n);
        CHECK(h(fs[i], "content-length") == std::to_string(fs[i].body.size()));
        auto body = nlohmann::json::parse(fs[i].body);
        CHECK(body["data"][0] == i + 1);
        CHECK(body["id"] == h(fs[i], "herald-id"));
      }
    }
  }
  const std::string user = "a\"b\\c";
  auto c = w.connect(user);
  w.send(*c, subscribe("in", "/user/queue/notifications"));
  w.take(*c);
  w.notify(user, R"({"k":"v"})");
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(h(fs[0], "message-id") == "inbox:" + user + ":1");
  CHECK(h(fs[0], "herald-stream") == "inbox:" + user);
  CHECK(nlohmann::json::parse(fs[0].body)["data"]["k"] == "v");
}

TEST_CASE("stomp: a refused topic SUBSCRIBE is an ERROR naming the receipt") {
  StompWorld w;
  w.engine->authorize_subscribe([](const UserId&, const std::string& t) { return t != "secret"; });
  auto c = w.connect("bob");
  w.send(*c, subscribe("t", "/topic/secret", "auto", "r9"));
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "ERROR");
  CHECK(h(fs[0], "receipt-id") == "r9");
  CHECK(fs[0].body.find("forbidden") != std::string::npos);
  CHECK(c->closed());
}

TEST_CASE("stomp: protocol errors are an ERROR frame, then the connection closes") {
  StompWorld w;
  struct Case {
    const char* name;
    std::string input;
    const char* message;
    bool connect_first;
  };
  const std::vector<Case> cases = {
      {"frame before CONNECT", stomp::encode({"SUBSCRIBE", {{"id", "1"}}, {}}), "expected CONNECT",
       false},
      {"unparsable", std::string("hello\n\n\0", 8), "malformed frame", true},
      {"unknown command", stomp::encode({"FROB", {}, {}}), "unknown command", true},
      {"SEND", stomp::encode({"SEND", {{"destination", "/topic/x"}}, "hi"}),
       "SEND is not supported", true},
      {"missing id", stomp::encode({"SUBSCRIBE", {{"destination", "/topic/x"}, {"receipt", "r"}}, {}}),
       "missing header 'id'", true},
      {"unknown destination",
       stomp::encode({"SUBSCRIBE", {{"id", "1"}, {"destination", "/queue/x"}}, {}}),
       "unknown destination", true},
      {"bad ack mode",
       stomp::encode({"SUBSCRIBE", {{"id", "1"}, {"destination", "/topic/x"}, {"ack", "x"}}, {}}),
       "invalid ack mode", true},
      {"transaction", stomp::encode({"BEGIN", {{"transaction", "t"}}, {}}),
       "transactions are not supported", true},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    auto c = k.connect_first ? w.connect("u") : w.open();
    c->send(k.input);
    auto fs = w.take(*c);
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].command == "ERROR");
    CHECK(h(fs[0], "message") == k.message);
    CHECK(c->closed());
    CHECK(c->close_code() == CloseCode::protocol_error);
  }
  auto c = w.connect("u");
  w.send(*c, {"SUBSCRIBE", {{"destination", "/topic/x"}, {"receipt", "r"}}, {}});
  CHECK(h(w.take(*c).at(0), "receipt-id") == "r");
}

TEST_CASE("stomp: versions other than 1.1 and 1.2 are refused") {
  StompWorld w;
  auto c = w.open();
  w.send(*c, {"CONNECT", {{"accept-version", "1.0"}}, {}});
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "ERROR");
  CHECK(h(fs[0], "version") == "1.2,1.1");
  CHECK(c->closed());
}

TEST_CASE("stomp: frames split over messages, and several in one") {
  StompWorld w;
  auto c = w.connect("bob");
  const std::string both = stomp::encode(subscribe("a", "/topic/x", "auto", "r1")) +
                           stomp::encode(subscribe("b", "/topic/y", "auto", "r2"));
  c->send(both.substr(0, 10));
  c->send(both.substr(10, 40));
  c->send(both.substr(50));
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 2);
  CHECK(h(fs[0], "receipt-id") == "r1");
  CHECK(h(fs[1], "receipt-id") == "r2");
}

TEST_CASE("stomp: DISCONNECT with a receipt gets the RECEIPT, then the close") {
  StompWorld w;
  auto c = w.connect("bob");
  w.send(*c, {"DISCONNECT", {{"receipt", "bye"}}, {}});
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].command == "RECEIPT");
  CHECK(h(fs[0], "receipt-id") == "bye");
  CHECK(c->closed());
  CHECK(c->close_code() == CloseCode::normal);
}

TEST_CASE("stomp: heart-beats both ways") {
  stomp::StompOptions so;
  so.heartbeat = milliseconds(500);
  StompWorld w(StompWorld::options(), so);
  // The client wants one every 1000 ms and sends one every 2000 ms.
  auto c = w.connect("bob", "2000,1000");
  w.heartbeats = 0;
  w.executor->advance(milliseconds(999));
  w.take(*c);
  CHECK(w.heartbeats == 0);
  w.executor->advance(milliseconds(1));
  w.take(*c);
  CHECK(w.heartbeats == 1);
  c->send("\n");  // the client's heart-beat at 1000 ms
  w.executor->run();
  w.executor->advance(milliseconds(3999));
  w.take(*c);
  CHECK(!c->closed());
  CHECK(w.heartbeats == 4);
  w.executor->advance(milliseconds(1));  // 4000 ms since the client's last byte
  CHECK(c->closed());
  CHECK(c->close_code() == CloseCode::idle_timeout);
}

TEST_CASE("stomp: a connection without CONNECT is closed after connect_timeout") {
  stomp::StompOptions so;
  so.connect_timeout = seconds(2);
  StompWorld w(StompWorld::options(), so);
  auto c = w.open();
  w.executor->advance(seconds(2));
  auto fs = w.take(*c);
  REQUIRE(fs.size() == 1);
  CHECK(h(fs[0], "message") == "no CONNECT frame in time");
  CHECK(c->closed());
}

TEST_CASE("stomp: held inbox MESSAGEs are bounded, and a redelivery replaces its held copy") {
  stomp::StompOptions so;
  so.max_pending_messages = 2;
  StompWorld w(StompWorld::options(), so);
  auto c = w.connect("bob");
  w.notify("bob");
  w.executor->advance(seconds(1));  // seq 1 is delivered again while held: one copy
  for (int i = 0; i < 2; ++i) w.notify("bob");
  w.send(*c, subscribe("s", "/user/queue/notifications", "client"));
  CHECK(seqs_of(w.take(*c)) == Seqs{"2", "3"});  // 1 was the oldest, dropped
  // ACK 3 covers what the client got (2, 3), not 1, which it never saw.
  w.send(*c, ack("inbox:bob:3"));
  CHECK(w.engine->metrics().acked.value() == 0);
  w.executor->advance(seconds(2));
  auto fs = w.take(*c);
  // The engine redelivers 1..3 as unacked: 2 and 3 at their ack timeout (t=2), 1 at its
  // backed-off third attempt (t=3).
  REQUIRE(seqs_of(fs) == Seqs{"2", "3", "1"});
  CHECK(h(fs[2], "herald-attempt") == "3");
  w.send(*c, ack("inbox:bob:1"));
  w.executor->advance(EngineOptions{}.ack_batch_delay);  // the engine's acks wait this long
  CHECK(w.engine->metrics().acked.value() == 3);
  w.executor->advance(seconds(30));
  CHECK(seqs_of(w.take(*c)).empty());
}
