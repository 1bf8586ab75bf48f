// Registry conformance suite: the Registry contract (include/herald/registry.hpp), run
// against every Registry backend. Each case starts from a fresh, empty registry. TTLs pass
// only through fixture().expire(), which may really wait on a server backend: the cases
// use long TTLs for instances that must stay alive and short ones only where expiry is
// the point.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/registry.hpp"

namespace herald::conformance {
namespace {

using namespace std::chrono_literals;

constexpr Duration kLong = 10min;  // outlives any case, however slow the backend

class RegistryCase {
 public:
  RegistryCase() : registry(fixture().make_registry()) {
    REQUIRE_MESSAGE(static_cast<bool>(registry), "make_registry() gave null");
  }

  Harness h;  // before `registry`: destroyed after it
  std::shared_ptr<Registry> registry;

  std::vector<Departure> heartbeat(const InstanceId& instance, Duration ttl = kLong) {
    return ok_value(h.wait<std::vector<Departure>>(
                        [&](auto done) { registry->heartbeat(instance, ttl, done); }, "heartbeat"),
                    "heartbeat");
  }
  // Yields the users whose last session went with the instance.
  std::vector<Departure> remove_instance(const InstanceId& instance) {
    return ok_value(h.wait<std::vector<Departure>>(
                        [&](auto done) { registry->remove_instance(instance, done); },
                        "remove_instance"),
                    "remove_instance");
  }
  // Yields true if it was the user's first session in the registry.
  bool add(const SessionId& session, const UserId& user, const InstanceId& instance) {
    return ok_value(h.wait<bool>([&](auto done) {
                      registry->add_session(record(session, user, instance), done);
                    }, "add_session"),
                    "add_session");
  }
  // Yields true if it was the user's last session in the registry.
  bool remove(const SessionId& session, const UserId& user, const InstanceId& instance) {
    return ok_value(h.wait<bool>([&](auto done) {
                      registry->remove_session(record(session, user, instance), done);
                    }, "remove_session"),
                    "remove_session");
  }
  std::vector<Location> locate(std::vector<UserId> users) {
    return ok_value(
        h.wait<std::vector<Location>>([&](auto done) { registry->locate(users, done); }, "locate"),
        "locate");
  }
  // Sessions of a user, sorted by session id (the contract does not fix their order).
  std::vector<SessionRecord> sessions(const UserId& user) {
    auto out = ok_value(h.wait<std::vector<SessionRecord>>(
                            [&](auto done) { registry->sessions(user, done); }, "sessions"),
                        "sessions");
    std::sort(out.begin(), out.end(),
              [](const SessionRecord& a, const SessionRecord& b) { return a.session < b.session; });
    return out;
  }
  std::vector<SessionId> session_ids(const UserId& user) {
    std::vector<SessionId> ids;
    for (const SessionRecord& s : sessions(user)) ids.push_back(s.session);
    return ids;
  }
  std::vector<InstanceId> instances() {
    return ok_value(
        h.wait<std::vector<InstanceId>>([&](auto done) { registry->instances(done); }, "instances"),
        "instances");
  }
  void report_load(const InstanceId& instance, const InstanceLoad& load) {
    require_ok(h.wait<void>([&](auto done) { registry->report_load(instance, load, done); },
                            "report_load"),
               "report_load");
  }
  std::vector<InstanceStatus> instance_loads() {
    return ok_value(h.wait<std::vector<InstanceStatus>>(
                        [&](auto done) { registry->instance_loads(done); }, "instance_loads"),
                    "instance_loads");
  }

  static SessionRecord record(const SessionId& session, const UserId& user,
                              const InstanceId& instance) {
    SessionRecord r;
    r.session = session;
    r.user = user;
    r.instance = instance;
    r.connected_at = t0;
    return r;
  }
};

using Pairs = std::vector<std::pair<UserId, InstanceId>>;

Pairs as_pairs(const std::vector<Departure>& ds) {
  Pairs out;
  for (const Departure& d : ds) out.emplace_back(d.user, d.instance);
  std::sort(out.begin(), out.end());
  return out;
}

Pairs pairs(const std::vector<Location>& locations) {
  Pairs out;
  for (const Location& l : locations) out.emplace_back(l.user, l.instance);
  return out;
}

// Locations as (user, instance) pairs with the instances of each user sorted: locate keeps
// the order of the users asked for, not of one user's instances.
Pairs pairs_by_user(const std::vector<Location>& locations) {
  Pairs out = pairs(locations);
  for (auto first = out.begin(); first != out.end();) {
    auto last =
        std::find_if(first, out.end(), [&](const auto& p) { return p.first != first->first; });
    std::sort(first, last);
    first = last;
  }
  return out;
}

}  // namespace

TEST_CASE("Registry: heartbeated instances are live and listed in ascending order") {
  if (!have_registry()) return;
  RegistryCase c;
  CHECK(c.instances().empty());
  c.heartbeat("node-b");
  c.heartbeat("node-a");
  c.heartbeat("node-c");
  c.heartbeat("node-a");  // again: still one instance
  CHECK(c.instances() == std::vector<InstanceId>{"node-a", "node-b", "node-c"});
}

TEST_CASE("Registry: an added session is visible in sessions and locate") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1");
  c.add("s1", "alice", "i1");

  const std::vector<SessionRecord> s = c.sessions("alice");
  REQUIRE(s.size() == 1);
  CHECK(s[0].session == "s1");
  CHECK(s[0].user == "alice");
  CHECK(s[0].instance == "i1");
  CHECK(s[0].connected_at == t0);
  CHECK(pairs(c.locate({"alice"})) == Pairs{{"alice", "i1"}});
  CHECK(c.sessions("bob").empty());
}

TEST_CASE("Registry: locate yields one Location per (user, instance), in the order asked") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1");
  c.heartbeat("i2");
  c.add("a1", "alice", "i1");
  c.add("a2", "alice", "i1");  // second session on the same instance: still one Location
  c.add("a3", "alice", "i2");
  c.add("b1", "bob", "i2");
  c.add("d1", "dan", "i1");

  CHECK(pairs_by_user(c.locate({"bob", "carol", "alice"})) ==
        Pairs{{"bob", "i2"}, {"alice", "i1"}, {"alice", "i2"}});
  CHECK(pairs_by_user(c.locate({"alice", "bob"})) ==
        Pairs{{"alice", "i1"}, {"alice", "i2"}, {"bob", "i2"}});
  CHECK(c.locate({"carol"}).empty());
  CHECK(c.locate({}).empty());
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"a1", "a2", "a3"});
}

TEST_CASE("Registry: remove_session forgets a session and is idempotent") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1");
  c.add("s1", "alice", "i1");
  c.add("s2", "alice", "i1");

  c.remove("s1", "alice", "i1");
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"s2"});
  CHECK(pairs(c.locate({"alice"})) == Pairs{{"alice", "i1"}});
  c.remove("s1", "alice", "i1");  // again: no error, no change
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"s2"});
  c.remove("s2", "alice", "i1");
  CHECK(c.sessions("alice").empty());
  CHECK(c.locate({"alice"}).empty());
  c.remove("never-added", "nobody", "i1");
  CHECK(c.instances() == std::vector<InstanceId>{"i1"});  // sessions do not own instances
}

TEST_CASE("Registry: remove_instance removes the instance and all its sessions") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1");
  c.heartbeat("i2");
  c.add("a1", "alice", "i1");
  c.add("a2", "alice", "i2");
  c.add("b1", "bob", "i1");

  c.remove_instance("i1");
  CHECK(c.instances() == std::vector<InstanceId>{"i2"});
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"a2"});
  CHECK(c.sessions("bob").empty());
  CHECK(pairs_by_user(c.locate({"alice", "bob"})) == Pairs{{"alice", "i2"}});
  c.remove_instance("i1");  // unknown now: no error
  CHECK(c.instances() == std::vector<InstanceId>{"i2"});

  // The sessions went with the instance: restarting under the same id does not revive them.
  c.heartbeat("i1");
  CHECK(c.instances() == std::vector<InstanceId>{"i1", "i2"});
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"a2"});
  CHECK(c.sessions("bob").empty());
}

// alone() is a hint the engine acts on (it skips locate() when true): false is always
// allowed, true only when locate() could find no instance but the asker.
TEST_CASE("Registry: alone() is never true while another instance is live") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("a");
  c.heartbeat("b", 1s);
  c.add("s1", "alice", "b");
  CHECK_FALSE(c.registry->alone("a"));
  CHECK_FALSE(c.registry->alone("b"));
  CHECK_FALSE(c.registry->alone("c"));
  fixture().expire(1500ms);
  if (c.registry->alone("a")) CHECK(c.locate({"alice"}).empty());
}

TEST_CASE("Registry: an instance that stops heartbeating expires with its sessions") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("short", 1s);
  c.heartbeat("long");
  c.add("s1", "alice", "short");
  c.add("s2", "alice", "long");
  c.add("s3", "bob", "short");
  CHECK(c.instances() == std::vector<InstanceId>{"long", "short"});

  fixture().expire(1500ms);
  CHECK(c.instances() == std::vector<InstanceId>{"long"});
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"s2"});
  CHECK(c.sessions("bob").empty());
  CHECK(pairs_by_user(c.locate({"alice", "bob"})) == Pairs{{"alice", "long"}});
}

TEST_CASE("Registry: users left without a session by an expired instance are reported once, "
          "to one heartbeat") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("short", 1s);
  CHECK(c.heartbeat("long").empty());
  c.add("s1", "alice", "short");
  c.add("s2", "alice", "long");  // alice stays online
  c.add("s3", "bob", "short");
  c.add("s4", "bob", "short");   // two sessions: one departure
  c.add("s5", "carol", "short");
  fixture().expire(1500ms);
  CHECK(c.instances() == std::vector<InstanceId>{"long"});

  CHECK(as_pairs(c.heartbeat("long")) == Pairs{{"bob", "short"}, {"carol", "short"}});
  // Reported once: neither this instance's next heartbeat nor another's gets them again.
  CHECK(c.heartbeat("long").empty());
  CHECK(c.heartbeat("third").empty());
  // A graceful removal reports its departures to its caller, not to a heartbeat.
  c.add("s6", "dave", "third");
  CHECK(as_pairs(c.remove_instance("third")) == Pairs{{"dave", "third"}});
  CHECK(c.heartbeat("long").empty());
}

TEST_CASE("Registry: add_session and remove_session report the first and the last session "
          "of a user across instances") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1");
  c.heartbeat("i2");
  CHECK(c.add("a1", "alice", "i1"));        // 0 -> 1
  CHECK_FALSE(c.add("a2", "alice", "i2"));  // another instance: not the first
  CHECK_FALSE(c.add("a3", "alice", "i1"));
  CHECK_FALSE(c.add("a1", "alice", "i1"));  // re-added (re-registration): not the first
  CHECK(c.add("b1", "bob", "i2"));
  CHECK_FALSE(c.remove("a1", "alice", "i1"));
  CHECK_FALSE(c.remove("a2", "alice", "i2"));
  CHECK(c.remove("a3", "alice", "i1"));           // 1 -> 0
  CHECK_FALSE(c.remove("a3", "alice", "i1"));     // again: no such session, no transition
  CHECK_FALSE(c.remove("never", "nobody", "i1"));
  CHECK(c.add("a4", "alice", "i2"));              // online again
  // bob's last session goes with its instance: reported by remove_instance, once.
  CHECK(as_pairs(c.remove_instance("i2")) == Pairs{{"alice", "i2"}, {"bob", "i2"}});
  CHECK(c.remove_instance("i2").empty());
  CHECK_FALSE(c.remove("b1", "bob", "i2"));
}

TEST_CASE("Registry: a user with sessions on two expired instances departs once") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("d1", 1s);
  c.heartbeat("d2", 1s);
  CHECK(c.add("s1", "alice", "d1"));
  CHECK_FALSE(c.add("s2", "alice", "d2"));
  fixture().expire(1500ms);
  const std::vector<Departure> gone = c.heartbeat("live");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].user == "alice");
  CHECK(c.heartbeat("live").empty());
  CHECK(c.add("s3", "alice", "live"));  // online again after the departure
}

TEST_CASE("Registry: a session recorded while an expired instance waits for collection "
          "keeps the transitions paired") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("dying", 1s);
  c.heartbeat("other");
  CHECK(c.add("s1", "alice", "dying"));
  fixture().expire(1500ms);
  // A backend may collect "dying" here (then alice departed and s2 is a new arrival) or at
  // the next heartbeat (then alice never left): either way one offline per online.
  const bool arrived = c.add("s2", "alice", "other");
  std::vector<Departure> gone = c.heartbeat("other");
  const std::vector<Departure> more = c.heartbeat("other");
  gone.insert(gone.end(), more.begin(), more.end());
  CHECK(gone.size() == (arrived ? 1u : 0u));
  CHECK(c.remove("s2", "alice", "other"));
}

TEST_CASE("Registry: heartbeats keep an instance and its sessions alive past one TTL") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1", 2s);
  c.add("s1", "alice", "i1");
  fixture().expire(1200ms);
  c.heartbeat("i1", 2s);
  fixture().expire(1200ms);  // 2.4 s since the first heartbeat, 1.2 s since the last
  CHECK(c.instances() == std::vector<InstanceId>{"i1"});
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"s1"});
  CHECK(pairs(c.locate({"alice"})) == Pairs{{"alice", "i1"}});
}

TEST_CASE("Registry: sessions of an expired instance do not come back with a new heartbeat") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i1", 1s);
  c.add("s1", "alice", "i1");
  fixture().expire(1500ms);
  CHECK(c.instances().empty());

  // The instance restarts under the same id: its old sessions were dead connections.
  c.heartbeat("i1");
  CHECK(c.instances() == std::vector<InstanceId>{"i1"});
  CHECK(c.sessions("alice").empty());
  CHECK(c.locate({"alice"}).empty());
  c.add("s2", "alice", "i1");
  CHECK(c.session_ids("alice") == std::vector<SessionId>{"s2"});
}

// ---- instance loads ----

namespace {

InstanceLoad load_of(std::uint64_t sessions, std::uint64_t queued_bytes, Duration reported) {
  return InstanceLoad{sessions, sessions + 1, queued_bytes, t0, t0 + reported};
}

// The fields of a load as text, so that a mismatch prints readably.
std::string text(const InstanceLoad& l) {
  return std::to_string(l.sessions) + "/" + std::to_string(l.connections) + "/" +
         std::to_string(l.queued_bytes) + "/" + std::to_string(to_unix_ms(l.started_at)) + "/" +
         std::to_string(to_unix_ms(l.reported_at));
}

std::vector<std::pair<InstanceId, std::string>> texts(const std::vector<InstanceStatus>& all) {
  std::vector<std::pair<InstanceId, std::string>> out;
  for (const InstanceStatus& s : all) out.emplace_back(s.instance, text(s.load));
  return out;
}

}  // namespace

TEST_CASE("Registry: instance_loads lists live instances with their last reported load") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("i2");
  c.heartbeat("i1");
  c.report_load("i2", load_of(3, 1'000, 5s));
  c.report_load("i2", load_of(5, 2'048, 8s));  // replaces the first
  c.report_load("ghost", load_of(9, 9, 9s));   // not live: not kept
  using Rows = std::vector<std::pair<InstanceId, std::string>>;
  CHECK(texts(c.instance_loads()) ==
        Rows{{"i1", text(InstanceLoad{})}, {"i2", text(load_of(5, 2'048, 8s))}});

  c.heartbeat("ghost");  // live now, and without the report it sent before
  CHECK(texts(c.instance_loads()) == Rows{{"ghost", text(InstanceLoad{})},
                                          {"i1", text(InstanceLoad{})},
                                          {"i2", text(load_of(5, 2'048, 8s))}});
}

TEST_CASE("Registry: a load goes with its instance - removed or expired") {
  if (!have_registry()) return;
  RegistryCase c;
  c.heartbeat("stays");
  c.heartbeat("leaves");
  c.heartbeat("dies", 1s);
  for (const char* i : {"stays", "leaves", "dies"}) c.report_load(i, load_of(2, 64, 1s));
  c.remove_instance("leaves");
  fixture().expire(1500ms);
  using Rows = std::vector<std::pair<InstanceId, std::string>>;
  CHECK(texts(c.instance_loads()) == Rows{{"stays", text(load_of(2, 64, 1s))}});

  c.heartbeat("stays");  // collects the expired instance
  c.heartbeat("leaves");
  c.heartbeat("dies");   // both come back without the load of their previous life
  CHECK(texts(c.instance_loads()) == Rows{{"dies", text(InstanceLoad{})},
                                          {"leaves", text(InstanceLoad{})},
                                          {"stays", text(load_of(2, 64, 1s))}});
}

}  // namespace herald::conformance
