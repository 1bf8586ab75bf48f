// Store conformance suite: every clause of the Store contract (include/herald/store.hpp),
// run against every Store backend. Each case starts from a fresh, empty store.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/store.hpp"

namespace herald::conformance {
namespace {

using namespace std::chrono_literals;


// A fresh store and typed wrappers that wait for each call and require it to succeed.
class StoreCase {
 public:
  StoreCase() : store(fixture().make_store()) {
    REQUIRE_MESSAGE(static_cast<bool>(store), "make_store() gave null");
  }

  Harness h;  // before `store`: destroyed after it
  std::shared_ptr<Store> store;

  // A new notification with a unique id.
  std::shared_ptr<const Notification> note(TimePoint created = t0, std::string key = {},
                                           std::optional<TimePoint> expires = {}) {
    auto n = std::make_shared<Notification>();
    n->id = next_id_++;
    n->type = "test.note";
    n->data = "{\"n\":" + std::to_string(n->id) + "}";
    n->created_at = created;
    n->expires_at = expires;
    n->idempotency_key = std::move(key);
    return n;
  }

  AppendResult append(AppendRequest r) {
    return ok_value(h.wait<AppendResult>([&](auto done) { store->append(r, done); }, "append"),
                    "append");
  }
  AppendResult append_to(std::vector<StreamId> streams, std::shared_ptr<const Notification> n) {
    return append(append_request(std::move(streams), std::move(n)));
  }
  // Appends a fresh notification to one stream; returns its seq.
  Seq add(const StreamId& stream, std::optional<TimePoint> expires = {}) {
    AppendResult r = append_to({stream}, note(t0, {}, expires));
    REQUIRE(r.positions.size() == 1);
    return r.positions[0].seq;
  }

  ReadResult read(const StreamId& stream, ReadQuery q) {
    return ok_value(h.wait<ReadResult>([&](auto done) { store->read(stream, q, done); }, "read"),
                    "read");
  }
  ReadResult read_all(const StreamId& stream, TimePoint now = t0) {
    return read(stream, query(0, kSeqMax, 100'000, ReadQuery::Order::ascending, now));
  }
  InboxState inbox_state(const UserId& user, TimePoint now = t0) {
    return ok_value(
        h.wait<InboxState>([&](auto done) { store->inbox_state(user, now, done); }, "inbox_state"),
        "inbox_state");
  }
  std::uint64_t mark_read(const UserId& user, std::vector<Seq> seqs) {
    return ok_value(
        h.wait<std::uint64_t>([&](auto done) { store->mark_read(user, seqs, done); }, "mark_read"),
        "mark_read");
  }
  std::uint64_t remove(const UserId& user, std::vector<Seq> seqs) {
    return ok_value(
        h.wait<std::uint64_t>([&](auto done) { store->remove(user, seqs, done); }, "remove"),
        "remove");
  }
  Seq advance(const UserId& user, Seq seq) {
    return ok_value(h.wait<Seq>([&](auto done) { store->advance_ack_cursor(user, seq, done); },
                                "advance_ack_cursor"),
                    "advance_ack_cursor");
  }
  bool subscribe(const UserId& user, const std::string& topic) {
    return ok_value(
        h.wait<bool>([&](auto done) { store->subscribe(user, topic, done); }, "subscribe"),
        "subscribe");
  }
  bool unsubscribe(const UserId& user, const std::string& topic) {
    return ok_value(
        h.wait<bool>([&](auto done) { store->unsubscribe(user, topic, done); }, "unsubscribe"),
        "unsubscribe");
  }
  std::vector<UserId> subscribers(const std::string& topic, const UserId& after,
                                  std::size_t limit) {
    return ok_value(
        h.wait<std::vector<UserId>>(
            [&](auto done) { store->subscribers(topic, after, limit, done); }, "subscribers"),
        "subscribers");
  }
  std::vector<TopicCount> topics(const std::string& after, std::size_t limit) {
    return ok_value(h.wait<std::vector<TopicCount>>(
                        [&](auto done) { store->topics(after, limit, done); }, "topics"),
                    "topics");
  }
  std::vector<std::string> subscriptions(const UserId& user, const std::string& after = {},
                                         std::size_t limit = 1'000) {
    return ok_value(
        h.wait<std::vector<std::string>>(
            [&](auto done) { store->subscriptions(user, after, limit, done); }, "subscriptions"),
        "subscriptions");
  }
  void add_dead_letter(DeadLetter letter) {
    require_ok(
        h.wait<void>([&](auto done) { store->add_dead_letter(letter, done); }, "add_dead_letter"),
        "add_dead_letter");
  }
  std::vector<DeadLetter> dead_letters(const UserId& user, std::size_t limit, Seq after = 0) {
    return ok_value(
        h.wait<std::vector<DeadLetter>>(
            [&](auto done) { store->dead_letters(user, after, limit, done); }, "dead_letters"),
        "dead_letters");
  }
  bool remove_dead_letter(const UserId& user, Seq seq) {
    return ok_value(h.wait<bool>([&](auto done) { store->remove_dead_letter(user, seq, done); },
                                 "remove_dead_letter"),
                    "remove_dead_letter");
  }
  std::uint64_t purge(TimePoint now) {
    return ok_value(
        h.wait<std::uint64_t>([&](auto done) { store->purge_expired(now, done); }, "purge_expired"),
        "purge_expired");
  }

  static ReadQuery query(Seq after, Seq before, std::size_t limit,
                         ReadQuery::Order order = ReadQuery::Order::ascending, TimePoint now = t0) {
    ReadQuery q;
    q.after = after;
    q.before = before;
    q.limit = limit;
    q.order = order;
    q.now = now;
    return q;
  }

 private:
  NotificationId next_id_ = 1'000;
};

std::vector<Seq> seqs_of(const ReadResult& r) {
  std::vector<Seq> out;
  for (const Entry& e : r.entries) out.push_back(e.seq);
  return out;
}

const auto asc = ReadQuery::Order::ascending;
const auto desc = ReadQuery::Order::descending;

}  // namespace

// ---- append: seqs, positions, epoch ----

TEST_CASE("Store: seqs of a stream start at 1 and have no gap") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId inbox = StreamId::inbox("alice");
  std::vector<Seq> assigned;
  for (int i = 0; i < 5; ++i) assigned.push_back(c.add(inbox));
  CHECK(assigned == range(1, 5));

  const ReadResult r = c.read_all(inbox);
  CHECK(r.info.head == 5);
  CHECK(r.info.trimmed_through == 0);
  CHECK(r.info.epoch != 0);
  CHECK(seqs_of(r) == range(1, 5));
  for (const Entry& e : r.entries) {
    CHECK(e.stream == inbox);
    CHECK_FALSE(e.read);
  }
}

TEST_CASE("Store: notification fields round-trip") {
  if (!have_store()) return;
  StoreCase c;
  auto n = std::make_shared<Notification>();
  n->id = 7'123'456'789'012'345'678ULL;  // needs all 64 bits
  n->type = "blog.posted";
  n->data = R"({"title":"Grüße \"quoted\"","tags":[1,2.5,null,true]})";
  n->sender = "bob";
  n->created_at = t0;
  n->expires_at = t0 + 24h;
  n->idempotency_key = "key-1";
  const AppendResult a = c.append_to({StreamId::inbox("alice")}, n);
  CHECK_FALSE(a.duplicate);
  CHECK(a.id == n->id);

  const ReadResult r = c.read_all(StreamId::inbox("alice"));
  REQUIRE(r.entries.size() == 1);
  REQUIRE(static_cast<bool>(r.entries[0].notification));
  const Notification& got = *r.entries[0].notification;
  CHECK(got.id == n->id);
  CHECK(got.type == n->type);
  CHECK(got.data == n->data);
  CHECK(got.sender == n->sender);
  CHECK(got.created_at == n->created_at);
  REQUIRE(got.expires_at.has_value());
  CHECK(*got.expires_at == *n->expires_at);
  CHECK(got.idempotency_key == n->idempotency_key);

  // And a notification without the optional fields.
  auto plain = c.note();
  c.append_to({StreamId::inbox("alice")}, plain);
  const ReadResult r2 = c.read_all(StreamId::inbox("alice"));
  REQUIRE(r2.entries.size() == 2);
  CHECK(r2.entries[1].notification->id == plain->id);
  CHECK_FALSE(r2.entries[1].notification->expires_at.has_value());
  CHECK(r2.entries[1].notification->sender.empty());
  CHECK(r2.entries[1].notification->idempotency_key.empty());
}

TEST_CASE("Store: a multi-stream append gives each stream its next seq, in request order") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  const StreamId b = StreamId::inbox("b");
  const StreamId t = StreamId::topic("room");
  c.add(a);
  c.add(a);
  c.add(t);

  auto n = c.note();
  const AppendResult r = c.append_to({b, a, t}, n);
  CHECK_FALSE(r.duplicate);
  CHECK(r.id == n->id);
  REQUIRE(r.positions.size() == 3);
  CHECK(r.positions[0].stream == b);
  CHECK(r.positions[0].seq == 1);
  CHECK(r.positions[1].stream == a);
  CHECK(r.positions[1].seq == 3);
  CHECK(r.positions[2].stream == t);
  CHECK(r.positions[2].seq == 2);

  // Every position carries the epoch its stream reports.
  for (const Position& p : r.positions) {
    const ReadResult page = c.read_all(p.stream);
    CHECK(p.epoch != 0);
    CHECK(p.epoch == page.info.epoch);
    CHECK(page.info.head == p.seq);
    REQUIRE_FALSE(page.entries.empty());
    CHECK(page.entries.back().seq == p.seq);
    CHECK(page.entries.back().notification->id == n->id);
  }
}

TEST_CASE("Store: a stream listed twice in one append gets two entries") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  const StreamId b = StreamId::inbox("b");
  auto n = c.note();
  const AppendResult r = c.append_to({a, b, a}, n);
  REQUIRE(r.positions.size() == 3);
  CHECK(r.positions[0].seq == 1);
  CHECK(r.positions[1].seq == 1);
  CHECK(r.positions[2].seq == 2);

  const ReadResult page = c.read_all(a);
  CHECK(page.info.head == 2);
  REQUIRE(seqs_of(page) == range(1, 2));
  CHECK(page.entries[0].notification->id == n->id);
  CHECK(page.entries[1].notification->id == n->id);
}

// ---- idempotency ----

TEST_CASE("Store: an idempotency key seen within the window makes the append a duplicate") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  auto first = c.note(t0, "order-42");
  AppendRequest r1 = append_request({a}, first, 10min);
  const AppendResult one = c.append(r1);
  CHECK_FALSE(one.duplicate);

  auto retry = c.note(t0 + 9min, "order-42");
  AppendRequest r2 = append_request({a, StreamId::inbox("b")}, retry, 10min);
  const AppendResult two = c.append(r2);
  CHECK(two.duplicate);
  CHECK(two.id == first->id);
  CHECK(two.positions.empty());

  // Nothing was written by the duplicate.
  CHECK(c.read_all(a).info.head == 1);
  CHECK(c.read_all(StreamId::inbox("b")).info.head == 0);
  CHECK(c.read_all(StreamId::inbox("b")).entries.empty());
}

TEST_CASE("Store: an idempotency key older than the window records a new notification") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  auto first = c.note(t0, "k");
  AppendRequest r1 = append_request({a}, first, 10min);
  c.append(r1);

  auto later = c.note(t0 + 11min, "k");
  AppendRequest r2 = append_request({a}, later, 10min);
  const AppendResult two = c.append(r2);
  CHECK_FALSE(two.duplicate);
  CHECK(two.id == later->id);
  REQUIRE(two.positions.size() == 1);
  CHECK(two.positions[0].seq == 2);

  // The key now points at the newer notification: 12 min after t0 is within its window.
  auto again = c.note(t0 + 12min, "k");
  AppendRequest r3 = append_request({a}, again, 10min);
  const AppendResult three = c.append(r3);
  CHECK(three.duplicate);
  CHECK(three.id == later->id);
}

TEST_CASE("Store: appends without an idempotency key are never duplicates") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  for (int i = 0; i < 3; ++i) {
    AppendRequest r = append_request({a}, c.note(t0), 1h);
    const AppendResult result = c.append(r);
    CHECK_FALSE(result.duplicate);
    CHECK(result.positions.size() == 1);
  }
  CHECK(c.read_all(a).info.head == 3);
}

TEST_CASE("Store: a following chunk (first_chunk = false) neither checks nor records its key") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  const StreamId b = StreamId::inbox("b");

  // The chunks of one fan-out share the notification and its key.
  auto n = c.note(t0, "fanout");
  AppendRequest first = append_request({a}, n, 10min);
  CHECK_FALSE(c.append(first).duplicate);
  AppendRequest second = append_request({b}, n);
  second.first_chunk = false;
  second.dedup_window = 10min;
  const AppendResult chunk = c.append(second);
  CHECK_FALSE(chunk.duplicate);
  REQUIRE(chunk.positions.size() == 1);
  CHECK(chunk.positions[0].stream == b);
  CHECK(c.read_all(b).entries.size() == 1);

  // A key that only a following chunk carried was not recorded.
  auto orphan = c.note(t0, "chunk-only");
  AppendRequest chunk_only = append_request({a}, orphan);
  chunk_only.first_chunk = false;
  chunk_only.dedup_window = 10min;
  c.append(chunk_only);
  AppendRequest fresh = append_request({a}, c.note(t0 + 1s, "chunk-only"), 10min);
  CHECK_FALSE(c.append(fresh).duplicate);
}

TEST_CASE("Store: an append to no stream still records the idempotency key") {
  if (!have_store()) return;
  StoreCase c;
  auto n = c.note(t0, "empty-fanout");
  AppendRequest r1 = append_request({}, n, 10min);
  const AppendResult one = c.append(r1);
  CHECK_FALSE(one.duplicate);
  CHECK(one.id == n->id);
  CHECK(one.positions.empty());

  AppendRequest r2 =
      append_request({StreamId::inbox("a")}, c.note(t0 + 1min, "empty-fanout"), 10min);
  const AppendResult two = c.append(r2);
  CHECK(two.duplicate);
  CHECK(two.id == n->id);
  CHECK(c.read_all(StreamId::inbox("a")).info.head == 0);
}

TEST_CASE("Store: idempotency keys are unique per scope") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  auto mine = c.note(t0, "k-1");
  AppendRequest r1 = append_request({a}, mine, 10min);
  r1.idempotency_scope = "addr:10.0.0.1";
  r1.fingerprint = "f1";
  CHECK_FALSE(c.append(r1).duplicate);

  // Another principal's "k-1" is its own key: a new notification, even with another request.
  auto theirs = c.note(t0 + 1min, "k-1");
  AppendRequest r2 = append_request({StreamId::inbox("zzz")}, theirs, 10min);
  r2.idempotency_scope = "addr:10.0.0.2";
  r2.fingerprint = "f2";
  const AppendResult two = c.append(r2);
  CHECK_FALSE(two.duplicate);
  CHECK(two.id == theirs->id);
  REQUIRE(two.positions.size() == 1);
  CHECK(c.read_all(StreamId::inbox("zzz")).entries.size() == 1);

  // The empty scope (in-process callers) is a scope of its own too.
  AppendRequest r3 = append_request({a}, c.note(t0 + 2min, "k-1"), 10min);
  r3.fingerprint = "f3";
  CHECK_FALSE(c.append(r3).duplicate);

  // Within each scope the key still de-duplicates the same request.
  AppendRequest retry = append_request({a}, c.note(t0 + 3min, "k-1"), 10min);
  retry.idempotency_scope = "addr:10.0.0.2";
  retry.fingerprint = "f2";
  const AppendResult again = c.append(retry);
  CHECK(again.duplicate);
  CHECK(again.id == theirs->id);
  CHECK(c.read_all(a).info.head == 2);
}

TEST_CASE("Store: a key held by a different request (fingerprint) is an idempotency_conflict") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  const StreamId b = StreamId::inbox("b");
  auto first = c.note(t0, "order-7");
  AppendRequest r1 = append_request({a}, first, 10min);
  r1.idempotency_scope = "p";
  r1.fingerprint = "aaaa";
  c.append(r1);

  AppendRequest other = append_request({b}, c.note(t0 + 1min, "order-7"), 10min);
  other.idempotency_scope = "p";
  other.fingerprint = "bbbb";
  Result<AppendResult> r =
      c.h.wait<AppendResult>([&](auto done) { c.store->append(other, done); }, "append");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Errc::idempotency_conflict);
  CHECK(c.read_all(b).info.head == 0);  // nothing written

  // The record is unchanged: the first request's retry is still its duplicate.
  AppendRequest retry = append_request({a}, c.note(t0 + 2min, "order-7"), 10min);
  retry.idempotency_scope = "p";
  retry.fingerprint = "aaaa";
  const AppendResult dup = c.append(retry);
  CHECK(dup.duplicate);
  CHECK(dup.id == first->id);

  // A record without a fingerprint (from before fingerprints were stored) matches any.
  AppendRequest old = append_request({a}, c.note(t0, "legacy"), 10min);
  old.idempotency_scope = "p";
  c.append(old);
  AppendRequest newer = append_request({a}, c.note(t0 + 1min, "legacy"), 10min);
  newer.idempotency_scope = "p";
  newer.fingerprint = "cccc";
  CHECK(c.append(newer).duplicate);

  // Past the window the key is free for any request.
  AppendRequest later = append_request({b}, c.note(t0 + 11min, "order-7"), 10min);
  later.idempotency_scope = "p";
  later.fingerprint = "bbbb";
  CHECK_FALSE(c.append(later).duplicate);
  CHECK(c.read_all(b).info.head == 1);
}

TEST_CASE("Store: within one batch of appends a key conflict fails only its own append") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId a = StreamId::inbox("a");
  std::vector<AppendRequest> requests;
  for (int i = 0; i < 6; ++i) {
    AppendRequest r = append_request({a}, c.note(t0, i % 2 == 0 ? "same" : ""), 10min);
    r.idempotency_scope = "p";
    r.fingerprint = i == 4 ? "other" : "one";
    requests.push_back(std::move(r));
  }
  // Issued together, so that a batching backend may put them in one transaction.
  // Shared: a completion arriving after a failed wait writes into live memory.
  auto slots = std::make_shared<std::vector<std::optional<Result<AppendResult>>>>(requests.size());
  auto& results = *slots;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    c.store->append(requests[i], Completion<AppendResult>(c.h.executor(), [slots, i](auto r) {
                      (*slots)[i] = std::move(r);
                    }));
  }
  c.h.run_until(
      [&] {
        return std::all_of(results.begin(), results.end(),
                           [](const auto& r) { return r.has_value(); });
      },
      "appends");
  REQUIRE(results[0]->ok());
  CHECK_FALSE(results[0]->value().duplicate);
  CHECK(results[2]->value().duplicate);
  REQUIRE_FALSE(results[4]->ok());
  CHECK(results[4]->status().code() == Errc::idempotency_conflict);
  for (std::size_t i : {1, 3, 5}) CHECK(results[i]->value().positions.size() == 1);
  CHECK(c.read_all(a).info.head == 4);
}

// ---- retention ----

TEST_CASE("Store: topic retention keeps the newest entries and advances trimmed_through") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId topic = StreamId::topic("news");
  const StreamId inbox = StreamId::inbox("alice");
  for (int i = 0; i < 5; ++i) {
    AppendRequest r = append_request({topic, inbox}, c.note());
    r.topic_retention = 3;
    const AppendResult result = c.append(r);
    REQUIRE(result.positions.size() == 2);
    CHECK(result.positions[0].seq == static_cast<Seq>(i + 1));
  }
  const ReadResult t = c.read_all(topic);
  CHECK(t.info.head == 5);
  CHECK(t.info.trimmed_through == 2);
  CHECK(seqs_of(t) == range(3, 5));

  // Inboxes are never trimmed by topic retention.
  const ReadResult i = c.read_all(inbox);
  CHECK(i.info.head == 5);
  CHECK(i.info.trimmed_through == 0);
  CHECK(seqs_of(i) == range(1, 5));

  // Retention 0 is unbounded.
  const StreamId open = StreamId::topic("open");
  for (int k = 0; k < 4; ++k) {
    AppendRequest r = append_request({open}, c.note());
    r.topic_retention = 0;
    c.append(r);
  }
  const ReadResult o = c.read_all(open);
  CHECK(seqs_of(o) == range(1, 4));
  CHECK(o.info.trimmed_through == 0);
}

// ---- read ----

TEST_CASE("Store: read pages ascending with after, before, limit and more") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId s = StreamId::topic("log");
  for (int i = 0; i < 10; ++i) c.add(s);

  ReadResult p = c.read(s, StoreCase::query(0, kSeqMax, 4));
  CHECK(seqs_of(p) == range(1, 4));
  CHECK(p.more);
  CHECK(p.info.head == 10);
  p = c.read(s, StoreCase::query(4, kSeqMax, 4));
  CHECK(seqs_of(p) == range(5, 8));
  CHECK(p.more);
  p = c.read(s, StoreCase::query(8, kSeqMax, 4));
  CHECK(seqs_of(p) == range(9, 10));
  CHECK_FALSE(p.more);
  p = c.read(s, StoreCase::query(10, kSeqMax, 4));
  CHECK(p.entries.empty());
  CHECK_FALSE(p.more);

  // Both bounds are exclusive; a page that exactly fills the limit has no more.
  p = c.read(s, StoreCase::query(2, 6, 3));
  CHECK(seqs_of(p) == range(3, 5));
  CHECK_FALSE(p.more);
  p = c.read(s, StoreCase::query(2, 6, 2));
  CHECK(seqs_of(p) == range(3, 4));
  CHECK(p.more);
  p = c.read(s, StoreCase::query(5, 6, 10));
  CHECK(p.entries.empty());
  CHECK_FALSE(p.more);
}

TEST_CASE("Store: read pages descending with after, before, limit and more") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId s = StreamId::inbox("hist");
  for (int i = 0; i < 10; ++i) c.add(s);

  ReadResult p = c.read(s, StoreCase::query(0, kSeqMax, 4, desc));
  CHECK(seqs_of(p) == std::vector<Seq>{10, 9, 8, 7});
  CHECK(p.more);
  p = c.read(s, StoreCase::query(0, 7, 4, desc));
  CHECK(seqs_of(p) == std::vector<Seq>{6, 5, 4, 3});
  CHECK(p.more);
  p = c.read(s, StoreCase::query(0, 3, 4, desc));
  CHECK(seqs_of(p) == std::vector<Seq>{2, 1});
  CHECK_FALSE(p.more);

  p = c.read(s, StoreCase::query(5, kSeqMax, 10, desc));
  CHECK(seqs_of(p) == std::vector<Seq>{10, 9, 8, 7, 6});
  CHECK_FALSE(p.more);
  p = c.read(s, StoreCase::query(5, kSeqMax, 4, desc));
  CHECK(seqs_of(p) == std::vector<Seq>{10, 9, 8, 7});
  CHECK(p.more);
}

TEST_CASE("Store: a read with limit 0 yields only the stream info") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId s = StreamId::topic("info");
  for (int i = 0; i < 6; ++i) {
    AppendRequest r = append_request({s}, c.note());
    r.topic_retention = 4;
    c.append(r);
  }
  const ReadResult p = c.read(s, StoreCase::query(0, kSeqMax, 0));
  CHECK(p.entries.empty());
  CHECK(p.info.head == 6);
  CHECK(p.info.trimmed_through == 2);
  CHECK(p.info.epoch != 0);
}

TEST_CASE("Store: an unknown stream reads as empty in the store's epoch") {
  if (!have_store()) return;
  StoreCase c;
  const AppendResult known = c.append_to({StreamId::inbox("someone")}, c.note());
  REQUIRE(known.positions.size() == 1);

  for (const StreamId& s : {StreamId::inbox("nobody"), StreamId::topic("nothing")}) {
    const ReadResult r = c.read_all(s);
    CHECK(r.info.head == 0);
    CHECK(r.info.trimmed_through == 0);
    CHECK(r.info.epoch == known.positions[0].epoch);
    CHECK(r.entries.empty());
    CHECK_FALSE(r.more);
  }
  const InboxState state = c.inbox_state("nobody");
  CHECK(state.info.head == 0);
  CHECK(state.info.epoch == known.positions[0].epoch);
  CHECK(state.ack_cursor == 0);
  CHECK(state.unread == 0);
}

// ---- expiry ----

TEST_CASE("Store: expired entries are not listed, not counted unread, and purged") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId inbox = StreamId::inbox("carol");
  c.add(inbox, t0 + 1h);  // 1
  c.add(inbox);           // 2: never expires
  c.add(inbox, t0 + 2h);  // 3

  CHECK(seqs_of(c.read_all(inbox, t0)) == range(1, 3));
  // Expired means expires_at <= now.
  CHECK(seqs_of(c.read_all(inbox, t0 + 1h - 1ms)) == range(1, 3));
  CHECK(seqs_of(c.read_all(inbox, t0 + 1h)) == range(2, 3));
  CHECK(seqs_of(c.read_all(inbox, t0 + 3h)) == std::vector<Seq>{2});

  // Expired entries do not count towards a page or towards `more`.
  ReadResult p = c.read(inbox, StoreCase::query(0, kSeqMax, 1, asc, t0 + 1h));
  CHECK(seqs_of(p) == std::vector<Seq>{2});
  CHECK(p.more);
  p = c.read(inbox, StoreCase::query(0, kSeqMax, 1, asc, t0 + 2h));
  CHECK(seqs_of(p) == std::vector<Seq>{2});
  CHECK_FALSE(p.more);
  p = c.read(inbox, StoreCase::query(0, kSeqMax, 1, desc, t0 + 2h));
  CHECK(seqs_of(p) == std::vector<Seq>{2});
  CHECK_FALSE(p.more);

  CHECK(c.inbox_state("carol", t0).unread == 3);
  CHECK(c.inbox_state("carol", t0 + 1h).unread == 2);
  CHECK(c.inbox_state("carol", t0 + 2h).unread == 1);

  CHECK(c.purge(t0) == 0);
  CHECK(c.purge(t0 + 1h) == 1);
  CHECK(c.purge(t0 + 1h) == 0);
  CHECK(c.purge(t0 + 3h) == 1);
  // Purged entries are gone even for a reader whose clock is earlier; the head stays.
  const ReadResult after = c.read_all(inbox, t0);
  CHECK(seqs_of(after) == std::vector<Seq>{2});
  CHECK(after.info.head == 3);
  CHECK(c.add(inbox) == 4);
}

TEST_CASE("Store: purge_expired covers every stream") {
  if (!have_store()) return;
  StoreCase c;
  auto n = c.note(t0, {}, t0 + 1min);
  c.append_to({StreamId::inbox("a"), StreamId::inbox("b"), StreamId::topic("t")}, n);
  c.add(StreamId::inbox("a"));
  CHECK(c.purge(t0 + 1min) == 3);
  CHECK(c.read_all(StreamId::inbox("a"), t0).entries.size() == 1);
  CHECK(c.read_all(StreamId::inbox("b"), t0).entries.empty());
  CHECK(c.read_all(StreamId::topic("t"), t0).entries.empty());
}

// ---- inbox state, read flags, removal, ack cursor ----

TEST_CASE("Store: inbox_state reports head, unread count and ack cursor") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId inbox = StreamId::inbox("dave");
  for (int i = 0; i < 4; ++i) c.add(inbox);
  c.add(StreamId::inbox("erin"));
  c.add(StreamId::topic("dave"));  // a topic named like the user is another stream

  InboxState s = c.inbox_state("dave");
  CHECK(s.info.head == 4);
  CHECK(s.info.epoch != 0);
  CHECK(s.unread == 4);
  CHECK(s.ack_cursor == 0);

  c.mark_read("dave", {2});
  c.advance("dave", 3);
  s = c.inbox_state("dave");
  CHECK(s.unread == 3);
  CHECK(s.ack_cursor == 3);
  CHECK(c.inbox_state("erin").unread == 1);
  CHECK(c.inbox_state("erin").ack_cursor == 0);
}

TEST_CASE("Store: mark_read flips the listed entries and counts only changes") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId inbox = StreamId::inbox("fay");
  for (int i = 0; i < 5; ++i) c.add(inbox);
  c.add(StreamId::inbox("gus"));

  CHECK(c.mark_read("fay", {1, 3, 99}) == 2);  // 99 does not exist
  CHECK(c.mark_read("fay", {1, 3}) == 0);      // already read
  CHECK(c.mark_read("fay", {4, 4}) == 1);      // listed twice, changed once

  const ReadResult r = c.read_all(inbox);
  REQUIRE(r.entries.size() == 5);
  CHECK(r.entries[0].read);
  CHECK_FALSE(r.entries[1].read);
  CHECK(r.entries[2].read);
  CHECK(r.entries[3].read);
  CHECK_FALSE(r.entries[4].read);
  CHECK(c.inbox_state("fay").unread == 2);

  // Empty = all entries of this inbox only.
  CHECK(c.mark_read("fay", {}) == 2);
  CHECK(c.mark_read("fay", {}) == 0);
  CHECK(c.inbox_state("fay").unread == 0);
  CHECK(c.inbox_state("gus").unread == 1);
  CHECK(c.mark_read("nobody", {}) == 0);
}

TEST_CASE("Store: remove deletes entries, counts those that existed, and never reuses seqs") {
  if (!have_store()) return;
  StoreCase c;
  const StreamId inbox = StreamId::inbox("hal");
  for (int i = 0; i < 5; ++i) c.add(inbox);
  c.add(StreamId::inbox("ivy"));

  CHECK(c.remove("hal", {2, 4, 99}) == 2);
  CHECK(c.remove("hal", {2}) == 0);
  const ReadResult r = c.read_all(inbox);
  CHECK(seqs_of(r) == std::vector<Seq>{1, 3, 5});
  CHECK(r.info.head == 5);
  CHECK(c.inbox_state("hal").unread == 3);

  CHECK(c.remove("hal", {5}) == 1);
  CHECK(c.add(inbox) == 6);  // the removed 5 is not handed out again
  CHECK(seqs_of(c.read_all(inbox)) == std::vector<Seq>{1, 3, 6});
  CHECK(c.read_all(StreamId::inbox("ivy")).entries.size() == 1);
}

TEST_CASE("Store: the ack cursor only moves forward") {
  if (!have_store()) return;
  StoreCase c;
  CHECK(c.advance("jo", 5) == 5);
  CHECK(c.advance("jo", 3) == 5);
  CHECK(c.advance("jo", 5) == 5);
  CHECK(c.advance("jo", 7) == 7);
  CHECK(c.inbox_state("jo").ack_cursor == 7);
  CHECK(c.advance("kim", 0) == 0);
  CHECK(c.advance("kim", 2) == 2);
  CHECK(c.inbox_state("jo").ack_cursor == 7);
}

// ---- subscriptions ----

TEST_CASE("Store: subscribe is idempotent and unsubscribe reports whether it existed") {
  if (!have_store()) return;
  StoreCase c;
  CHECK(c.subscribe("ann", "cats"));
  CHECK_FALSE(c.subscribe("ann", "cats"));
  CHECK(c.subscribers("cats", "", 100) == std::vector<UserId>{"ann"});

  CHECK(c.unsubscribe("ann", "cats"));
  CHECK_FALSE(c.unsubscribe("ann", "cats"));
  CHECK_FALSE(c.unsubscribe("ann", "dogs"));
  CHECK(c.subscribers("cats", "", 100).empty());
  CHECK(c.subscriptions("ann").empty());
  CHECK(c.subscribe("ann", "cats"));  // new again
}

TEST_CASE("Store: subscribers are paged by user id (keyset), each exactly once") {
  if (!have_store()) return;
  StoreCase c;
  constexpr int kUsers = 2'500;
  std::vector<UserId> users;
  for (int i = 0; i < kUsers; ++i) {
    std::string id = std::to_string(i);
    users.push_back("u" + std::string(4 - id.size(), '0') + id);
  }
  std::vector<UserId> shuffled = users;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));

  // All subscriptions in flight at once; the completions are counted as they arrive.
  auto done = std::make_shared<int>(0);
  auto failed = std::make_shared<int>(0);
  for (const UserId& u : shuffled) {
    c.store->subscribe(u, "celebrity",
                       Completion<bool>(c.h.executor(), [done, failed](Result<bool> r) {
                         ++*done;
                         if (!r.ok() || !r.value()) ++*failed;
                       }));
  }
  c.h.run_until([&] { return *done == kUsers; }, "2,500 subscribe completions");
  CHECK(*failed == 0);
  c.subscribe("someone-else", "other-topic");

  std::vector<UserId> seen;
  std::vector<std::size_t> sizes;
  UserId after;
  for (int guard = 0; guard < 10; ++guard) {
    const std::vector<UserId> page = c.subscribers("celebrity", after, 1'000);
    sizes.push_back(page.size());
    if (page.empty()) break;
    CHECK(std::is_sorted(page.begin(), page.end()));
    CHECK(page.front() > after);
    seen.insert(seen.end(), page.begin(), page.end());
    after = page.back();
  }
  CHECK(sizes == std::vector<std::size_t>{1'000, 1'000, 500, 0});
  CHECK(seen == users);  // ascending, each exactly once, nothing from the other topic

  // `after` need not be a subscriber; limit bounds the page.
  CHECK(c.subscribers("celebrity", "u0999x", 2) == std::vector<UserId>{"u1000", "u1001"});
  CHECK(c.subscribers("celebrity", "u2499", 10).empty());
  CHECK(c.subscribers("nobody-follows", "", 10).empty());
}

TEST_CASE("Store: subscriptions lists a user's topics in ascending order") {
  if (!have_store()) return;
  StoreCase c;
  for (const char* topic : {"zebra", "apple", "mango", "banana"}) c.subscribe("lee", topic);
  c.subscribe("max", "kiwi");
  c.unsubscribe("lee", "mango");
  CHECK(c.subscriptions("lee") == std::vector<std::string>{"apple", "banana", "zebra"});
  CHECK(c.subscriptions("max") == std::vector<std::string>{"kiwi"});
  CHECK(c.subscriptions("nobody").empty());
}

TEST_CASE("Store: subscriptions are paged by topic name (keyset), each exactly once") {
  if (!have_store()) return;
  StoreCase c;
  std::set<std::string> topics;
  for (int i = 0; i < 25; ++i) {
    const std::string t = "t" + std::to_string(i * 7 % 25);
    topics.insert(t);
    c.subscribe("pat", t);
  }
  c.subscribe("other", "t3");
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    std::vector<std::string> page = c.subscriptions("pat", after, 10);
    CHECK(page.size() <= 10);
    seen.insert(seen.end(), page.begin(), page.end());
    if (page.size() < 10) break;
    after = page.back();
  }
  CHECK(seen == std::vector<std::string>(topics.begin(), topics.end()));
  CHECK(c.subscriptions("pat", "t9").empty());  // nothing after the last name
  CHECK(c.subscriptions("pat", "t1", 2) == std::vector<std::string>{"t10", "t11"});
  CHECK(c.subscriptions("pat", "", 0).empty());
}

// ---- dead letters ----

TEST_CASE("Store: dead letters come back by seq, at most limit, after a seq") {
  if (!have_store()) return;
  StoreCase c;
  auto letter = [](UserId user, Seq seq, TimePoint at) {
    DeadLetter d;
    d.user = std::move(user);
    d.seq = seq;
    d.notification_id = 5'000 + seq;
    d.attempts = 3;
    d.at = at;
    d.reason = "ack timeout after 3 attempts";
    return d;
  };
  c.add_dead_letter(letter("nia", 2, t0 + 2s));
  c.add_dead_letter(letter("nia", 1, t0 + 1s));  // recorded later, but older
  c.add_dead_letter(letter("nia", 3, t0 + 3s));
  c.add_dead_letter(letter("oz", 9, t0));

  const std::vector<DeadLetter> all = c.dead_letters("nia", 10);
  REQUIRE(all.size() == 3);
  CHECK(all[0].seq == 1);
  CHECK(all[1].seq == 2);
  CHECK(all[2].seq == 3);
  CHECK(all[0].user == "nia");
  CHECK(all[0].notification_id == 5'001);
  CHECK(all[0].attempts == 3);
  CHECK(all[0].at == t0 + 1s);
  CHECK(all[0].reason == "ack timeout after 3 attempts");

  const std::vector<DeadLetter> two = c.dead_letters("nia", 2);
  REQUIRE(two.size() == 2);
  CHECK(two[0].seq == 1);
  CHECK(two[1].seq == 2);
  CHECK(c.dead_letters("nia", 0).empty());
  CHECK(c.dead_letters("oz", 10).size() == 1);
  CHECK(c.dead_letters("nobody", 10).empty());
  const std::vector<DeadLetter> after_one = c.dead_letters("nia", 10, 1);
  REQUIRE(after_one.size() == 2);
  CHECK(after_one[0].seq == 2);
  CHECK(c.dead_letters("nia", 10, 3).empty());
}

TEST_CASE("Store: one dead letter per entry - remove_dead_letter deletes only that one") {
  if (!have_store()) return;
  StoreCase c;
  DeadLetter d;
  d.user = "ula";
  d.seq = 4;
  d.notification_id = 77;
  d.attempts = 3;
  d.at = t0;
  d.reason = "first";
  c.add_dead_letter(d);
  d.attempts = 5;
  d.at = t0 + 1min;
  d.reason = "again after a retry";
  c.add_dead_letter(d);  // the same entry dead-lettered again: replaces the first
  d.seq = 5;
  c.add_dead_letter(d);
  d.user = "vic";
  d.seq = 4;
  c.add_dead_letter(d);

  std::vector<DeadLetter> all = c.dead_letters("ula", 10);
  REQUIRE(all.size() == 2);
  CHECK(all[0].seq == 4);
  CHECK(all[0].attempts == 5);
  CHECK(all[0].reason == "again after a retry");
  CHECK(all[0].at == t0 + 1min);

  CHECK(c.remove_dead_letter("ula", 4));
  CHECK_FALSE(c.remove_dead_letter("ula", 4));
  CHECK_FALSE(c.remove_dead_letter("nobody", 4));
  all = c.dead_letters("ula", 10);
  REQUIRE(all.size() == 1);
  CHECK(all[0].seq == 5);
  CHECK(c.dead_letters("vic", 10).size() == 1);  // another user's is untouched
}

// ---- concurrency ----

TEST_CASE("Store: concurrent appends to one stream from 8 threads get seqs 1..1600 once each") {
  if (!have_store()) return;
  StoreCase c;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  constexpr int kTotal = kThreads * kPerThread;
  const StreamId s = StreamId::topic("hot");

  // Notifications are made up front (StoreCase is not thread-safe); each thread only calls
  // append, and the completions all land on the test thread.
  std::vector<std::vector<std::shared_ptr<const Notification>>> notes(kThreads);
  for (auto& list : notes) {
    for (int i = 0; i < kPerThread; ++i) list.push_back(c.note());
  }
  auto results = std::make_shared<std::vector<Result<AppendResult>>>();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& n : notes[static_cast<std::size_t>(t)]) {
        c.store->append(append_request({s}, n),
                        Completion<AppendResult>(c.h.executor(), [results](Result<AppendResult> r) {
                          results->push_back(std::move(r));
                        }));
      }
    });
  }
  c.h.run_until([&] { return results->size() == static_cast<std::size_t>(kTotal); },
                "1,600 concurrent appends");
  for (auto& th : threads) th.join();

  std::map<Seq, NotificationId> by_seq;
  int failures = 0;
  for (const auto& r : *results) {
    if (!r.ok() || r->positions.size() != 1) {
      ++failures;
      continue;
    }
    by_seq.emplace(r->positions[0].seq, r->id);
  }
  CHECK(failures == 0);
  REQUIRE(by_seq.size() == static_cast<std::size_t>(kTotal));  // no seq handed out twice
  CHECK(by_seq.begin()->first == 1);
  CHECK(by_seq.rbegin()->first == static_cast<Seq>(kTotal));

  // The stream holds each notification once, at the seq its append reported.
  const ReadResult r = c.read_all(s);
  CHECK(r.info.head == static_cast<Seq>(kTotal));
  REQUIRE(r.entries.size() == static_cast<std::size_t>(kTotal));
  std::set<NotificationId> ids;
  int mismatches = 0;
  for (const Entry& e : r.entries) {
    ids.insert(e.notification->id);
    if (by_seq[e.seq] != e.notification->id) ++mismatches;
  }
  CHECK(mismatches == 0);
  CHECK(ids.size() == static_cast<std::size_t>(kTotal));
}

TEST_CASE("Store: concurrent multi-stream appends are atomic and ordered alike in every stream") {
  if (!have_store()) return;
  StoreCase c;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  constexpr std::size_t kTotal = kThreads * kPerThread;
  const StreamId x = StreamId::inbox("x");
  const StreamId y = StreamId::inbox("y");

  std::vector<std::vector<std::shared_ptr<const Notification>>> notes(kThreads);
  for (auto& list : notes) {
    for (int i = 0; i < kPerThread; ++i) list.push_back(c.note());
  }
  auto completed = std::make_shared<std::size_t>(0);
  auto failures = std::make_shared<std::size_t>(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Half the threads list the streams in the other order (a lock-order trap).
    const std::vector<StreamId> streams =
        t % 2 == 0 ? std::vector<StreamId>{x, y} : std::vector<StreamId>{y, x};
    threads.emplace_back([&, t, streams] {
      for (const auto& n : notes[static_cast<std::size_t>(t)]) {
        c.store->append(
            append_request(streams, n),
            Completion<AppendResult>(c.h.executor(), [completed, failures](Result<AppendResult> r) {
              ++*completed;
              if (!r.ok()) ++*failures;
            }));
      }
    });
  }
  c.h.run_until([&] { return *completed == kTotal; }, "400 concurrent two-stream appends");
  for (auto& th : threads) th.join();
  CHECK(*failures == 0);

  auto order = [&](const StreamId& s) {
    std::vector<NotificationId> ids;
    for (const Entry& e : c.read_all(s).entries) ids.push_back(e.notification->id);
    return ids;
  };
  const std::vector<NotificationId> in_x = order(x);
  const std::vector<NotificationId> in_y = order(y);
  CHECK(in_x.size() == kTotal);
  CHECK(in_x == in_y);
}

// ---- topics ----

namespace {

using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

Counts counts(const std::vector<TopicCount>& page) {
  Counts out;
  for (const TopicCount& t : page) out.emplace_back(t.topic, t.subscribers);
  return out;
}

}  // namespace

TEST_CASE("Store: topics lists subscribed topics with their subscriber counts, paged by name") {
  if (!have_store()) return;
  StoreCase c;
  CHECK(c.topics("", 10).empty());
  for (const char* user : {"u1", "u2", "u3"}) c.subscribe(user, "news");
  c.subscribe("u1", "cats");
  for (const char* user : {"u1", "u2"}) c.subscribe(user, "dogs");
  c.subscribe("u2", "gone");
  c.unsubscribe("u2", "gone");  // no subscriber left: not listed
  c.unsubscribe("u3", "news");

  CHECK(counts(c.topics("", 10)) == Counts{{"cats", 1}, {"dogs", 2}, {"news", 2}});
  CHECK(counts(c.topics("", 2)) == Counts{{"cats", 1}, {"dogs", 2}});
  CHECK(counts(c.topics("dogs", 2)) == Counts{{"news", 2}});
  CHECK(counts(c.topics("d", 1)) == Counts{{"dogs", 2}});  // `after` need not be a topic
  CHECK(c.topics("news", 10).empty());
  CHECK(c.topics("", 0).empty());
}

TEST_CASE("Store: topics pages through many topics, each exactly once") {
  if (!have_store()) return;
  StoreCase c;
  Counts expected;
  for (int i = 0; i < 30; ++i) {
    const std::string topic = "t" + std::to_string(100 + i);
    for (int u = 0; u <= i % 4; ++u) c.subscribe("user" + std::to_string(u), topic);
    expected.emplace_back(topic, i % 4 + 1);
  }
  Counts seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    const std::vector<TopicCount> page = c.topics(after, 7);
    CHECK(page.size() <= 7);
    Counts got = counts(page);
    seen.insert(seen.end(), got.begin(), got.end());
    if (page.size() < 7) break;
    after = page.back().topic;
  }
  CHECK(seen == expected);
}

}  // namespace herald::conformance
