// Several engines sharing the in-memory Broker, Registry and Store behave as instances of
// one service; faults of the broker and registry; presence; shutdown; authentication.

#include <functional>
#include <optional>

#include "support/engine_fixture.hpp"
#include "support/forwarding_store.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::seconds;

namespace {

// The in-memory Registry, except that locate() answers only when the test releases it,
// and heartbeats fail once `hung` is set (the instance using it then expires as if it had
// crashed, while its engine goes on).
class HeldLocate final : public Registry {
 public:
  explicit HeldLocate(std::shared_ptr<Registry> inner) : inner_(std::move(inner)) {}
  void heartbeat(InstanceId i, Duration ttl, Completion<std::vector<Departure>> d) override {
    if (hung) return d(Status(Errc::unavailable, "hung (test)"));
    inner_->heartbeat(std::move(i), ttl, std::move(d));
  }
  void remove_instance(InstanceId i, Completion<std::vector<Departure>> d) override {
    inner_->remove_instance(std::move(i), std::move(d));
  }
  void add_session(SessionRecord s, Completion<bool> d) override {
    inner_->add_session(std::move(s), std::move(d));
  }
  void remove_session(SessionRecord s, Completion<bool> d) override {
    inner_->remove_session(std::move(s), std::move(d));
  }
  void locate(std::vector<UserId> users, Completion<std::vector<Location>> done) override {
    held_.emplace_back(std::move(users), std::move(done));
  }
  void sessions(UserId u, Completion<std::vector<SessionRecord>> d) override {
    inner_->sessions(std::move(u), std::move(d));
  }
  void instances(Completion<std::vector<InstanceId>> d) override { inner_->instances(std::move(d)); }
  void report_load(InstanceId i, InstanceLoad l, Done d) override {
    inner_->report_load(std::move(i), l, std::move(d));
  }
  void instance_loads(Completion<std::vector<InstanceStatus>> d) override {
    inner_->instance_loads(std::move(d));
  }
  bool alone(const InstanceId& self) override { return inner_->alone(self); }

  bool hung = false;
  std::size_t held() const { return held_.size(); }
  void release() {
    for (auto& [users, done] : held_) inner_->locate(std::move(users), std::move(done));
    held_.clear();
  }

 private:
  std::shared_ptr<Registry> inner_;
  std::vector<std::pair<std::vector<UserId>, Completion<std::vector<Location>>>> held_;
};

// Two instances whose Registry lookups (and, if asked, Store appends) wait for the test:
// user a is on the first, b on the second, their welcome frames already read.
struct HeldCluster {
  explicit HeldCluster(bool hold_appends) {
    w.engine_registry = held;
    if (hold_appends) w.engine_store = holding;
    w.add();
    w.add();
    a = w.connect("a", 0);
    b = w.connect("b", 1);
    frames(*a);
    frames(*b);
  }
  World w;
  std::shared_ptr<HeldLocate> held = std::make_shared<HeldLocate>(w.registry);
  std::shared_ptr<HoldingStore> holding = std::make_shared<HoldingStore>(w.store);
  std::shared_ptr<InProcClient> a, b;
};

}  // namespace

TEST_CASE("local sessions get a publish at once - only other instances wait for the Registry") {
  HeldCluster c(false);
  auto& [w, held, holding, a, b] = c;
  REQUIRE(w.notify({"a", "b"}, "{}", 0).ok());
  CHECK(held->held() == 1);
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{1});
  CHECK(frames(*b).empty());
  held->release();
  w.executor->run();
  CHECK(seqs(frames(*b), "inbox:b") == std::vector<Seq>{1});
  CHECK(frames(*a).empty());  // delivered once
}

// Registry::alone: one instance on the in-memory registry asks nothing for its publishes
// (a lookup could only find its own sessions); with another instance live, or with a host
// listening to outcome events (which need the lookup), it asks again.
TEST_CASE("an instance alone on its Registry publishes without lookups - unless events need one") {
  World w;
  auto held = std::make_shared<HeldLocate>(w.registry);
  w.engine_registry = held;
  w.add();
  auto a = w.connect("a", 0);
  frames(*a);
  REQUIRE(w.notify({"a", "nobody"}, "{}", 0).ok());
  CHECK(held->held() == 0);
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{1});

  std::vector<OutcomeEvent> events;
  w.engine(0).on_event([&](const OutcomeEvent& e) { events.push_back(e); });
  w.executor->run();
  REQUIRE(w.notify({"a"}, "{}", 0).ok());
  CHECK(held->held() == 1);
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{2});
  held->release();
  w.executor->run();

  w.engine(0).on_event(nullptr);
  w.add();  // i1: instance 0 is no longer alone
  w.executor->run();
  REQUIRE(w.notify({"a"}, "{}", 0).ok());
  CHECK(held->held() == 1);
  held->release();
  w.executor->run();
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{3});
}

TEST_CASE("the Registry lookup overlaps the append - the relay leaves once both answered") {
  HeldCluster c(true);
  auto& [w, held, holding, a, b] = c;
  PublishRequest r;
  r.target = Target::to_users({"a", "b"});
  r.type = "test.note";
  std::optional<Result<PublishResult>> result;
  w.engine(0).publish(r, [&](Result<PublishResult> x) { result = x; });
  w.executor->run();
  REQUIRE(holding->held.size() == 1);
  CHECK(held->held() == 1);  // asked while the append is still in the Store
  held->release();
  w.executor->run();
  CHECK(frames(*b).empty());  // nothing is relayed before it is stored
  holding->release();
  w.executor->run();
  REQUIRE(result.has_value());
  CHECK(result->ok());
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{1});
  CHECK(seqs(frames(*b), "inbox:b") == std::vector<Seq>{1});

  // A failed append relays nothing, whatever the Registry said.
  result.reset();
  w.engine(0).publish(r, [&](Result<PublishResult> x) { result = x; });
  w.executor->run();
  held->release();
  holding->release(true);
  w.executor->run();
  REQUIRE(result.has_value());
  CHECK(result->status().code() == Errc::unavailable);
  CHECK(frames(*a).empty());
  CHECK(frames(*b).empty());
}

TEST_CASE("three instances: a publish on one reaches users connected to the others") {
  World w;
  for (int i = 0; i < 3; ++i) w.add();
  auto a = w.connect("a", 0);
  auto b = w.connect("b", 1);
  auto c = w.connect("c", 2);
  auto c_again = w.connect("c", 1);  // the same user on two instances
  for (auto* cl : {&a, &b, &c, &c_again}) frames(**cl);

  REQUIRE(w.notify({"a", "b", "c", "offline"}, "{}", 2).ok());
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{1});
  CHECK(seqs(frames(*b), "inbox:b") == std::vector<Seq>{1});
  CHECK(seqs(frames(*c), "inbox:c") == std::vector<Seq>{1});
  CHECK(seqs(frames(*c_again), "inbox:c") == std::vector<Seq>{1});

  // Topic entries go only to instances with joined sessions (interest-based).
  b->send(R"({"op":"subscribe","topic":"news"})");
  w.executor->run();
  frames(*b);
  PublishRequest r;
  r.target = Target::to_topic("news");
  r.type = "headline";
  REQUIRE(w.publish(r, 0).ok());
  CHECK(seqs(frames(*b), "topic:news") == std::vector<Seq>{1});
  CHECK(frames(*a).empty());
  CHECK(frames(*c).empty());
}

TEST_CASE("a lost broker message is repaired from the store by seq-gap detection") {
  World w;
  w.add();
  w.add();
  auto c = w.connect("u", 1);
  frames(*c);
  w.hub->drop_next(1);
  REQUIRE(w.notify({"u"}, "1", 0).ok());
  CHECK(frames(*c).empty());  // lost on the way
  REQUIRE(w.notify({"u"}, "2", 0).ok());
  auto fs = frames(*c);
  CHECK(seqs(fs, "inbox:u") == range(1, 2));
  CHECK(w.engine(1).metrics().gap_repairs.value() == 1);
}

TEST_CASE("a broker reconnect (reset) makes every session catch up from the store") {
  World w;
  w.add();
  w.add();
  auto c = w.connect("u", 1);
  c->send(R"({"op":"subscribe","topic":"t"})");
  w.executor->run();
  frames(*c);
  w.hub->drop_next(2);
  REQUIRE(w.notify({"u"}, "1", 0).ok());
  PublishRequest r;
  r.target = Target::to_topic("t");
  r.type = "x";
  REQUIRE(w.publish(r, 0).ok());
  CHECK(frames(*c).empty());
  w.hub->reset_all();
  w.executor->run();
  auto fs = frames(*c);
  CHECK(seqs(fs, "inbox:u") == std::vector<Seq>{1});
  CHECK(seqs(fs, "topic:t") == std::vector<Seq>{1});
}

TEST_CASE("registry unavailable: publishes are relayed to every instance - sessions re-register") {
  World w;
  w.add();
  w.add();
  auto c = w.connect("u", 1);
  frames(*c);
  w.registry->set_available(false);
  REQUIRE(w.notify({"u"}, "1", 0).ok());
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
  CHECK(w.engine(0).metrics().broker_fallbacks.value() == 1);

  // A session that connects while the registry is down is registered once it is back.
  auto d = w.connect("d", 1);
  frames(*d);
  w.registry->set_available(true);
  w.executor->advance(w.engine(1).options().registry_ttl);
  auto where = w.ask<std::vector<SessionRecord>>([&](auto cb) { w.engine(0).presence("d", cb); });
  REQUIRE(where.ok());
  REQUIRE(where->size() == 1);
  CHECK(where->at(0).instance == "i1");
  REQUIRE(w.notify({"d"}, "1", 0).ok());
  CHECK(seqs(frames(*d), "inbox:d") == std::vector<Seq>{1});
  CHECK(w.engine(0).metrics().broker_fallbacks.value() == 1);
}

// An on_presence callback that records each event as "user+@instance" or "user-@instance".
std::function<void(const PresenceEvent&)> record_presence(std::vector<std::string>& into) {
  return [&into](const PresenceEvent& e) {
    into.push_back(e.user + (e.online ? "+" : "-") + "@" + e.instance);
  };
}

TEST_CASE("presence: online users per instance and join/leave events of every instance") {
  std::vector<std::string> events, events1;  // before the World: it reports as it closes
  World w;
  w.add();
  w.add();
  w.engine(0).on_presence(record_presence(events));
  w.engine(1).on_presence(record_presence(events1));
  w.executor->run();
  auto a1 = w.connect("a", 0);
  auto a2 = w.connect("a", 0);
  auto a3 = w.connect("a", 1);
  auto sessions = w.ask<std::vector<SessionRecord>>([&](auto cb) { w.engine(1).presence("a", cb); });
  REQUIRE(sessions->size() == 3);
  std::multiset<std::string> where;
  for (auto& s : *sessions) where.insert(s.instance);
  CHECK(where == std::multiset<std::string>{"i0", "i0", "i1"});
  a1->close();
  w.executor->run();
  CHECK(events == std::vector<std::string>{"a+@i0", "a+@i1"});
  a2->close();
  w.executor->run();
  CHECK(events == std::vector<std::string>{"a+@i0", "a+@i1", "a-@i0"});
  CHECK(events1 == std::vector<std::string>{"a+@i0", "a+@i1", "a-@i0"});
  sessions = w.ask<std::vector<SessionRecord>>([&](auto cb) { w.engine(0).presence("a", cb); });
  REQUIRE(sessions->size() == 1);
  CHECK(sessions->at(0).instance == "i1");
  CHECK(w.engine(0).metrics().connections.value() == 0);
  CHECK(w.engine(1).metrics().connections.value() == 1);
  CHECK(w.engine(0).metrics().connections_total.value() == 2);
}

// A Broker subscriber of the presence channel that is no instance: every presence message
// relayed lands in `payloads`. Stop it before the World goes.
std::unique_ptr<Broker> presence_listener(World& w, std::vector<std::string>& payloads) {
  auto listener = w.hub->make_broker(w.executor);
  BrokerEvents on;
  on.on_message = [&payloads](const std::string&, const std::string& payload) {
    payloads.push_back(payload);
  };
  listener->start(on, Done(w.executor, [](Result<void>) {}));
  listener->subscribe("herald:presence", Done(w.executor, [](Result<void>) {}));
  w.executor->run();
  return listener;
}

// The welcome frame and the presence message are written without a JSON document: byte for
// byte what nlohmann::json::dump() wrote before (keys sorted, its escapes), so clients and
// instances of an older herald read them as before.
TEST_CASE("presence: a user id with quotes and backslashes reaches every instance as it is") {
  std::vector<std::string> events, payloads;  // before the World: it reports as it closes
  World w;
  w.add();
  w.add();
  w.engine(0).on_presence(record_presence(events));
  auto listener = presence_listener(w, payloads);

  const std::string user = R"(q"b\s/)";
  auto c = w.connect(user, 1);
  const std::optional<std::string> welcome = c->take();
  REQUIRE(welcome);
  CHECK(*welcome == json::parse(*welcome).dump());
  const json parsed = json::parse(*welcome);
  CHECK(parsed["op"] == "welcome");
  CHECK(parsed["user"] == user);
  CHECK(parsed["stream"] == "inbox:" + user);
  c->close();
  w.executor->run();
  CHECK(events == std::vector<std::string>{user + "+@i1", user + "-@i1"});
  REQUIRE(payloads.size() == 2);
  for (const std::string& p : payloads) CHECK(p == json::parse(p).dump());
  CHECK(json::parse(payloads[0]) ==
        json{{"from", "i1"}, {"presence", {{"instance", "i1"}, {"online", true}, {"user", user}}}});
  CHECK(json::parse(payloads[1])["presence"]["online"] == false);
  listener->stop(Done(w.executor, [](Result<void>) {}));
  w.executor->run();
}

// A lone instance tells only its own host: the Broker message would reach nobody.
TEST_CASE("presence: a lone instance publishes no presence message - with a second one it does") {
  std::vector<std::string> events, payloads;  // before the World: it reports as it closes
  World w;
  w.add();
  w.engine(0).on_presence(record_presence(events));
  auto listener = presence_listener(w, payloads);

  auto a = w.connect("a", 0);
  a->close();
  w.executor->run();
  CHECK(events == std::vector<std::string>{"a+@i0", "a-@i0"});
  CHECK(payloads.empty());

  w.add();  // now another instance may listen
  w.executor->run();
  auto b = w.connect("b", 0);
  w.executor->run();
  CHECK(events == std::vector<std::string>{"a+@i0", "a-@i0", "b+@i0"});
  REQUIRE(payloads.size() == 1);
  CHECK(json::parse(payloads[0])["presence"]["user"] == "b");
  listener->stop(Done(w.executor, [](Result<void>) {}));
  w.executor->run();
}

// herald-server's setting: no instance reads relayed presence, so none is published; the
// instance's own callback and the Registry's answer are unchanged.
TEST_CASE(
    "presence: relay_presence off publishes no presence message in a cluster - the "
    "host here and presence() still see the session") {
  std::vector<std::string> events, payloads;  // before the World: it reports as it closes
  World w;
  EngineOptions quiet = World::defaults();
  quiet.relay_presence = false;
  w.add(quiet);  // i0
  w.add();       // i1: another instance that could listen
  w.engine(0).on_presence(record_presence(events));
  auto listener = presence_listener(w, payloads);

  auto a = w.connect("a", 0);
  w.executor->run();
  auto sessions =
      w.ask<std::vector<SessionRecord>>([&](auto cb) { w.engine(1).presence("a", cb); });
  REQUIRE(sessions.ok());
  REQUIRE(sessions->size() == 1);
  CHECK(sessions->at(0).instance == "i0");
  a->close();
  w.executor->run();
  CHECK(events == std::vector<std::string>{"a+@i0", "a-@i0"});
  CHECK(payloads.empty());

  auto b = w.connect("b", 1);  // i1 relays as before
  w.executor->run();
  REQUIRE(payloads.size() == 1);
  CHECK(json::parse(payloads[0])["presence"]["user"] == "b");
  listener->stop(Done(w.executor, [](Result<void>) {}));
  w.executor->run();
}

TEST_CASE("presence: the users of a crashed instance go offline with one event in the cluster") {
  std::vector<std::string> events0, events1;  // before the World: it reports as it closes
  World w;
  w.add();
  w.add();
  auto crashing = std::make_shared<HeldLocate>(w.registry);
  w.engine_registry = crashing;
  w.add();  // i2
  w.engine_registry = nullptr;
  w.engine(0).on_presence(record_presence(events0));
  w.engine(1).on_presence(record_presence(events1));
  w.executor->run();
  auto x = w.connect("x", 2);
  auto x2 = w.connect("x", 2);
  auto y = w.connect("y", 2);
  auto y0 = w.connect("y", 0);  // y stays online through instance 0
  events0.clear();
  events1.clear();

  crashing->hung = true;
  for (int i = 0; i < 6; ++i) w.executor->advance(EngineOptions{}.registry_ttl / 2);
  CHECK(events0 == std::vector<std::string>{"x-@i2"});
  CHECK(events1 == std::vector<std::string>{"x-@i2"});
  auto sessions = w.ask<std::vector<SessionRecord>>([&](auto cb) { w.engine(1).presence("y", cb); });
  REQUIRE(sessions.ok());
  REQUIRE(sessions->size() == 1);
  CHECK(sessions->at(0).instance == "i0");
}

TEST_CASE("graceful shutdown: refuse new work, drain, close with going-away, deregister") {
  World w;
  w.add();
  w.add();
  auto c = w.connect("u", 0);
  frames(*c);
  // A publish is in flight when shutdown begins: it completes and is delivered first.
  bool published = false;
  w.engine(0).publish(
      [] {
        PublishRequest r;
        r.target = Target::to_users({"u"});
        r.type = "last";
        return r;
      }(),
      [&](Result<PublishResult> r) { published = r.ok(); });
  bool stopped = false;
  w.engine(0).shutdown([&] { stopped = true; });
  w.executor->run();
  CHECK(published);
  CHECK(stopped);
  auto fs = frames(*c);
  CHECK(seqs(fs, "inbox:u") == std::vector<Seq>{1});
  CHECK(c->closed());
  CHECK(c->close_code() == CloseCode::going_away);

  auto refused = w.notify({"u"}, "{}", 0);
  CHECK(refused.status().code() == Errc::shutting_down);
  auto late = w.connect("v", 0);
  CHECK(late->closed());
  CHECK(late->close_code() == CloseCode::going_away);
  auto instances = w.ask<std::vector<InstanceId>>([&](auto cb) {
    w.registry->instances(Completion<std::vector<InstanceId>>(w.executor, cb));
  });
  CHECK(instances.value() == std::vector<InstanceId>{"i1"});
  // The other instance keeps serving; the client resumes there.
  auto again = w.connect("u", 1);
  CHECK(frames(*again)[0]["op"] == "welcome");
}

// A Store whose purge_expired answers only when the test lets it.
class HeldPurge final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void purge_expired(TimePoint, Completion<std::uint64_t> done) override {
    held.push_back(std::move(done));
  }
  std::vector<Completion<std::uint64_t>> held;
};

// A host stops its io_context once shutdown is done: a store call still out then would
// complete on the store's own thread, and its completion could hold the last reference to
// the engine (and so to the store, whose destructor joins that thread).
TEST_CASE("graceful shutdown waits for the sweep's store call") {
  World w;
  auto store = std::make_shared<HeldPurge>(w.store);
  w.engine_store = store;
  w.add();
  REQUIRE(store->held.size() == 1);  // the sweep at start
  bool stopped = false;
  w.engine(0).shutdown([&] { stopped = true; });
  w.executor->run();
  CHECK_FALSE(stopped);
  store->held.front()(std::uint64_t{0});
  store->held.clear();
  w.executor->run();
  CHECK(stopped);
}

// A Store whose reads answer only when the test lets them (once `hold` is set).
class HeldReads final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void read(StreamId s, ReadQuery q, Completion<ReadResult> done) override {
    if (!hold) return ForwardingStore::read(s, q, done);
    held.push_back(std::move(done));
  }
  bool hold = false;
  std::vector<Completion<ReadResult>> held;
};

// The same for every Store call: a host query's read is still out when shutdown begins.
TEST_CASE("graceful shutdown waits for a Store call in flight, up to shutdown_timeout") {
  for (const bool answered : {true, false}) {
    CAPTURE(answered);
    World w;
    auto store = std::make_shared<HeldReads>(w.store);
    w.engine_store = store;
    w.add();
    store->hold = true;
    std::optional<Result<HistoryPage>> page;
    HistoryQuery q;
    q.limit = 10;
    w.engine(0).history(StreamId::inbox("u"), q, [&](Result<HistoryPage> r) { page = r; });
    bool stopped = false;
    w.engine(0).shutdown([&] { stopped = true; });
    w.executor->run();
    REQUIRE(store->held.size() == 1);
    CHECK_FALSE(stopped);
    if (answered) {
      store->held.front()(ReadResult{});
      w.executor->run();
      CHECK(stopped);
      REQUIRE(page.has_value());
      CHECK(page->ok());
      continue;
    }
    w.executor->advance(w.engine(0).options().shutdown_timeout - std::chrono::milliseconds(1));
    CHECK_FALSE(stopped);
    w.executor->advance(std::chrono::milliseconds(1));
    CHECK(stopped);
    store->held.clear();  // the store never answered; its completion is dropped unrun
  }
}

TEST_CASE("authentication: the host decides the user id or rejects") {
  World w;
  Authenticator by_token = [](const Handshake& hs, std::function<void(AuthResult)> answer) {
    auto it = hs.headers.find("authorization");
    if (it != hs.headers.end() && it->second == "Bearer good") return answer(AuthResult::allow("alice"));
    answer(AuthResult::refuse("bad token"));
  };
  w.add(World::defaults(), by_token);
  Handshake good;
  good.headers["authorization"] = "Bearer good";
  good.query["userId"] = "mallory";  // ignored by this authenticator
  auto c = w.instances[0].transport->connect(good);
  w.executor->run();
  auto fs = frames(*c);
  REQUIRE_FALSE(fs.empty());
  CHECK(fs[0]["user"] == "alice");

  Handshake bad;
  bad.headers["authorization"] = "Bearer nope";
  auto r = w.instances[0].transport->connect(bad);
  w.executor->run();
  CHECK(r->closed());
  CHECK(r->close_code() == CloseCode::unauthorized);
  CHECK(r->close_reason() == "bad token");
  CHECK(w.engine().metrics().rejected.value() == 1);

  // The development authenticator needs userId.
  World w2;
  w2.add();
  auto anon = w2.connect("");
  CHECK(anon->closed());
  CHECK(anon->close_code() == CloseCode::unauthorized);
  auto weird = w2.connect("white space");
  CHECK(weird->close_code() == CloseCode::unauthorized);
}

TEST_CASE("client requests: ping, read, read_all, history and protocol errors") {
  World w;
  w.add();
  for (int i = 0; i < 4; ++i) REQUIRE(w.notify({"u"}, std::to_string(i)).ok());
  auto c = w.connect("u");
  frames(*c);
  auto ask = [&](const std::string& frame) {
    c->send(frame);
    w.executor->run();
    auto fs = frames(*c);
    REQUIRE(fs.size() == 1);
    return fs[0];
  };
  CHECK(ask(R"({"op":"ping","rid":"p"})") == json{{"op", "pong"}, {"rid", "p"}});
  json r = ask(R"({"op":"read","seqs":[1,2],"rid":"r"})");
  CHECK(r["op"] == "read");
  CHECK(r["updated"] == 2);
  r = ask(R"({"op":"history","stream":"inbox:u","limit":2,"rid":"h"})");
  CHECK(r["op"] == "history");
  REQUIRE(r["items"].size() == 2);
  CHECK(r["items"][0]["seq"] == 4);
  CHECK(r["items"][0]["data"] == 3);
  CHECK(r["items"][0]["read"] == false);
  CHECK(r["next_before"] == 3);
  r = ask(R"({"op":"history","stream":"inbox:u","before":3,"limit":5})");
  CHECK(r["items"][0]["read"] == true);
  CHECK(r["next_before"] == 0);
  r = ask(R"({"op":"read_all"})");
  CHECK(r["updated"] == 2);

  auto error_code = [&](const std::string& frame) { return ask(frame)["code"].get<std::string>(); };
  CHECK(error_code("not json") == "invalid_argument");
  CHECK(error_code("[1]") == "invalid_argument");
  CHECK(error_code(R"({"op":"fly"})") == "invalid_argument");
  CHECK(error_code(R"({"op":"ack"})") == "invalid_argument");
  CHECK(error_code(R"({"op":"ack","seq":-3})") == "invalid_argument");
  CHECK(error_code(R"({"op":"history","stream":"inbox:someone-else"})") == "not_found");
  CHECK(error_code(R"({"op":"history","stream":"nope:x"})") == "not_found");
  CHECK(error_code(R"({"op":"history","stream":"inbox:u","limit":0})") == "invalid_argument");
  CHECK(error_code(R"({"op":"history","stream":"inbox:u","limit":100000})") == "invalid_argument");
  CHECK(error_code(R"({"op":"subscribe","topic":"$broadcast"})") == "invalid_argument");
  CHECK(error_code(R"({"op":"unsubscribe","topic":"never"})") == "not_found");
  CHECK(error_code(R"({"op":"read","seqs":[]})") == "invalid_argument");
  CHECK(error_code(std::string(70 * 1024, ' ')) == "payload_too_large");
  // Still serving.
  CHECK(ask(R"({"op":"ping"})")["op"] == "pong");
}

TEST_CASE("metrics are readable by the host and render as Prometheus text") {
  World w;
  w.add();
  auto c = w.connect("u");
  frames(*c);
  REQUIRE(w.notify({"u", "v"}).ok());
  const Metrics& m = w.engine().metrics();
  CHECK(m.connections.value() == 1);
  CHECK(m.published.value() == 1);
  CHECK(m.stored.value() == 2);
  CHECK(m.delivered.value() == 1);
  CHECK(m.delivery_latency.count() == 1);
  std::string text = m.render_prometheus();
  CHECK(text.find("herald_published_total 1\n") != std::string::npos);
  CHECK(text.find("herald_connections 1\n") != std::string::npos);
  CHECK(text.find("# TYPE herald_delivery_latency_seconds histogram") != std::string::npos);
}

namespace {

// Test tokens "USER/SECONDS[/PATTERN]": the user, valid for SECONDS from now, granting the
// topics of PATTERN; from the Authorization header (as on refresh) or ?token=.
Authenticator test_tokens(std::shared_ptr<ManualExecutor> executor) {
  return [executor](const Handshake& h, std::function<void(AuthResult)> answer) {
    std::string token;
    if (auto a = h.headers.find("authorization"); a != h.headers.end())
      token = a->second.substr(std::string("Bearer ").size());
    else if (auto q = h.query.find("token"); q != h.query.end())
      token = q->second;
    std::vector<std::string> parts;
    for (std::size_t at = 0; at <= token.size();) {
      const std::size_t slash = std::min(token.find('/', at), token.size());
      parts.push_back(token.substr(at, slash - at));
      at = slash + 1;
    }
    if (parts.size() < 2 || parts[0].empty()) return answer(AuthResult::refuse("bad token"));
    AuthResult r = AuthResult::allow(parts[0]);
    r.expires_at = executor->now() + seconds(std::stoi(parts[1]));
    if (parts.size() > 2) r.topics = std::vector<std::string>{parts[2]};
    answer(r);
  };
}

}  // namespace

TEST_CASE("authorization: the token's topics and the host's authorizer decide subscribe - "
          "forbidden keeps the session open") {
  World w;
  w.add(World::defaults(), test_tokens(w.executor));
  w.engine().authorize_subscribe(
      [](const UserId& user, const std::string& topic) { return topic != "room:secret" || user == "boss"; });
  auto c = w.connect("", 0, {{"token", "alice/3600/room:*"}});
  frames(*c);
  c->send(R"({"op":"subscribe","topic":"room:1","rid":"a"})");
  c->send(R"({"op":"subscribe","topic":"lobby","rid":"b"})");
  c->send(R"({"op":"subscribe","topic":"room:secret","rid":"c"})");
  w.executor->run();
  auto fs = frames(*c);
  REQUIRE(only(fs, "subscribed").size() == 1);
  CHECK(only(fs, "subscribed")[0]["rid"] == "a");
  auto errors = only(fs, "error");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0]["rid"] == "b");
  CHECK(errors[0]["code"] == "forbidden");
  CHECK(errors[1]["rid"] == "c");
  CHECK(errors[1]["code"] == "forbidden");
  CHECK_FALSE(c->closed());
  // A token without a topics claim grants any topic; the host still decides.
  auto boss = w.connect("", 0, {{"token", "boss/3600"}});
  frames(*boss);
  boss->send(R"({"op":"subscribe","topic":"room:secret","rid":"d"})");
  w.executor->run();
  CHECK(only(frames(*boss), "subscribed").size() == 1);
  // Another user's inbox is never readable.
  c->send(R"({"op":"history","stream":"inbox:boss","rid":"h"})");
  w.executor->run();
  CHECK(only(frames(*c), "error")[0]["code"] == "not_found");
}

TEST_CASE("authorization: an expired token closes the session with 4011 after the grace - a "
          "refresh keeps it, one for another user or a bad one does not") {
  EngineOptions o = World::defaults();
  o.token_grace = seconds(5);
  World w(o);
  w.add(o, test_tokens(w.executor));
  auto kept = w.connect("", 0, {{"token", "alice/10"}});
  auto lost = w.connect("", 0, {{"token", "bob/10"}});
  frames(*kept);
  frames(*lost);
  w.executor->advance(seconds(8));
  kept->send(R"({"op":"refresh","token":"alice/60","rid":"r1"})");
  lost->send(R"({"op":"refresh","token":"alice/60","rid":"r2"})");  // another user's
  w.executor->run();
  lost->send(R"({"op":"refresh","token":"garbage","rid":"r3"})");
  w.executor->run();
  auto fs = frames(*kept);
  REQUIRE(only(fs, "refreshed").size() == 1);
  CHECK(only(fs, "refreshed")[0]["rid"] == "r1");
  CHECK(only(fs, "refreshed")[0]["expiresAt"].is_number());
  fs = frames(*lost);
  auto errors = only(fs, "error");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0]["code"] == "unauthorized");
  CHECK(errors[0]["message"] == "refresh refused: the token is for another user");
  CHECK(errors[1]["code"] == "unauthorized");

  w.executor->advance(seconds(6));  // 14 s: bob expired at 10 s, his grace lasts to 15 s
  CHECK_FALSE(lost->closed());
  w.executor->advance(seconds(2));  // 16 s
  CHECK(lost->closed());
  CHECK(lost->close_code() == CloseCode::token_expired);
  CHECK_FALSE(kept->closed());
  w.executor->advance(seconds(60));  // alice's refreshed token (68 s) + grace
  CHECK(kept->closed());
  CHECK(kept->close_code() == CloseCode::token_expired);
}
