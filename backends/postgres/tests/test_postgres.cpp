// What only the PostgreSQL Store promises beyond the conformance suite: a durable epoch,
// safe concurrent setup, setup errors, seqs under many writers, PostgreSQL restarts,
// statement timeouts and batched purges.

#include <atomic>
#include <cstdint>
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/postgres/store.hpp"
#include "migrations.hpp"
#include "pg_env.hpp"

namespace herald::postgres::test {
namespace {

using namespace std::chrono_literals;
using conformance::Harness;
using conformance::ok_value;
using conformance::t0;

std::shared_ptr<const Notification> note(NotificationId id, std::optional<TimePoint> expires = {},
                                         std::string key = {}) {
  auto n = std::make_shared<Notification>();
  n->id = id;
  n->type = "test.pg";
  n->data = "{\"id\":" + std::to_string(id) + "}";
  n->created_at = t0;
  n->expires_at = expires;
  n->idempotency_key = std::move(key);
  return n;
}

// Every append here remembers its idempotency key for 10 minutes.
AppendRequest request(std::vector<StreamId> streams, std::shared_ptr<const Notification> n) {
  return conformance::append_request(std::move(streams), std::move(n), 10min);
}

ReadQuery after(Seq seq, std::size_t limit = 100'000) {
  ReadQuery q;
  q.after = seq;
  q.limit = limit;
  q.now = t0;
  return q;
}

Result<AppendResult> append(Harness& h, Store& store, AppendRequest r) {
  return h.wait<AppendResult>([&](auto done) { store.append(r, done); }, "append");
}

ReadResult read(Harness& h, Store& store, const StreamId& s, ReadQuery q = after(0)) {
  return ok_value(h.wait<ReadResult>([&](auto done) { store.read(s, q, done); }, "read"), "read");
}

Result<void> ready(Harness& h, PostgresStore& store) {
  return h.wait<void>([&](auto done) { store.ready(done); }, "ready");
}

// Restarts the server if a test stopped it and failed before starting it again.
struct RestartGuard {
  PgServer& server;
  bool down = false;
  ~RestartGuard() {
    if (down) server.start();
  }
};

}  // namespace

TEST_CASE("PostgresStore: the epoch and the data survive a new store object on the same schema") {
  TestEnv& env = TestEnv::get();
  Harness h;
  const std::string schema = env.new_schema();
  auto first = env.make_store(schema);
  const StreamId inbox = StreamId::inbox("durable");
  const AppendResult a = ok_value(append(h, *first, request({inbox}, note(1))), "append");
  REQUIRE(a.positions.size() == 1);
  const Epoch epoch = first->epoch();
  CHECK(epoch != 0);
  CHECK(a.positions[0].epoch == epoch);
  first.reset();

  auto second = env.make_store(schema);
  CHECK(second->epoch() == epoch);
  const ReadResult r = read(h, *second, inbox);
  CHECK(r.info.epoch == epoch);
  CHECK(r.info.head == 1);
  REQUIRE(r.entries.size() == 1);
  CHECK(r.entries[0].notification->id == 1);

  // Another schema is another store: another epoch.
  CHECK(env.make_store()->epoch() != epoch);
}

TEST_CASE("PostgresStore: stores starting at once on a new schema apply each migration once") {
  TestEnv& env = TestEnv::get();
  const std::string schema = env.new_schema();
  constexpr int kStores = 4;
  std::vector<std::shared_ptr<PostgresStore>> stores(kStores);
  std::vector<std::string> errors(kStores);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      try {
        stores[static_cast<std::size_t>(i)] = env.make_store(schema);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStores; ++i) {
    INFO("store " << i << ": " << errors[static_cast<std::size_t>(i)]);
    REQUIRE(static_cast<bool>(stores[static_cast<std::size_t>(i)]));
    CHECK(stores[static_cast<std::size_t>(i)]->epoch() == stores[0]->epoch());
  }
  // Each version once, none missing (count = highest version), and there is more than one.
  CHECK(env.query("SELECT count(*) = count(DISTINCT version) AND count(*) = max(version) "
                  "AND count(*) >= 2 FROM \"" + schema + "\".schema_migrations") == "t");
  CHECK(env.query("SELECT count(*) FROM \"" + schema + "\".meta") == "1");
}

TEST_CASE("PostgresStore: migration 3 keeps an older schema's idempotency keys and dead letters") {
  TestEnv& env = TestEnv::get();
  Harness h;
  const std::string schema = env.new_schema();
  const std::string quoted = "\"" + schema + "\"";
  const std::string t = std::to_string(to_unix_ms(t0));
  // The schema as a herald at migration 2 left it, with a key and dead letters recorded
  // (the same entry twice: an older herald kept every one).
  std::string setup = "CREATE SCHEMA " + quoted + "; SET search_path TO " + quoted +
                      "; CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                      "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());";
  for (const detail::Migration& m : detail::migrations()) {
    if (m.version > 2) continue;
    setup += std::string(m.sql) + ";INSERT INTO schema_migrations VALUES (" +
             std::to_string(m.version) + ", 'old');";
  }
  setup += "INSERT INTO meta (epoch) VALUES (42);";
  setup += "INSERT INTO idempotency_keys (key, notification_id, created_ms) "
           "VALUES ('order-1', 7, " + t + ");";
  setup += "INSERT INTO dead_letters (user_id, seq, notification_id, attempts, at_ms, reason) "
           "VALUES ('dl', 5, 7, 3, " + t + ", 'old'), ('dl', 5, 7, 4, " + t + " + 1000, "
           "'newer'), ('dl', 6, 8, 3, " + t + ", 'other');";
  env.query(setup);

  auto store = env.make_store(schema);
  CHECK(store->epoch() == 42);
  // Migrated to the latest (3 and every later one).
  CHECK(env.query("SELECT max(version) FROM " + quoted + ".schema_migrations") ==
        std::to_string(detail::migrations().back().version));
  // The old key is the empty scope's, and matches any request (it has no fingerprint).
  AppendRequest retry = request({StreamId::inbox("a")}, note(8, {}, "order-1"));
  retry.fingerprint = "f";
  const AppendResult dup = ok_value(append(h, *store, retry), "append");
  CHECK(dup.duplicate);
  CHECK(dup.id == 7);
  AppendRequest elsewhere = request({StreamId::inbox("a")}, note(9, {}, "order-1"));
  elsewhere.idempotency_scope = "addr:10.0.0.1";
  CHECK_FALSE(ok_value(append(h, *store, elsewhere), "append").duplicate);
  // One dead letter per entry: the newest of the repeats.
  const std::vector<DeadLetter> letters =
      ok_value(h.wait<std::vector<DeadLetter>>(
                   [&](auto done) { store->dead_letters("dl", 0, 10, done); }, "dead_letters"),
               "dead_letters");
  REQUIRE(letters.size() == 2);
  CHECK(letters[0].seq == 5);
  CHECK(letters[0].reason == "newer");
  CHECK(letters[0].attempts == 4);
  CHECK(letters[1].seq == 6);
}

TEST_CASE("PostgresStore: bad options and an unreachable server throw herald::Error") {
  TestEnv& env = TestEnv::get();
  auto message_of = [&](PostgresOptions o) -> std::string {
    try {
      PostgresStore::create(env.io(), std::move(o));
    } catch (const Error& e) {
      return e.what();
    }
    return "no exception";
  };
  PostgresOptions o = env.options("ok_schema");
  o.url.clear();
  CHECK(message_of(o).find("PostgresOptions::url is empty") != std::string::npos);
  o = env.options("1; DROP TABLE x");
  CHECK(message_of(o).find("PostgresOptions::schema") != std::string::npos);
  o = env.options("ok_schema");
  o.pool_size = 0;
  CHECK(message_of(o).find("pool_size") != std::string::npos);
  o = env.options("ok_schema");
  o.url = "postgresql://postgres@127.0.0.1:1/postgres";  // nothing listens on port 1
  CHECK(message_of(o).find("cannot connect to the database") != std::string::npos);
  o.url = "host=127.0.0.1 port=" + std::to_string(env.server().port()) + " user=nobody";
  CHECK(message_of(o).find("cannot connect to the database") != std::string::npos);
}

// The bigserial trap: if seqs were taken from a sequence, a writer could commit seq 5 before
// another commits seq 4, and a reader paging by `after` would step over 4 for good.
TEST_CASE("PostgresStore: writers on many connections give one inbox gap-free seqs that a polling "
          "reader never skips") {
  TestEnv& env = TestEnv::get();
  Harness h;
  const std::string schema = env.new_schema();
  constexpr int kStores = 4;       // 4 stores x 4 connections: 16 concurrent writers
  constexpr int kPerStore = 250;
  constexpr Seq kTotal = kStores * kPerStore;
  std::vector<std::shared_ptr<PostgresStore>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(env.make_store(schema));
  auto reader = env.make_store(schema);
  const StreamId inbox = StreamId::inbox("hammered");

  // The reader: read(after = last) again as soon as each page arrives; every page must
  // continue exactly at last + 1 with no hole.
  Seq last = 0;
  std::size_t holes = 0;
  std::size_t reads = 0;
  std::function<void()> poll = [&] {
    reader->read(inbox, after(last, 10'000),
                 Completion<ReadResult>(h.executor(), [&](Result<ReadResult> r) {
                   ++reads;
                   if (r.ok()) {
                     for (const Entry& e : r->entries) {
                       if (e.seq != last + 1) ++holes;
                       last = e.seq;
                     }
                   }
                   if (last < kTotal) poll();
                 }));
  };
  poll();

  auto results = std::make_shared<std::vector<Result<AppendResult>>>();
  std::vector<std::thread> writers;
  for (int s = 0; s < kStores; ++s) {
    writers.emplace_back([&, s] {
      for (int i = 0; i < kPerStore; ++i) {
        const auto id = static_cast<NotificationId>(1 + s * kPerStore + i);
        stores[static_cast<std::size_t>(s)]->append(
            request({inbox}, note(id)),
            Completion<AppendResult>(h.executor(),
                                     [results](Result<AppendResult> r) { results->push_back(r); }));
      }
    });
  }
  h.run_until([&] { return results->size() == kTotal && last == kTotal; },
              "1,000 appends from 4 stores and the reader reaching the end");
  for (auto& t : writers) t.join();

  std::set<Seq> seqs;
  std::size_t failures = 0;
  for (const auto& r : *results) {
    if (!r.ok() || r->positions.size() != 1) {
      ++failures;
      continue;
    }
    seqs.insert(r->positions[0].seq);
  }
  CHECK(failures == 0);
  CHECK(seqs.size() == kTotal);
  CHECK(*seqs.begin() == 1);
  CHECK(*seqs.rbegin() == kTotal);
  CHECK(holes == 0);
  MESSAGE("the reader took " << reads << " pages to follow 1,000 concurrent appends");
}

// Submits `requests` at once; the results, in request order, once all arrived.
std::vector<Result<AppendResult>> append_all(Harness& h, Store& store,
                                             std::vector<AppendRequest> requests) {
  auto results = std::make_shared<std::vector<std::optional<Result<AppendResult>>>>(requests.size());
  auto arrived = std::make_shared<std::size_t>(0);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    store.append(std::move(requests[i]),
                 Completion<AppendResult>(h.executor(), [results, arrived, i](Result<AppendResult> r) {
                   (*results)[i] = std::move(r);
                   ++*arrived;
                 }));
  }
  h.run_until([&] { return *arrived == results->size(); }, "every append's completion");
  std::vector<Result<AppendResult>> out;
  for (auto& r : *results) out.push_back(std::move(*r));
  return out;
}

// A store (one connection unless told) and an inbox holding seq 1, whose stream row another session
// locks: the next append waits on that lock and every append after it queues behind it.
// submit() posts the unlock onto the harness's executor (it runs once append_all has
// submitted every request and waits for their completions), then submits.
struct LockedInbox {
  LockedInbox(TestEnv& env, Harness& harness, const std::string& user, std::size_t pool_size = 1)
      : h(harness), options(env.options(env.new_schema())), inbox(StreamId::inbox(user)),
        blocker(env.server().url()) {
    options.pool_size = pool_size;
    store = PostgresStore::create(env.io(), options);
    ok_value(append(harness, *store, request({inbox}, note(1))), "append");
    blocker.exec("BEGIN");
    blocker.exec("SELECT head FROM \"" + options.schema + "\".streams WHERE name = '" +
                 inbox.str() + "' FOR UPDATE");
  }
  std::vector<Result<AppendResult>> submit(std::vector<AppendRequest> requests) {
    h.executor()->post([this] { blocker.exec("ROLLBACK"); });
    return append_all(h, *store, std::move(requests));
  }

  Harness& h;
  PostgresOptions options;
  StreamId inbox;
  SqlSession blocker;
  std::shared_ptr<PostgresStore> store;
};

// Group commit: with one connection, the appends submitted while a first one is held up by
// a row lock must all go in the next transaction, except one with another topic retention
// (entries written by one transaction share their xmin).
TEST_CASE("PostgresStore: appends waiting for a busy connection commit together, in queue order, "
          "and a key twice in one batch is one notification") {
  TestEnv& env = TestEnv::get();
  Harness h;
  LockedInbox locked(env, h, "batched");
  const StreamId inbox = locked.inbox;
  const StreamId other = StreamId::inbox("other");
  std::vector<AppendRequest> requests;
  for (NotificationId id = 2; id <= 202; ++id) requests.push_back(request({inbox}, note(id)));
  requests.push_back(request({other, inbox}, note(203, {}, "same-key")));
  requests.push_back(request({other}, note(204, {}, "same-key")));
  // Another topic retention: append_batch takes one, so this one goes in a batch of its own.
  requests.push_back(request({other}, note(205)));
  requests.back().topic_retention = 7;
  // The first goes at once and waits on the lock; the rest queue behind it.
  const auto results = locked.submit(std::move(requests));
  Store& store = *locked.store;
  const std::string schema = locked.options.schema;

  for (std::size_t i = 0; i + 3 < results.size(); ++i) {
    const AppendResult r = ok_value(results[i], "append");
    REQUIRE(r.positions.size() == 1);
    CHECK(r.positions[0].seq == i + 2);  // queue order is seq order
  }
  const AppendResult keyed = ok_value(results[201], "keyed append");
  CHECK_FALSE(keyed.duplicate);
  REQUIRE(keyed.positions.size() == 2);
  CHECK(keyed.positions[0].stream == other);
  CHECK(keyed.positions[0].seq == 1);
  CHECK(keyed.positions[1].seq == 203);
  const AppendResult again = ok_value(results[202], "same key");
  CHECK(again.duplicate);
  CHECK(again.id == 203);
  CHECK(again.positions.empty());
  CHECK(ok_value(results[203], "other retention").positions[0].seq == 2);
  CHECK(read(h, store, other).entries.size() == 2);
  CHECK(read(h, store, inbox).info.head == 203);

  const std::string transactions = env.query(
      "SELECT count(DISTINCT e.xmin::text) FROM \"" + schema + "\".entries e WHERE e.seq > 1 "
      "OR e.stream_id <> (SELECT id FROM \"" + schema + "\".streams WHERE name = 'inbox:batched')");
  CHECK(transactions == "3");  // the first append, the batch, the other retention
}

TEST_CASE("PostgresStore: a unicast append does not wait behind a fan-out chunk that is held "
          "up") {
  TestEnv& env = TestEnv::get();
  Harness h;
  LockedInbox locked(env, h, "fan000", 2);
  PostgresStore& store = *locked.store;

  std::vector<StreamId> chunk;
  for (int i = 0; i < 300; ++i) {
    std::string n = std::to_string(i);
    chunk.push_back(StreamId::inbox("fan" + std::string(3 - n.size(), '0') + n));
  }
  std::optional<Result<AppendResult>> fanned;
  store.append(request(chunk, note(2)),
               Completion<AppendResult>(h.executor(), [&](Result<AppendResult> r) { fanned = r; }));
  // The chunk waits on the lock; a small append goes beside it and completes.
  const AppendResult alone =
      ok_value(append(h, store, request({StreamId::inbox("unicast")}, note(3))), "unicast");
  CHECK(alone.positions[0].seq == 1);
  CHECK_FALSE(fanned.has_value());
  locked.blocker.exec("ROLLBACK");
  h.run_until([&] { return fanned.has_value(); }, "the fan-out chunk");
  CHECK(ok_value(*fanned, "chunk").positions.size() == 300);
}

// Re-runs `sql` on one session until it returns `expected`, at most 5 s: for states only the
// database server sees (which backend waits on what), so there is no event to wait on.
void wait_for_sql(TestEnv& env, const std::string& sql, const std::string& expected,
                  const std::string& what) {
  SqlSession session(env.server().url());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (std::string got = session.exec(sql); got != expected; got = session.exec(sql)) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "timed out after 5 s waiting for: " << what << " (last: " << got << ")");
    std::this_thread::sleep_for(10ms);
  }
}

// While a connection of the pool is opening, a job does not go behind a busy connection: the
// opening one takes it. Here the connection that made the first append is cut, and its
// reopening is held (its session setup prepares a statement on a table another session locks)
// while a fan-out chunk waits on the other one.
TEST_CASE(
    "PostgresStore: a unicast append waits for a reopening connection, not behind a "
    "held-up fan-out chunk") {
  TestEnv& env = TestEnv::get();
  Harness h;
  const std::string since = env.query("SELECT clock_timestamp()");
  LockedInbox locked(env, h, "fan000", 2);
  PostgresStore& store = *locked.store;
  const std::string ours =
      " FROM pg_stat_activity WHERE application_name = 'herald' AND "
      "backend_start >= '" +
      since + "'";
  // Both open: one ran the append last, the other the last statement of its setup.
  wait_for_sql(env,
               "SELECT count(*) FILTER (WHERE query LIKE 'SELECT out_req%') || ',' || "
               "count(*) FILTER (WHERE query = 'SELECT 1')" +
                   ours,
               "1,1", "both connections open");
  SqlSession holder(env.server().url());
  const std::string table = "\"" + locked.options.schema + "\".dead_letters";
  holder.exec("BEGIN");
  holder.exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
  env.query("SELECT pg_terminate_backend(pid)" + ours + " AND query LIKE 'SELECT out_req%'");
  wait_for_sql(
      env,
      "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '" + table + "'::regclass",
      "1", "the cut connection reopening, its setup held");

  std::vector<StreamId> chunk;
  for (int i = 0; i < 300; ++i) chunk.push_back(StreamId::inbox("chunk" + std::to_string(i)));
  chunk.push_back(locked.inbox);  // locked: the chunk waits on the open connection
  std::optional<Result<AppendResult>> fanned;
  store.append(request(chunk, note(2)),
               Completion<AppendResult>(h.executor(), [&](Result<AppendResult> r) { fanned = r; }));
  std::optional<Result<AppendResult>> alone;
  store.append(request({StreamId::inbox("unicast")}, note(3)),
               Completion<AppendResult>(h.executor(), [&](Result<AppendResult> r) { alone = r; }));
  holder.exec("ROLLBACK");
  h.run_until([&] { return alone.has_value(); }, "the unicast append, on the reopened connection");
  CHECK(ok_value(*alone, "unicast").positions[0].seq == 1);
  CHECK_FALSE(fanned.has_value());
  locked.blocker.exec("ROLLBACK");
  h.run_until([&] { return fanned.has_value(); }, "the fan-out chunk");
  CHECK(ok_value(*fanned, "chunk").positions.size() == 301);
}

TEST_CASE("PostgresStore: a bad append in a batch fails alone and the others are stored") {
  TestEnv& env = TestEnv::get();
  Harness h;
  LockedInbox locked(env, h, "mixed");
  std::vector<AppendRequest> requests;
  for (NotificationId id = 2; id <= 6; ++id) {
    auto n = std::const_pointer_cast<Notification>(note(id));
    if (id == 4) n->data = "{not json";  // PostgreSQL rejects it: the json column
    requests.push_back(request({locked.inbox}, n));
  }
  const auto results = locked.submit(std::move(requests));

  CHECK(results[2].status().code() == Errc::invalid_argument);
  std::set<Seq> seqs;
  for (std::size_t i : {0, 1, 3, 4}) seqs.insert(ok_value(results[i], "good append").positions[0].seq);
  CHECK(seqs == std::set<Seq>{2, 3, 4, 5});
  const ReadResult r = read(h, *locked.store, locked.inbox);
  CHECK(r.info.head == 5);
  CHECK(r.entries.size() == 5);
}

// Batches on many connections lock the streams of all their appends: in name order, or two
// of them could deadlock (PostgreSQL would then abort one as unavailable).
TEST_CASE("PostgresStore: batches of multi-stream appends in random stream orders on many "
          "connections never deadlock and keep every stream gap-free") {
  TestEnv& env = TestEnv::get();
  Harness h;
  const std::string schema = env.new_schema();
  constexpr int kStores = 3;       // 3 stores x 4 connections
  constexpr int kPerStore = 300;
  constexpr int kStreams = 8;
  std::vector<std::shared_ptr<PostgresStore>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(env.make_store(schema));

  auto results = std::make_shared<std::vector<Result<AppendResult>>>();
  std::vector<std::thread> writers;
  for (int s = 0; s < kStores; ++s) {
    writers.emplace_back([&, s] {
      std::mt19937 random(static_cast<unsigned>(s + 1));
      for (int i = 0; i < kPerStore; ++i) {
        std::vector<StreamId> streams;
        for (int k = 0; k < kStreams; ++k) streams.push_back(StreamId::inbox("x" + std::to_string(k)));
        std::shuffle(streams.begin(), streams.end(), random);
        streams.resize(3);
        const auto id = static_cast<NotificationId>(1 + s * kPerStore + i);
        stores[static_cast<std::size_t>(s)]->append(
            request(std::move(streams), note(id)),
            Completion<AppendResult>(h.executor(),
                                     [results](Result<AppendResult> r) { results->push_back(r); }));
      }
    });
  }
  for (auto& t : writers) t.join();
  h.run_until([&] { return results->size() == kStores * kPerStore; }, "every append");

  std::map<std::string, std::set<Seq>> seqs;
  std::size_t failures = 0;
  for (const auto& r : *results) {
    if (!r.ok()) {
      ++failures;
      MESSAGE(r.status().message());
      continue;
    }
    for (const Position& p : r->positions) seqs[p.stream.str()].insert(p.seq);
  }
  CHECK(failures == 0);
  std::size_t total = 0;
  for (const auto& [stream, set] : seqs) {
    INFO(stream);
    CHECK(*set.begin() == 1);
    CHECK(*set.rbegin() == set.size());  // gap-free: n distinct seqs from 1 to n
    total += set.size();
    const ReadResult page = read(h, *stores[0], StreamId::inbox(stream.substr(6)));
    CHECK(page.info.head == set.size());
  }
  CHECK(total == kStores * kPerStore * 3);
}

TEST_CASE("PostgresStore: a PostgreSQL restart fails in-flight appends as unavailable, keeps "
          "acknowledged ones whole, and the store reconnects by itself") {
  TestEnv& env = TestEnv::get();
  Harness h;
  PostgresOptions options = env.options(env.new_schema());
  options.pool_size = 2;
  auto store = PostgresStore::create(env.io(), options);
  const StreamId a = StreamId::inbox("fault-a");
  const StreamId b = StreamId::inbox("fault-b");
  REQUIRE(ok_value(append(h, *store, request({a, b}, note(1))), "append").positions.size() == 2);

  // 300 two-stream appends in flight while the server dies.
  constexpr std::size_t kInFlight = 300;
  auto results = std::make_shared<std::map<NotificationId, Result<AppendResult>>>();
  for (NotificationId id = 100; id < 100 + kInFlight; ++id) {
    store->append(request({a, b}, note(id)),
                  Completion<AppendResult>(h.executor(), [results, id](Result<AppendResult> r) {
                    results->emplace(id, r);
                  }));
  }
  RestartGuard guard{env.server()};
  env.server().kill();
  guard.down = true;
  h.run_until([&] { return results->size() == kInFlight; }, "every in-flight append to end");

  std::size_t ok = 0;
  std::size_t wrong_errors = 0;
  for (const auto& [id, r] : *results) {
    if (r.ok()) {
      ++ok;
    } else if (r.status().code() != Errc::unavailable) {
      ++wrong_errors;
    }
  }
  CHECK(wrong_errors == 0);
  const Result<void> down = ready(h, *store);
  CHECK(down.status().code() == Errc::unavailable);
  const Result<AppendResult> refused = append(h, *store, request({a}, note(9'000)));
  CHECK(refused.status().code() == Errc::unavailable);

  env.server().start();
  guard.down = false;
  // The pool reconnects on its own; the first call after the restart may still meet a
  // connection that was mid-reconnect, so allow a few calls (each a real round trip).
  Result<void> up = ready(h, *store);
  for (int i = 0; i < 20 && !up.ok(); ++i) up = ready(h, *store);
  REQUIRE_MESSAGE(up.ok(), up.status().message());
  CHECK(store->connections() >= 1);

  // Every acknowledged append is there in both streams; none is in only one of them.
  const ReadResult in_a = read(h, *store, a);
  const ReadResult in_b = read(h, *store, b);
  std::map<NotificationId, Seq> seq_a;
  std::map<NotificationId, Seq> seq_b;
  for (const Entry& e : in_a.entries) seq_a[e.notification->id] = e.seq;
  for (const Entry& e : in_b.entries) seq_b[e.notification->id] = e.seq;
  std::size_t missing = 0;
  for (const auto& [id, r] : *results) {
    if (!r.ok()) continue;
    if (seq_a[id] != r->positions[0].seq || seq_b[id] != r->positions[1].seq) ++missing;
  }
  CHECK(missing == 0);
  CHECK(seq_a.size() == seq_b.size());
  CHECK(in_a.info.head == in_a.entries.size());  // no seq was lost to a half-written append
  CHECK(in_b.info.head == in_b.entries.size());
  const AppendResult after_restart =
      ok_value(append(h, *store, request({a}, note(10'000))), "append after the restart");
  CHECK(after_restart.positions[0].seq == in_a.info.head + 1);
  MESSAGE(ok << " of " << kInFlight << " in-flight appends were acknowledged before the kill");
}

TEST_CASE("PostgresStore: a statement over statement_timeout fails as unavailable and writes nothing") {
  TestEnv& env = TestEnv::get();
  Harness h;
  PostgresOptions options = env.options(env.new_schema());
  options.statement_timeout = 200ms;
  auto store = PostgresStore::create(env.io(), options);
  const StreamId inbox = StreamId::inbox("locked");
  ok_value(append(h, *store, request({inbox}, note(1))), "append");

  // Another session holds the stream's row lock: the append waits on it until cancelled.
  SqlSession blocker(env.server().url());
  blocker.exec("BEGIN");
  blocker.exec("SELECT head FROM \"" + options.schema +
               "\".streams WHERE name = 'inbox:locked' FOR UPDATE");
  const Result<AppendResult> cut = append(h, *store, request({inbox}, note(2)));
  CHECK(cut.status().code() == Errc::unavailable);
  CHECK(cut.status().message().find("statement timeout") != std::string::npos);
  blocker.exec("ROLLBACK");

  const AppendResult next = ok_value(append(h, *store, request({inbox}, note(3))), "append");
  CHECK(next.positions[0].seq == 2);
  CHECK(read(h, *store, inbox).entries.size() == 2);
}

TEST_CASE("PostgresStore: purge_expired works in bounded batches and forgets old idempotency keys") {
  TestEnv& env = TestEnv::get();
  Harness h;
  PostgresOptions options = env.options(env.new_schema());
  options.purge_batch = 2;
  options.idempotency_retention = 24h;
  auto store = PostgresStore::create(env.io(), options);
  for (NotificationId id = 1; id <= 5; ++id) {
    const StreamId s = StreamId::inbox("p" + std::to_string(id % 2));
    ok_value(append(h, *store, request({s}, note(id, t0 + 1min, "key-" + std::to_string(id)))),
             "append");
  }
  ok_value(append(h, *store, request({StreamId::inbox("p0")}, note(6))), "append");
  auto purge = [&](TimePoint now) {
    return ok_value(
        h.wait<std::uint64_t>([&](auto done) { store->purge_expired(now, done); }, "purge"),
        "purge");
  };
  CHECK(purge(t0 + 1min) == 5);  // three batches: 2, 2, 1
  CHECK(purge(t0 + 1min) == 0);
  CHECK(read(h, *store, StreamId::inbox("p0")).entries.size() == 1);
  CHECK(env.query("SELECT count(*) FROM \"" + options.schema + "\".notifications") == "1");

  // The keys outlive the notifications until idempotency_retention has passed.
  AppendRequest retry = request({StreamId::inbox("p1")}, note(7, {}, "key-1"));
  retry.dedup_window = 48h;
  CHECK(ok_value(append(h, *store, retry), "append").duplicate);
  purge(t0 + 25h);
  retry.notification = note(8, {}, "key-1");
  CHECK_FALSE(ok_value(append(h, *store, retry), "append").duplicate);
}

}  // namespace herald::postgres::test
