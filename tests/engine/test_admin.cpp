// Administration (src/engine/admin.cpp): disconnecting a user on every instance, the
// topics with their subscriber counts, the instances with the load of their last heartbeat.
// Two engines share the in-memory Store, Registry and Broker hub as two instances.

#include <string>
#include <vector>

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

Result<DisconnectResult> disconnect(World& w, const UserId& user, const std::string& reason,
                                    std::size_t on = 0) {
  return w.ask<DisconnectResult>(
      [&](auto done) { w.engine(on).disconnect(user, reason, std::move(done)); });
}

bool closed_by_admin(const InProcClient& c, const std::string& reason) {
  return c.closed() && c.close_code() == CloseCode::disconnected && c.close_reason() == reason;
}

}  // namespace

TEST_CASE(
    "admin: disconnect closes the user's sessions on every instance with 4010 and the "
    "reason - other users stay") {
  World w;
  w.add();
  w.add();
  auto ann_here = w.connect("ann", 0);
  auto ann_again = w.connect("ann", 0);
  auto ann_there = w.connect("ann", 1);
  auto bob = w.connect("bob", 0);

  Result<DisconnectResult> r = disconnect(w, "ann", "account locked");
  REQUIRE(r.ok());
  CHECK(r->local == 2);
  CHECK(r->remote == 1);
  for (auto* c : {&ann_here, &ann_again, &ann_there}) CHECK(closed_by_admin(**c, "account locked"));
  CHECK_FALSE(bob->closed());
  auto sessions = w.ask<std::vector<SessionRecord>>(
      [&](auto done) { w.engine(1).presence("ann", std::move(done)); });
  REQUIRE(sessions.ok());
  CHECK(sessions->empty());

  // Nobody left: nothing to close, still a success (a retry is harmless).
  r = disconnect(w, "ann", "again", 1);
  REQUIRE(r.ok());
  CHECK(r->local + r->remote == 0);
}

TEST_CASE(
    "admin: a disconnect without a reason gives the default one - a bad reason or user "
    "is refused and closes nothing") {
  World w;
  w.add();
  auto ann = w.connect("ann", 0);
  CHECK(disconnect(w, "ann", "tab\there").status().code() == Errc::invalid_argument);
  CHECK(disconnect(w, "ann", std::string(124, 'x')).status().code() == Errc::invalid_argument);
  CHECK(disconnect(w, "", "").status().code() == Errc::invalid_argument);
  CHECK_FALSE(ann->closed());

  REQUIRE(disconnect(w, "ann", std::string(123, 'x')).ok());  // the longest reason
  CHECK(closed_by_admin(*ann, std::string(123, 'x')));
  auto again = w.connect("ann", 0);
  REQUIRE(disconnect(w, "ann", "").ok());
  CHECK(closed_by_admin(*again, "disconnected by an administrator"));
}

TEST_CASE("admin: with the Registry unavailable a disconnect fails and closes nothing") {
  World w;
  w.add();
  auto ann = w.connect("ann", 0);
  w.registry->set_available(false);
  CHECK(disconnect(w, "ann", "").status().code() == Errc::unavailable);
  CHECK_FALSE(ann->closed());
  w.registry->set_available(true);
  REQUIRE(disconnect(w, "ann", "").ok());
  CHECK(ann->closed());
}

TEST_CASE("admin: instances lists every live instance with the load of its last heartbeat") {
  World w;
  const TimePoint started = w.executor->now();
  w.add();
  w.add();
  auto a = w.connect("ann", 0);
  auto b = w.connect("bob", 0);
  auto c = w.connect("cid", 1);
  const Duration beat = w.engine(0).options().registry_ttl / 3;
  auto instances = [&] {
    auto all = w.ask<std::vector<InstanceStatus>>(
        [&](auto done) { w.engine(1).instances(std::move(done)); });
    REQUIRE(all.ok());
    return all.value();
  };
  w.executor->advance(beat);  // the next heartbeat of each reports the sessions above

  std::vector<InstanceStatus> all = instances();
  REQUIRE(all.size() == 2);
  CHECK(all[0].instance == "i0");
  CHECK(all[0].load.sessions == 2);
  CHECK(all[0].load.connections == 2);
  CHECK(all[0].load.queued_bytes > 0);  // the welcome frames, not read by the clients yet
  CHECK(all[1].instance == "i1");
  CHECK(all[1].load.sessions == 1);
  for (const InstanceStatus& s : all) {
    CHECK(s.load.started_at == started);
    CHECK(s.load.reported_at == started + beat);
  }

  for (auto* client : {&a, &b, &c}) frames(**client);
  w.executor->advance(beat);
  all = instances();
  REQUIRE(all.size() == 2);
  CHECK(all[0].load.queued_bytes == 0);
  CHECK(all[0].load.reported_at == started + 2 * beat);

  // A stopped instance leaves the list with its load.
  w.engine(1).shutdown([] {});
  w.executor->run();
  all = instances();
  REQUIRE(all.size() == 1);
  CHECK(all[0].instance == "i0");
}

TEST_CASE("admin: topics lists the stored subscriptions' topics with subscriber counts, paged") {
  World w;
  w.add();
  auto subscribe = [&](const UserId& user, const std::string& topic) {
    REQUIRE(
        w.ask<bool>([&](auto done) { w.engine().subscribe(user, topic, std::move(done)); }).ok());
  };
  subscribe("ann", "news");
  subscribe("bob", "news");
  subscribe("ann", "cats");
  subscribe("cid", "dogs");
  auto page = [&](const std::string& after, std::int64_t limit) {
    return w.ask<std::vector<TopicCount>>(
        [&](auto done) { w.engine().topics(after, limit, std::move(done)); });
  };
  auto first = page("", 2);
  REQUIRE(first.ok());
  REQUIRE(first->size() == 2);
  CHECK(first->at(0).topic == "cats");
  CHECK(first->at(0).subscribers == 1);
  CHECK(first->at(1).topic == "dogs");
  auto second = page("dogs", 2);
  REQUIRE(second.ok());
  REQUIRE(second->size() == 1);
  CHECK(second->at(0).topic == "news");
  CHECK(second->at(0).subscribers == 2);

  CHECK(page("", 0).status().code() == Errc::invalid_argument);
  CHECK(page("", 501).status().code() == Errc::invalid_argument);
  CHECK(page("bad after", 10).status().code() == Errc::invalid_argument);
}
