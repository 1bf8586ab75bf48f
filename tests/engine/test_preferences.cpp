// Engine rules of preferences (muted types and topics, critical_only, the critical bypass)
// and of inbox retention (newest N, older than D), on the in-memory backends.

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

Status set_prefs(World& w, const UserId& user, Preferences p) {
  auto r = w.ask<void>([&](auto cb) { w.engine().set_preferences(user, p, cb); });
  return r.status();
}

Result<PublishResult> send(World& w, Target target, const std::string& type,
                           bool critical = false) {
  PublishRequest r;
  r.target = std::move(target);
  r.type = type;
  r.critical = critical;
  return w.publish(std::move(r));
}

std::vector<std::string> types_in(const std::vector<json>& fs) {
  std::vector<std::string> out;
  for (const json& f : only(fs, "notification")) out.push_back(f["type"]);
  return out;
}

// The user's inbox, newest first (one page of up to 500).
HistoryPage inbox(World& w, const UserId& user) {
  auto page = w.ask<HistoryPage>(
      [&](auto cb) { w.engine().history(StreamId::inbox(user), HistoryQuery{kSeqMax, 500}, cb); });
  REQUIRE(page.ok());
  return *page;
}

std::vector<std::string> stored_types(World& w, const UserId& user) {
  const HistoryPage page = inbox(w, user);
  std::vector<std::string> out;  // oldest first
  for (auto it = page.entries.rbegin(); it != page.entries.rend(); ++it)
    out.push_back(it->notification->type);
  return out;
}

}  // namespace

TEST_CASE("preferences: a muted type is neither stored nor pushed - critical bypasses it") {
  World w;
  w.add();
  Preferences p;
  p.muted_types = {"promo"};
  REQUIRE(set_prefs(w, "amy", p).ok());
  auto amy = w.connect("amy");
  frames(*amy);  // welcome

  auto muted = send(w, Target::to_users({"amy", "bob"}), "promo");
  REQUIRE(muted.ok());
  CHECK(muted->streams_written == 1);  // bob only
  CHECK(muted->muted == 1);
  auto critical = send(w, Target::to_users({"amy"}), "promo", true);
  REQUIRE(critical.ok());
  CHECK(critical->muted == 0);
  REQUIRE(send(w, Target::to_users({"amy"}), "other").ok());

  CHECK(types_in(frames(*amy)) == std::vector<std::string>{"promo", "other"});
  CHECK(stored_types(w, "amy") == std::vector<std::string>{"promo", "other"});
  CHECK(stored_types(w, "bob") == std::vector<std::string>{"promo"});
  CHECK(w.engine().metrics().muted.value() == 1);
  auto unread = w.ask<std::uint64_t>([&](auto cb) { w.engine().unread_count("amy", cb); });
  REQUIRE(unread.ok());
  CHECK(*unread == 2);
}

TEST_CASE("preferences: critical_only lets only critical notifications through") {
  World w;
  w.add();
  Preferences p;
  p.critical_only = true;
  REQUIRE(set_prefs(w, "amy", p).ok());
  auto r = send(w, Target::to_users({"amy"}), "chat");
  REQUIRE(r.ok());
  CHECK(r->streams_written == 0);
  CHECK(r->muted == 1);
  REQUIRE(send(w, Target::to_users({"amy"}), "alarm", true).ok());
  CHECK(stored_types(w, "amy") == std::vector<std::string>{"alarm"});
}

TEST_CASE("preferences: a follower fan-out honours muted topics and types in every chunk") {
  EngineOptions o = World::defaults();
  o.fanout_chunk = 2;  // 7 followers: four chunks
  World w(o);
  w.add();
  std::vector<UserId> users = {"u1", "u2", "u3", "u4", "u5", "u6", "u7"};
  for (const UserId& u : users)
    REQUIRE(w.ask<bool>([&](auto cb) { w.engine().subscribe(u, "news", cb); }).ok());
  Preferences topic;
  topic.muted_topics = {"news"};
  Preferences type;
  type.muted_types = {"news.posted"};
  REQUIRE(set_prefs(w, "u2", topic).ok());
  REQUIRE(set_prefs(w, "u5", type).ok());
  REQUIRE(set_prefs(w, "u7", topic).ok());
  auto u2 = w.connect("u2");
  frames(*u2);

  auto r = send(w, Target::to_followers("news"), "news.posted");
  REQUIRE(r.ok());
  CHECK(r->streams_written == 4);
  CHECK(r->muted == 3);
  for (const char* u : {"u1", "u3", "u4", "u6"})
    CHECK(stored_types(w, u) == std::vector<std::string>{"news.posted"});
  for (const char* u : {"u2", "u5", "u7"}) CHECK(stored_types(w, u).empty());
  CHECK(frames(*u2).empty());

  // The topic mute is about the fan-out of that topic: a direct publish still arrives.
  REQUIRE(send(w, Target::to_users({"u2"}), "news.posted").ok());
  CHECK(types_in(frames(*u2)) == std::vector<std::string>{"news.posted"});
  // A critical fan-out reaches everyone.
  auto all = send(w, Target::to_followers("news"), "news.posted", true);
  REQUIRE(all.ok());
  CHECK(all->streams_written == 7);
}

TEST_CASE("preferences: an all-muted first chunk still records the idempotency key") {
  World w;
  w.add();
  Preferences p;
  p.muted_types = {"promo"};
  REQUIRE(set_prefs(w, "amy", p).ok());
  PublishRequest r;
  r.target = Target::to_users({"amy"});
  r.type = "promo";
  r.idempotency_key = "k1";
  auto first = w.publish(r);
  REQUIRE(first.ok());
  CHECK(first->muted == 1);
  auto again = w.publish(r);
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->id == first->id);
}

TEST_CASE("preferences: read back as set and normalized - bad ones are refused and change nothing") {
  World w;
  w.add();
  Preferences p;
  p.muted_types = {"b", "a", "b"};
  p.muted_topics = {"news"};
  REQUIRE(set_prefs(w, "amy", p).ok());
  auto got = w.ask<Preferences>([&](auto cb) { w.engine().preferences("amy", cb); });
  REQUIRE(got.ok());
  CHECK(got->muted_types == std::vector<std::string>{"a", "b"});
  CHECK(got->muted_topics == std::vector<std::string>{"news"});
  CHECK_FALSE(got->critical_only);

  Preferences too_many;
  for (std::size_t i = 0; i <= kMaxMutedTypes; ++i) too_many.muted_types.push_back("t" + std::to_string(i));
  Preferences bad_topic;
  bad_topic.muted_topics = {"$broadcast"};
  Preferences bad_type;
  bad_type.muted_types = {"a\nb"};
  for (const Preferences& bad : {too_many, bad_topic, bad_type})
    CHECK(set_prefs(w, "amy", bad).code() == Errc::invalid_argument);
  CHECK(set_prefs(w, "", p).code() == Errc::invalid_argument);
  auto still = w.ask<Preferences>([&](auto cb) { w.engine().preferences("amy", cb); });
  REQUIRE(still.ok());
  CHECK(still->muted_types == std::vector<std::string>{"a", "b"});

  REQUIRE(set_prefs(w, "amy", Preferences{}).ok());  // cleared
  auto none = w.ask<Preferences>([&](auto cb) { w.engine().preferences("bob", cb); });
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("retention: the sweep keeps the newest inbox_max_entries - seqs go on, unread drops") {
  EngineOptions o = World::defaults();
  o.inbox_max_entries = 3;
  o.retention_batch = 2;  // several steps per sweep
  World w(o);
  w.add();
  for (int i = 0; i < 8; ++i) REQUIRE(w.notify({"amy"}).ok());
  REQUIRE(w.notify({"bob"}).ok());
  w.executor->advance(o.expiry_sweep);
  w.executor->run();

  const HistoryPage page = inbox(w, "amy");
  REQUIRE(page.entries.size() == 3);
  CHECK(page.entries.front().seq == 8);
  CHECK(page.entries.back().seq == 6);
  CHECK(page.info.head == 8);
  CHECK(w.engine().metrics().retention_removed.value() == 5);
  auto unread = w.ask<std::uint64_t>([&](auto cb) { w.engine().unread_count("amy", cb); });
  REQUIRE(unread.ok());
  CHECK(*unread == 3);
  auto next = w.notify({"amy"});
  REQUIRE(next.ok());
  auto c = w.connect("amy", 0, {{"since", "7"}, {"epoch", std::to_string(w.store->epoch())}});
  auto fs = frames(*c);
  CHECK(only(fs, "reset").empty());  // a cursor inside the kept range resumes
  CHECK(seqs(fs, "inbox:amy") == std::vector<Seq>{8, 9});
}

TEST_CASE("retention: entries older than inbox_max_age are removed by the sweep") {
  EngineOptions o = World::defaults();
  o.inbox_max_age = std::chrono::hours(24);
  o.expiry_sweep = std::chrono::hours(1);
  World w(o);
  w.executor->advance(std::chrono::hours(24 * 365 * 7));  // Snowflake ids start in 2024
  w.add();
  REQUIRE(w.notify({"amy"}, "1").ok());
  w.executor->advance(std::chrono::hours(12));
  REQUIRE(w.notify({"amy"}, "2").ok());
  w.executor->advance(std::chrono::hours(13));  // the first is 25 h old, the second 13 h
  w.executor->run();
  const HistoryPage page = inbox(w, "amy");
  REQUIRE(page.entries.size() == 1);
  CHECK(page.entries[0].seq == 2);
  CHECK(w.engine().metrics().retention_removed.value() == 1);
  CHECK(w.engine().metrics().render_prometheus().find(
            "herald_inbox_retention_removed_total 1\n") != std::string::npos);
}
