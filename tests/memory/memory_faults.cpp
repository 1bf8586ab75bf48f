// Tests of what only the in-memory backends have: fault switches, lossy and resetting
// brokers, the store's epoch, and lifetime corner cases of the broker hub.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/memory.hpp"

namespace herald::conformance {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const Notification> note(NotificationId id, std::string key = {}) {
  auto n = std::make_shared<Notification>();
  n->id = id;
  n->type = "test.note";
  n->created_at = t0;
  n->idempotency_key = std::move(key);
  return n;
}

// Every append here remembers its idempotency key for 10 minutes.
AppendRequest request(std::vector<StreamId> streams, std::shared_ptr<const Notification> n) {
  return append_request(std::move(streams), std::move(n), 10min);
}

ReadQuery all() {
  ReadQuery q;
  q.now = t0;
  return q;
}

// Requires `r` to be the fault switch's answer.
template <class T>
void check_unavailable(const Result<T>& r, const std::string& message, const char* call) {
  INFO("call: " << call);
  CHECK(r.status().code() == Errc::unavailable);
  CHECK(r.status().message() == message);
}

using Payloads = std::vector<std::string>;

}  // namespace

// ---- MemoryStore ----

TEST_CASE("MemoryStore: the fault switch makes every call unavailable and changes nothing") {
  Harness h;
  auto store = MemoryStore::create();
  const StreamId inbox = StreamId::inbox("alice");
  auto first = note(1, "key");
  ok_value(h.wait<AppendResult>([&](auto d) { store->append(request({inbox}, first), d); }), "");
  ok_value(h.wait<bool>([&](auto d) { store->subscribe("alice", "cats", d); }), "");
  ok_value(h.wait<Seq>([&](auto d) { store->advance_ack_cursor("alice", 1, d); }), "");
  DeadLetter letter;
  letter.user = "alice";
  letter.seq = 1;
  letter.at = t0;
  require_ok(h.wait<void>([&](auto d) { store->add_dead_letter(letter, d); }), "");

  store->set_available(false);
  const std::string m = "memory store is unavailable (fault switch)";
  check_unavailable(h.wait<AppendResult>([&](auto d) {
    store->append(request({inbox, StreamId::topic("t")}, note(2, "other")), d);
  }),
                    m, "append");
  check_unavailable(h.wait<ReadResult>([&](auto d) { store->read(inbox, all(), d); }), m, "read");
  check_unavailable(h.wait<InboxState>([&](auto d) { store->inbox_state("alice", t0, d); }), m,
                    "inbox_state");
  check_unavailable(h.wait<std::uint64_t>([&](auto d) { store->mark_read("alice", {}, d); }), m,
                    "mark_read");
  check_unavailable(h.wait<std::uint64_t>([&](auto d) { store->remove("alice", {1}, d); }), m,
                    "remove");
  check_unavailable(h.wait<Seq>([&](auto d) { store->advance_ack_cursor("alice", 9, d); }), m,
                    "advance_ack_cursor");
  check_unavailable(h.wait<bool>([&](auto d) { store->subscribe("bob", "cats", d); }), m,
                    "subscribe");
  check_unavailable(h.wait<bool>([&](auto d) { store->unsubscribe("alice", "cats", d); }), m,
                    "unsubscribe");
  check_unavailable(
      h.wait<std::vector<UserId>>([&](auto d) { store->subscribers("cats", "", 10, d); }), m,
      "subscribers");
  check_unavailable(
      h.wait<std::vector<std::string>>([&](auto d) { store->subscriptions("alice", "", 10, d); }),
      m, "subscriptions");
  check_unavailable(h.wait<void>([&](auto d) { store->add_dead_letter(letter, d); }), m,
                    "add_dead_letter");
  check_unavailable(
      h.wait<std::vector<DeadLetter>>([&](auto d) { store->dead_letters("alice", 0, 10, d); }), m,
      "dead_letters");
  check_unavailable(h.wait<bool>([&](auto d) { store->remove_dead_letter("alice", 1, d); }), m,
                    "remove_dead_letter");
  check_unavailable(h.wait<std::uint64_t>([&](auto d) { store->purge_expired(t0 + 1h, d); }), m,
                    "purge_expired");

  store->set_available(true);
  const ReadResult r =
      ok_value(h.wait<ReadResult>([&](auto d) { store->read(inbox, all(), d); }, "read"), "read");
  CHECK(r.info.head == 1);
  REQUIRE(r.entries.size() == 1);
  CHECK_FALSE(r.entries[0].read);
  const ReadResult topic = ok_value(
      h.wait<ReadResult>([&](auto d) { store->read(StreamId::topic("t"), all(), d); }, "read"),
      "read");
  CHECK(topic.info.head == 0);
  const InboxState s = ok_value(
      h.wait<InboxState>([&](auto d) { store->inbox_state("alice", t0, d); }, "state"), "state");
  CHECK(s.ack_cursor == 1);
  CHECK(s.unread == 1);
  CHECK(ok_value(h.wait<std::vector<UserId>>([&](auto d) { store->subscribers("cats", "", 10, d); },
                                             "subscribers"),
                 "subscribers") == std::vector<UserId>{"alice"});
  CHECK(ok_value(h.wait<std::vector<DeadLetter>>(
                     [&](auto d) { store->dead_letters("alice", 0, 10, d); }, "dead_letters"),
                 "dead_letters")
            .size() == 1);
  // The key "other" was not recorded while unavailable; "key" still points at the first.
  CHECK_FALSE(
      ok_value(h.wait<AppendResult>(
                   [&](auto d) { store->append(request({inbox}, note(3, "other")), d); }, "append"),
               "append")
          .duplicate);
  const AppendResult dup =
      ok_value(h.wait<AppendResult>(
                   [&](auto d) { store->append(request({inbox}, note(4, "key")), d); }, "append"),
               "append");
  CHECK(dup.duplicate);
  CHECK(dup.id == 1);
}

TEST_CASE("MemoryStore: every stream has the store's random nonzero epoch") {
  Harness h;
  auto one = MemoryStore::create();
  auto two = MemoryStore::create();
  CHECK(one->epoch() != 0);
  CHECK(two->epoch() != 0);
  CHECK(one->epoch() != two->epoch());  // a new store is a store whose history was lost

  const AppendResult r =
      ok_value(h.wait<AppendResult>(
                   [&](auto d) {
                     one->append(request({StreamId::inbox("a"), StreamId::topic("b")}, note(1)), d);
                   },
                   "append"),
               "append");
  REQUIRE(r.positions.size() == 2);
  CHECK(r.positions[0].epoch == one->epoch());
  CHECK(r.positions[1].epoch == one->epoch());
  const ReadResult empty = ok_value(
      h.wait<ReadResult>([&](auto d) { two->read(StreamId::inbox("a"), all(), d); }, "read"),
      "read");
  CHECK(empty.info.epoch == two->epoch());
}

TEST_CASE("MemoryStore: the notification is shared by its streams, not copied") {
  Harness h;
  auto store = MemoryStore::create();
  auto n = note(1);
  ok_value(h.wait<AppendResult>(
               [&](auto d) {
                 store->append(request({StreamId::inbox("a"), StreamId::inbox("b")}, n), d);
               },
               "append"),
           "append");
  for (const char* user : {"a", "b"}) {
    const ReadResult r = ok_value(
        h.wait<ReadResult>([&](auto d) { store->read(StreamId::inbox(user), all(), d); }, "read"),
        "read");
    REQUIRE(r.entries.size() == 1);
    CHECK(r.entries[0].notification.get() == n.get());
  }
}

TEST_CASE("MemoryStore: an append without a notification is invalid_argument") {
  Harness h;
  auto store = MemoryStore::create();
  const Result<AppendResult> r = h.wait<AppendResult>(
      [&](auto d) { store->append(request({StreamId::inbox("a")}, nullptr), d); });
  CHECK(r.status().code() == Errc::invalid_argument);
}

// ---- MemoryRegistry ----

TEST_CASE("MemoryRegistry: the fault switch makes every call unavailable and changes nothing") {
  Harness h;
  auto registry = MemoryRegistry::create([] { return t0; });
  SessionRecord session;
  session.session = "s1";
  session.user = "alice";
  session.instance = "i1";
  ok_value(h.wait<std::vector<Departure>>([&](auto d) { registry->heartbeat("i1", 30s, d); }),
           "heartbeat");
  ok_value(h.wait<bool>([&](auto d) { registry->add_session(session, d); }, "add_session"),
           "add_session");

  registry->set_available(false);
  const std::string m = "memory registry is unavailable (fault switch)";
  SessionRecord other = session;
  other.session = "s2";
  check_unavailable(
      h.wait<std::vector<Departure>>([&](auto d) { registry->heartbeat("i2", 30s, d); }), m,
                    "heartbeat");
  check_unavailable(h.wait<bool>([&](auto d) { registry->add_session(other, d); }), m,
                    "add_session");
  check_unavailable(h.wait<bool>([&](auto d) { registry->remove_session(session, d); }), m,
                    "remove_session");
  check_unavailable(
      h.wait<std::vector<Departure>>([&](auto d) { registry->remove_instance("i1", d); }), m,
      "remove_instance");
  check_unavailable(h.wait<std::vector<Location>>([&](auto d) { registry->locate({"alice"}, d); }),
                    m, "locate");
  check_unavailable(
      h.wait<std::vector<SessionRecord>>([&](auto d) { registry->sessions("alice", d); }), m,
      "sessions");
  check_unavailable(h.wait<std::vector<InstanceId>>([&](auto d) { registry->instances(d); }), m,
                    "instances");

  registry->set_available(true);
  CHECK(ok_value(h.wait<std::vector<InstanceId>>([&](auto d) { registry->instances(d); }), "") ==
        std::vector<InstanceId>{"i1"});
  const auto sessions = ok_value(
      h.wait<std::vector<SessionRecord>>([&](auto d) { registry->sessions("alice", d); }), "");
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].session == "s1");
}

TEST_CASE("MemoryRegistry: a session added before its instance's first heartbeat waits for it") {
  Harness h;
  auto registry = MemoryRegistry::create([] { return t0; });
  SessionRecord session;
  session.session = "s1";
  session.user = "alice";
  session.instance = "early";
  ok_value(h.wait<bool>([&](auto d) { registry->add_session(session, d); }, "add_session"),
           "add_session");
  CHECK(ok_value(h.wait<std::vector<Location>>([&](auto d) { registry->locate({"alice"}, d); },
                                               "locate"),
                 "locate")
            .empty());
  CHECK(ok_value(h.wait<std::vector<SessionRecord>>([&](auto d) { registry->sessions("alice", d); },
                                                    "sessions"),
                 "sessions")
            .empty());
  ok_value(h.wait<std::vector<Departure>>([&](auto d) { registry->heartbeat("early", 30s, d); }),
           "heartbeat");
  const auto located = ok_value(
      h.wait<std::vector<Location>>([&](auto d) { registry->locate({"alice"}, d); }, "locate"),
      "locate");
  REQUIRE(located.size() == 1);
  CHECK(located[0].instance == "early");
}

// In one process the registry knows every instance: alone() is exact (the engine then
// skips its lookups, publish.cpp locate_ahead).
TEST_CASE("MemoryRegistry: alone() is true while the asker is the only live instance") {
  Harness h;
  TimePoint now = t0;
  auto registry = MemoryRegistry::create([&now] { return now; });
  auto heartbeat = [&](const InstanceId& i, Duration ttl) {
    ok_value(h.wait<std::vector<Departure>>([&](auto d) { registry->heartbeat(i, ttl, d); }),
             "heartbeat");
  };
  CHECK(registry->alone("i1"));  // nobody yet
  heartbeat("i1", 30s);
  CHECK(registry->alone("i1"));
  CHECK_FALSE(registry->alone("i2"));
  heartbeat("i2", 10s);
  CHECK_FALSE(registry->alone("i1"));
  now += 11s;  // i2 expired (not collected yet: locate skips it already)
  CHECK(registry->alone("i1"));
  registry->set_available(false);  // locate would fail: the engine must see the failure
  CHECK_FALSE(registry->alone("i1"));
}

TEST_CASE("MemoryRegistry: setup errors throw herald::Error") {
  CHECK_THROWS_AS(MemoryRegistry::create(std::function<TimePoint()>()), Error);
}

// ---- MemoryBrokerHub ----

namespace {

struct Node {
  std::unique_ptr<Broker> broker;
  Recorder recorder;
};

std::unique_ptr<Node> started(Harness& h, MemoryBrokerHub& hub) {
  auto n = std::make_unique<Node>();
  n->broker = hub.make_broker(h.executor());
  const BrokerEvents events = n->recorder.events();
  require_ok(h.wait<void>([&](auto d) { n->broker->start(events, d); }, "start"), "start");
  return n;
}

void subscribe(Harness& h, Node& n, const std::string& channel) {
  require_ok(h.wait<void>([&](auto d) { n.broker->subscribe(channel, d); }, "subscribe"),
             "subscribe");
}

void publish(Harness& h, Node& n, const std::string& channel, const std::string& payload) {
  require_ok(h.wait<void>([&](auto d) { n.broker->publish(channel, payload, d); }, "publish"),
             "publish");
}

}  // namespace

TEST_CASE("MemoryBrokerHub: the fault switch fails start, subscribe, unsubscribe and publish") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  subscribe(h, *a, "ch");

  hub->set_available(false);
  const std::string m = "memory broker is unavailable (fault switch)";
  auto fresh = hub->make_broker(h.executor());
  Recorder fresh_recorder;
  check_unavailable(h.wait<void>([&](auto d) { fresh->start(fresh_recorder.events(), d); }), m,
                    "start");
  check_unavailable(h.wait<void>([&](auto d) { a->broker->subscribe("other", d); }), m,
                    "subscribe");
  check_unavailable(h.wait<void>([&](auto d) { a->broker->unsubscribe("ch", d); }), m,
                    "unsubscribe");
  check_unavailable(h.wait<void>([&](auto d) { a->broker->publish("ch", "lost", d); }), m,
                    "publish");
  h.poll();
  CHECK(a->recorder.messages().empty());

  hub->set_available(true);
  // Nothing changed while unavailable: still subscribed to "ch", not to "other".
  publish(h, *a, "other", "o1");
  publish(h, *a, "ch", "c1");
  a->recorder.wait_for(h, "ch", "c1");
  CHECK(a->recorder.payloads("ch") == Payloads{"c1"});
  CHECK(a->recorder.payloads("other").empty());
  // start can be retried after it failed.
  require_ok(h.wait<void>([&](auto d) { fresh->start(fresh_recorder.events(), d); }, "start"),
             "start");
}

TEST_CASE("MemoryBrokerHub: stop succeeds even while the hub is unavailable") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  subscribe(h, *a, "ch");
  subscribe(h, *b, "ch");
  hub->set_available(false);
  require_ok(h.wait<void>([&](auto d) { b->broker->stop(d); }, "stop"), "stop");
  hub->set_available(true);
  publish(h, *a, "ch", "m1");
  a->recorder.wait_for(h, "ch", "m1");
  h.poll();
  CHECK(b->recorder.messages().empty());
}

TEST_CASE("MemoryBrokerHub: drop_next(n) silently drops exactly the next n deliveries") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  subscribe(h, *a, "ch");
  subscribe(h, *b, "ch");

  hub->drop_next(3);  // of the 6 deliveries of m1..m3, the first 3
  publish(h, *a, "ch", "m1");
  publish(h, *a, "ch", "m2");
  publish(h, *a, "ch", "m3");
  a->recorder.wait_for(h, "ch", "m3");
  b->recorder.wait_for(h, "ch", "m3");
  h.poll();
  CHECK(a->recorder.messages().size() + b->recorder.messages().size() == 3);
  CHECK(a->recorder.payloads("ch").front() != "m1");
  CHECK(b->recorder.payloads("ch").front() != "m1");

  // The count is used up: nothing more is dropped.
  publish(h, *b, "ch", "m4");
  a->recorder.wait_for(h, "ch", "m4");
  b->recorder.wait_for(h, "ch", "m4");

  // drop_next(0) cancels a pending count.
  hub->drop_next(5);
  hub->drop_next(0);
  publish(h, *a, "ch", "m5");
  a->recorder.wait_for(h, "ch", "m5");
  b->recorder.wait_for(h, "ch", "m5");
}

TEST_CASE("MemoryBrokerHub: reset_all reports on_reset to every started broker") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  auto stopped = started(h, *hub);
  require_ok(h.wait<void>([&](auto d) { stopped->broker->stop(d); }, "stop"), "stop");
  auto never_started = hub->make_broker(h.executor());

  hub->reset_all();
  h.run_until([&] { return a->recorder.resets() == 1 && b->recorder.resets() == 1; },
              "on_reset of both started brokers");
  h.poll();
  CHECK(a->recorder.resets() == 1);
  CHECK(b->recorder.resets() == 1);
  CHECK(stopped->recorder.resets() == 0);
  CHECK(a->recorder.messages().empty());
}

TEST_CASE("MemoryBrokerHub: deliveries queued before stop are not reported") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  subscribe(h, *a, "ch");
  subscribe(h, *b, "ch");

  // Nothing runs until the harness does: the deliveries of m1 and m2 are queued.
  a->broker->publish("ch", "m1", Done(h.executor(), [](Result<void>) {}));
  a->broker->publish("ch", "m2", Done(h.executor(), [](Result<void>) {}));
  require_ok(h.wait<void>([&](auto d) { b->broker->stop(d); }, "stop"), "stop");
  a->recorder.wait_for(h, "ch", "m2");
  h.poll();
  CHECK(b->recorder.messages().empty());
  CHECK(a->recorder.payloads("ch") == Payloads{"m1", "m2"});
}

TEST_CASE("MemoryBrokerHub: a broker destroyed with deliveries queued reports nothing") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  subscribe(h, *a, "ch");
  subscribe(h, *b, "ch");
  a->broker->publish("ch", "m1", Done(h.executor(), [](Result<void>) {}));
  b->broker.reset();  // its delivery of m1 is still queued
  a->recorder.wait_for(h, "ch", "m1");
  h.poll();
  CHECK(b->recorder.messages().empty());

  // The destroyed broker is gone from the hub: publishing reaches only a.
  publish(h, *a, "ch", "m2");
  a->recorder.wait_for(h, "ch", "m2");
  CHECK(b->recorder.messages().empty());
}

TEST_CASE("MemoryBrokerHub: brokers keep working after the host dropped the hub") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto a = started(h, *hub);
  auto b = started(h, *hub);
  hub.reset();
  subscribe(h, *b, "ch");
  publish(h, *a, "ch", "m1");
  b->recorder.wait_for(h, "ch", "m1");
  a.reset();
  b.reset();
}

TEST_CASE("MemoryBrokerHub: calls before start or after stop are refused") {
  Harness h;
  auto hub = MemoryBrokerHub::create();
  auto fresh = hub->make_broker(h.executor());
  CHECK(h.wait<void>([&](auto d) { fresh->subscribe("ch", d); }).status().code() ==
        Errc::invalid_argument);
  CHECK(h.wait<void>([&](auto d) { fresh->publish("ch", "x", d); }).status().code() ==
        Errc::invalid_argument);

  auto a = started(h, *hub);
  CHECK(h.wait<void>([&](auto d) { a->broker->start(a->recorder.events(), d); }).status().code() ==
        Errc::invalid_argument);
  require_ok(h.wait<void>([&](auto d) { a->broker->stop(d); }, "stop"), "stop");
  require_ok(h.wait<void>([&](auto d) { a->broker->stop(d); }, "stop again"), "stop again");
  CHECK(h.wait<void>([&](auto d) { a->broker->subscribe("ch", d); }).status().code() ==
        Errc::shutting_down);
  CHECK(h.wait<void>([&](auto d) { a->broker->publish("ch", "x", d); }).status().code() ==
        Errc::shutting_down);
  CHECK_THROWS_AS(hub->make_broker(nullptr), Error);
}

}  // namespace herald::conformance
