// Store conformance suite, part two: preferences and inbox retention (issue 17), run
// against every Store backend like store_suite.cpp. Each case starts from a fresh store.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/store.hpp"

namespace herald::conformance {
namespace {


// A fresh store and typed wrappers that wait for each call and require it to succeed.
struct UserDataCase {
  UserDataCase() : store(fixture().make_store()) { REQUIRE(static_cast<bool>(store)); }

  Harness h;  // before `store`: destroyed after it
  std::shared_ptr<Store> store;
  NotificationId next_id = 1'000;

  // Appends a fresh notification (ids ascending: older first) to `streams`.
  std::vector<Position> add(std::vector<StreamId> streams) {
    auto n = std::make_shared<Notification>();
    n->id = next_id++;
    n->type = "test.note";
    n->created_at = t0;
    AppendRequest r = append_request(std::move(streams), std::move(n));
    return ok_value(h.wait<AppendResult>([&](auto done) { store->append(r, done); }, "append"),
                    "append")
        .positions;
  }
  void set(const UserId& user, Preferences p) {
    require_ok(h.wait<void>([&](auto d) { store->set_preferences(user, p, d); }, "set_preferences"),
               "set_preferences");
  }
  std::vector<UserPreferences> get(std::vector<UserId> users) {
    return ok_value(h.wait<std::vector<UserPreferences>>(
                        [&](auto d) { store->preferences(users, d); }, "preferences"),
                    "preferences");
  }
  std::uint64_t trim(InboxRetention rule) {
    return ok_value(
        h.wait<std::uint64_t>([&](auto d) { store->trim_inboxes(rule, d); }, "trim_inboxes"),
        "trim_inboxes");
  }
  // Steps until a step removes fewer than its limit; yields the total.
  std::uint64_t trim_all(InboxRetention rule) {
    std::uint64_t total = 0;
    for (int step = 0; step < 1'000; ++step) {
      const std::uint64_t n = trim(rule);
      total += n;
      if (n < rule.limit) return total;
    }
    FAIL("trim_inboxes did not finish in 1000 steps");
    return total;
  }
  std::vector<Seq> seqs(const StreamId& stream) {
    ReadQuery q;
    q.limit = 100'000;
    q.now = t0;
    ReadResult r =
        ok_value(h.wait<ReadResult>([&](auto d) { store->read(stream, q, d); }, "read"), "read");
    std::vector<Seq> out;
    for (const Entry& e : r.entries) out.push_back(e.seq);
    return out;
  }
  InboxState state(const UserId& user) {
    return ok_value(
        h.wait<InboxState>([&](auto d) { store->inbox_state(user, t0, d); }, "inbox_state"),
        "inbox_state");
  }
};

const UserPreferences* find(const std::vector<UserPreferences>& all, const UserId& user) {
  for (const UserPreferences& u : all)
    if (u.user == user) return &u;
  return nullptr;
}


}  // namespace

TEST_CASE("Store: preferences round-trip, come back for a list of users, and empty ones delete") {
  if (!have_store()) return;
  UserDataCase c;
  CHECK(c.get({"amy", "bob"}).empty());

  Preferences amy;
  amy.muted_types = {"chat.message", "promo", "with space"};
  amy.muted_topics = {"news", "sports"};
  Preferences bob;
  bob.critical_only = true;
  c.set("amy", amy);
  c.set("bob", bob);

  const std::vector<UserPreferences> got = c.get({"amy", "bob", "cat"});
  REQUIRE(got.size() == 2);
  REQUIRE(find(got, "amy") != nullptr);
  REQUIRE(find(got, "bob") != nullptr);
  CHECK(find(got, "amy")->preferences == amy);
  CHECK(find(got, "bob")->preferences == bob);
  CHECK(find(got, "cat") == nullptr);

  Preferences only_topic;
  only_topic.muted_topics = {"news"};
  c.set("amy", only_topic);  // replaces, not merges
  REQUIRE(c.get({"amy"}).size() == 1);
  CHECK(c.get({"amy"})[0].preferences == only_topic);

  c.set("bob", Preferences{});  // empty: deleted
  CHECK(c.get({"bob"}).empty());
  CHECK(c.get({"amy", "bob"}).size() == 1);
}

TEST_CASE("Store: preferences of a fan-out chunk come back in one call") {
  if (!have_store()) return;
  UserDataCase c;
  Preferences muted;
  muted.muted_types = {"promo"};
  std::vector<UserId> users;
  for (int i = 0; i < 1'000; ++i) users.push_back("u" + std::to_string(i));
  for (int i = 0; i < 1'000; i += 100) c.set(users[static_cast<std::size_t>(i)], muted);
  const std::vector<UserPreferences> got = c.get(users);
  CHECK(got.size() == 10);
  for (const UserPreferences& u : got) CHECK(u.preferences == muted);
}

TEST_CASE("Store: trim_inboxes by age removes old inbox entries only, keeping heads and seqs") {
  if (!have_store()) return;
  UserDataCase c;
  const StreamId amy = StreamId::inbox("amy");
  const StreamId bob = StreamId::inbox("bob");
  const StreamId news = StreamId::topic("news");
  for (int i = 0; i < 4; ++i) c.add({amy, bob, news});  // ids 1000..1003
  for (int i = 0; i < 2; ++i) c.add({amy});              // ids 1004..1005

  InboxRetention rule;
  rule.before_id = 1'002;  // 1000 and 1001 are too old
  rule.limit = 3;
  CHECK(c.trim(rule) == 3);  // a full step: at most `limit`
  CHECK(c.trim(rule) == 1);  // a short step: none left
  CHECK(c.trim(rule) == 0);

  CHECK(c.seqs(amy) == std::vector<Seq>{3, 4, 5, 6});
  CHECK(c.seqs(bob) == std::vector<Seq>{3, 4});
  CHECK(c.seqs(news) == range(1, 4));  // topics have their own retention
  const InboxState s = c.state("amy");
  CHECK(s.info.head == 6);
  CHECK(s.info.trimmed_through == 0);  // like a delete, not a lost history
  CHECK(s.unread == 4);
  CHECK(c.add({amy})[0].seq == 7);  // seqs are never reused
}

TEST_CASE("Store: trim_inboxes by count keeps the newest entries of each inbox") {
  if (!have_store()) return;
  UserDataCase c;
  const StreamId amy = StreamId::inbox("amy");
  const StreamId bob = StreamId::inbox("bob");
  const StreamId news = StreamId::topic("news");
  for (int i = 0; i < 10; ++i) c.add({amy, news});
  for (int i = 0; i < 3; ++i) c.add({bob});
  CHECK(ok_value(c.h.wait<std::uint64_t>([&](auto d) { c.store->mark_read("amy", {9, 10}, d); }),
                 "mark_read") == 2);

  InboxRetention rule;
  rule.max_entries = 4;
  rule.limit = 4;
  CHECK(c.trim_all(rule) == 6);
  CHECK(c.seqs(amy) == range(7, 10));
  CHECK(c.seqs(bob) == range(1, 3));
  CHECK(c.seqs(news) == range(1, 10));
  const InboxState s = c.state("amy");
  CHECK(s.info.head == 10);
  CHECK(s.unread == 2);  // 7 and 8; 9 and 10 were read
  CHECK(c.trim(rule) == 0);
}

TEST_CASE("Store: trim_inboxes with both rules, and with neither, removes what either says") {
  if (!have_store()) return;
  UserDataCase c;
  const StreamId amy = StreamId::inbox("amy");
  for (int i = 0; i < 6; ++i) c.add({amy});  // ids 1000..1005

  InboxRetention none;
  CHECK(c.trim(none) == 0);
  CHECK(c.seqs(amy) == range(1, 6));

  InboxRetention both;
  both.before_id = 1'001;  // age removes seq 1
  both.max_entries = 3;    // count removes seqs 2 and 3
  CHECK(c.trim_all(both) == 3);
  CHECK(c.seqs(amy) == range(4, 6));
}

}  // namespace herald::conformance
