// PostgreSQL Store benchmarks (issue 5): a private PostgreSQL server started here with fsync
// on, measured through the real PostgresStore API. Prints figures; asserts nothing. Every
// loop is bounded in count and in time.
//
//   herald_store_bench [--appends=200000] [--users=10000] [--inflight=256] [--pool=4]
//                      [--depth=64] [--followers=100000] [--rows=10000000]
//                      [--history-users=100000] [--reads=2000] [--skip-history]
//
// Scenarios: (1) inbox appends/s, many single-stream appends in flight through the pool;
// (2) fan-out to `followers` subscribers (bulk-loaded with SQL), as the engine's chunked
// appends and as a real Engine::publish; (3) history page reads at `rows` inbox entries
// (bulk-loaded with SQL), and EXPLAIN of every prepared statement on that data.

// Standard headers before Asio: Asio's configuration depends on them (see docs/embedding).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <herald/herald.hpp>
#include <libpq-fe.h>

#include "herald/postgres/store.hpp"
#include "pg_server.hpp"
#include "statements.hpp"  // the statements the store prepares (EXPLAINed in scenario 3)

namespace {

using SteadyClock = std::chrono::steady_clock;
using herald::Result;

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// --name=value flags with defaults.
class Flags {
 public:
  Flags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw std::runtime_error("unknown argument " + a);
      const auto eq = a.find('=');
      values_[a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
          eq == std::string::npos ? "1" : a.substr(eq + 1);
    }
  }
  std::size_t num(const std::string& name, std::size_t fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : std::stoul(it->second);
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }

 private:
  std::map<std::string, std::string> values_;
};

// A blocking libpq session for bulk loads and EXPLAIN; notices (auto_explain) are collected.
class Sql {
 public:
  explicit Sql(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn_));
    PQsetNoticeReceiver(
        conn_,
        [](void* self, const PGresult* r) {
          static_cast<Sql*>(self)->notices_ += PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
          static_cast<Sql*>(self)->notices_ += "\n";
        },
        this);
  }
  ~Sql() { PQfinish(conn_); }
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;

  // Runs `sql`; returns every row's first column, one a line.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      std::string e = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error("SQL failed: " + e + "in: " + sql.substr(0, 300));
    }
    std::string out;
    for (int i = 0; i < PQntuples(r); ++i) out += std::string(PQgetvalue(r, i, 0)) + "\n";
    PQclear(r);
    return out;
  }
  // The first row's first column.
  std::string value(const std::string& sql) {
    const std::string all = exec(sql);
    return all.substr(0, all.find('\n'));
  }
  std::string take_notices() { return std::exchange(notices_, {}); }

 private:
  PGconn* conn_;
  std::string notices_;
};

// Completions of the store run on the executor's strand; the driving (main) thread waits
// here for them, bounded in time.
class Waiter {
 public:
  void done(bool ok) {
    std::lock_guard<std::mutex> lock(mutex_);
    --inflight_;
    ++finished_;
    if (!ok) ++failed_;
    cv_.notify_all();
  }
  void started() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++inflight_;
  }
  // Waits until at most `limit` calls are in flight; false at `deadline`.
  bool wait_below(std::size_t limit, SteadyClock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_until(lock, deadline, [&] { return inflight_ <= limit; });
  }
  std::size_t finished() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return finished_;
  }
  std::size_t failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t inflight_ = 0;
  std::size_t finished_ = 0;
  std::size_t failed_ = 0;
};

// Calls `start(complete)` once and waits (bounded) for `complete(value)`.
template <class T>
Result<T> call(const std::shared_ptr<herald::Executor>& ex,
               const std::function<void(herald::Completion<T>)>& start,
               std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  Result<T> out(herald::Status(herald::Errc::unavailable, "timed out in the benchmark"));
  start(herald::Completion<T>(ex, [&](Result<T> r) {
    std::lock_guard<std::mutex> lock(m);
    out = std::move(r);
    done = true;
    cv.notify_all();
  }));
  std::unique_lock<std::mutex> lock(m);
  cv.wait_for(lock, limit, [&] { return done; });
  if (!done) throw std::runtime_error("a store call did not complete in time");
  return out;
}

std::shared_ptr<const herald::Notification> note(herald::NotificationId id, const std::string& type) {
  auto n = std::make_shared<herald::Notification>();
  n->id = id;
  n->type = type;
  n->data = R"({"text":"benchmark","n":)" + std::to_string(id) + "}";
  n->created_at = herald::Clock::now();
  return n;
}

std::string user_name(const char* prefix, std::size_t i) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%s%07zu", prefix, i);
  return buffer;
}

// ---- 1. inbox appends/s ------------------------------------------------------------------

void bench_appends(herald::postgres::PostgresStore& store,
                   const std::shared_ptr<herald::Executor>& ex, std::size_t total,
                   std::size_t users, std::size_t inflight, herald::NotificationId& next_id) {
  Waiter w;
  const auto t0 = SteadyClock::now();
  const auto deadline = t0 + std::chrono::seconds(300);
  std::size_t issued = 0;
  for (; issued < total; ++issued) {
    if (!w.wait_below(inflight - 1, deadline)) break;
    herald::AppendRequest req;
    req.notification = note(next_id++, "bench.append");
    req.streams = {herald::StreamId::inbox(user_name("u", issued % users))};
    req.dedup_window = std::chrono::minutes(10);
    req.topic_retention = 1000;
    w.started();
    store.append(std::move(req), herald::Completion<herald::AppendResult>(
                                     ex, [&w](Result<herald::AppendResult> r) { w.done(r.ok()); }));
  }
  w.wait_below(0, deadline);
  const double secs = seconds_since(t0);
  std::printf("appends: %zu single-stream appends to %zu inboxes, %zu in flight: %.2f s = "
              "%.0f appends/s (%zu failed)\n",
              w.finished(), users, inflight, secs, static_cast<double>(w.finished()) / secs,
              w.failed());
}

// ---- 2. fan-out to followers --------------------------------------------------------------

// A fan-out on the store alone, one chunk at a time (the engine keeps two in flight and reads
// the next page ahead, see (b)): a keyset page of 1,000 subscribers, one append
// of their inboxes, repeat; first_chunk only for the first. Returns the entries written.
std::size_t chunked_fanout(herald::postgres::PostgresStore& store,
                           const std::shared_ptr<herald::Executor>& ex, const std::string& topic,
                           herald::NotificationId id) {
  constexpr std::size_t kChunk = 1000;
  auto n = note(id, "bench.fanout");
  std::string after;
  std::size_t written = 0;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(120);
  for (bool first = true; SteadyClock::now() < deadline; first = false) {
    auto page = call<std::vector<herald::UserId>>(ex, [&](auto done) {
      store.subscribers(topic, after, kChunk, std::move(done));
    });
    if (!page.ok()) throw std::runtime_error("subscribers: " + page.status().message());
    if (page->empty() && !first) break;
    herald::AppendRequest req;
    req.notification = n;
    req.first_chunk = first;
    req.dedup_window = std::chrono::minutes(10);
    req.topic_retention = 1000;
    for (const auto& u : *page) req.streams.push_back(herald::StreamId::inbox(u));
    auto r = call<herald::AppendResult>(ex, [&](auto done) { store.append(std::move(req), std::move(done)); });
    if (!r.ok()) throw std::runtime_error("append: " + r.status().message());
    written += r->positions.size();
    if (page->size() < kChunk) break;
    after = page->back();
  }
  return written;
}

void bench_fanout(const std::shared_ptr<herald::postgres::PostgresStore>& store,
                  const std::shared_ptr<herald::Executor>& ex, Sql& sql, std::size_t followers,
                  herald::NotificationId& next_id) {
  auto t0 = SteadyClock::now();
  sql.exec("INSERT INTO subscriptions (topic, user_id) SELECT 'star', 'f' || lpad(g::text, 7, "
           "'0') FROM generate_series(1, " + std::to_string(followers) + ") g");
  sql.exec("ANALYZE subscriptions");
  std::printf("fan-out: %zu subscriptions of topic 'star' bulk-loaded with SQL INSERT … "
              "generate_series in %.2f s (through subscribe() they would be %zu round trips)\n",
              followers, seconds_since(t0), followers);

  // (a) The store alone, as the engine drives it: the first fan-out creates the inboxes.
  for (int run = 1; run <= 2; ++run) {
    t0 = SteadyClock::now();
    const std::size_t written = chunked_fanout(*store, ex, "star", next_id++);
    std::printf("fan-out (store, 1,000 streams per append, sequential chunks) run %d: %zu "
                "inboxes in %.3f s%s\n",
                run, written, seconds_since(t0), run == 1 ? " (inboxes created)" : "");
  }

  // (b) A real Engine::publish with Target::followers: PostgresStore + in-memory registry
  // and broker, on the same io_context.
  herald::Backends backends;
  backends.store = store;
  backends.registry = herald::MemoryRegistry::create();
  backends.broker = herald::MemoryBrokerHub::create()->make_broker(ex);
  herald::EngineOptions options;
  options.instance_id = "bench";
  options.rate_limit.enabled = false;
  herald::Engine engine(ex, std::move(backends), options);
  {
    std::promise<herald::Status> started;
    engine.start([&](herald::Status s) { started.set_value(s); });
    auto f = started.get_future();
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready || !f.get().ok()) {
      throw std::runtime_error("the engine did not start");
    }
  }
  for (int run = 1; run <= 3; ++run) {
    herald::PublishRequest r;
    r.target = herald::Target::to_followers("star");
    r.type = "bench.fanout";
    r.data = R"({"text":"to every follower"})";
    std::promise<Result<herald::PublishResult>> published;
    t0 = SteadyClock::now();
    engine.publish(std::move(r), [&](Result<herald::PublishResult> x) { published.set_value(x); });
    auto f = published.get_future();
    if (f.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
      throw std::runtime_error("the engine's fan-out did not complete in 120 s");
    }
    auto x = f.get();
    std::printf("fan-out (Engine::publish, Target::followers) run %d: %s%zu inboxes in %.3f s\n",
                run, x.ok() ? "" : ("FAILED " + x.status().message() + " ").c_str(),
                x.ok() ? x->streams_written : 0, seconds_since(t0));
  }
  std::promise<void> stopped;
  engine.shutdown([&] { stopped.set_value(); });
  stopped.get_future().wait_for(std::chrono::seconds(30));
}

// ---- 3. history reads at 10M rows ---------------------------------------------------------

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void load_history(Sql& sql, std::size_t rows, std::size_t users) {
  const std::size_t per_user = std::max<std::size_t>(1, rows / users);
  const std::size_t notes = std::max<std::size_t>(1, rows / 10);
  const std::string base = "1000000000000000";  // ids apart from the other scenarios'
  auto t0 = SteadyClock::now();
  // Notifications shared by 10 entries each on average (small fan-outs); entries in seq
  // order per stream, half of each inbox read; heads match the entries.
  sql.exec("INSERT INTO notifications (id, type, data, sender, created_ms) SELECT " + base +
           " + g, 'bench.history', json_build_object('text', 'history', 'n', g), 'loader', "
           "1700000000000 + g FROM generate_series(1, " + std::to_string(notes) + ") g");
  sql.exec("INSERT INTO streams (name, head) SELECT 'inbox:h' || lpad(u::text, 7, '0'), " +
           std::to_string(per_user) + " FROM generate_series(1, " + std::to_string(users) + ") u");
  sql.exec("INSERT INTO entries (stream_id, seq, notification_id, read) SELECT s.id, q, " + base +
           " + 1 + (s.id * " + std::to_string(per_user) + " + q) % " + std::to_string(notes) +
           ", q <= " + std::to_string(per_user / 2) +
           " FROM streams s CROSS JOIN LATERAL generate_series(1, " + std::to_string(per_user) +
           ") q WHERE s.name LIKE 'inbox:h%' ORDER BY s.id, q");
  // The other tables the hot statements read, at proportionate sizes: an ack cursor per
  // user, an idempotency key per notification, a dead letter per 10 users.
  sql.exec("INSERT INTO ack_cursors (user_id, seq) SELECT 'h' || lpad(u::text, 7, '0'), " +
           std::to_string(per_user / 2) + " FROM generate_series(1, " + std::to_string(users) +
           ") u");
  sql.exec("INSERT INTO idempotency_keys (key, notification_id, created_ms) SELECT 'key-' || g, " +
           base + " + g, 1700000000000 + g FROM generate_series(1, " + std::to_string(notes) +
           ") g");
  sql.exec("INSERT INTO dead_letters (user_id, seq, notification_id, attempts, at_ms, reason) "
           "SELECT 'h' || lpad((g * 10)::text, 7, '0'), 1, " + base +
           " + 1, 3, 1700000000000 + g, 'no ack' FROM generate_series(1, " +
           std::to_string(users / 10) + ") g");
  const double load = seconds_since(t0);
  t0 = SteadyClock::now();
  sql.exec("VACUUM ANALYZE");
  std::printf("history: %zu entries in %zu inboxes (%zu each), %zu notifications (and as many "
              "idempotency keys, an ack cursor per inbox, a dead letter per 10) bulk-loaded "
              "with SQL generate_series in %.1f s, VACUUM ANALYZE %.1f s; entries table %s "
              "with its indexes, %s rows in total\n",
              users * per_user, users, per_user, notes, load, seconds_since(t0),
              sql.value("SELECT pg_size_pretty(pg_total_relation_size('entries'))").c_str(),
              sql.value("SELECT count(*) FROM entries").c_str());
}

void bench_reads(herald::postgres::PostgresStore& store, const std::shared_ptr<herald::Executor>& ex,
                 std::size_t reads, std::size_t users, std::size_t per_user) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<std::size_t> pick_user(1, users);
  std::uniform_int_distribution<std::size_t> pick_before(2, per_user + 1);
  std::vector<double> ms;
  std::size_t entries = 0;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(120);
  for (std::size_t i = 0; i < reads && SteadyClock::now() < deadline; ++i) {
    herald::ReadQuery q;
    q.order = herald::ReadQuery::Order::descending;
    q.before = pick_before(rng);
    q.limit = 50;
    q.now = herald::Clock::now();
    const auto stream = herald::StreamId::inbox(user_name("h", pick_user(rng)));
    const auto t0 = SteadyClock::now();
    auto r = call<herald::ReadResult>(ex, [&](auto done) { store.read(stream, q, std::move(done)); });
    ms.push_back(1e3 * seconds_since(t0));
    if (!r.ok()) throw std::runtime_error("read: " + r.status().message());
    entries += r->entries.size();
  }
  std::printf("history reads: %zu × read(descending, before=random, limit=50) on random inboxes, "
              "one at a time: p50 %.3f ms, p99 %.3f ms, max %.3f ms (%.1f entries per page)\n",
              ms.size(), percentile(ms, 0.5), percentile(ms, 0.99), percentile(ms, 1.0),
              static_cast<double>(entries) / static_cast<double>(std::max<std::size_t>(1, ms.size())));
}

// Example parameters of each prepared statement, on the loaded data.
std::map<std::string, std::vector<std::string>> explain_params() {
  const std::string inbox = "'inbox:h0004242'";
  const std::string user = "'h0004242'";
  const std::string now = std::to_string(herald::to_unix_ms(herald::Clock::now()));
  return {
      {"herald_append_batch",
       {"ARRAY[4242,4243]::bigint[]", "ARRAY['t','t']", "ARRAY['{}','{}']::json[]", "ARRAY['','']",
        "ARRAY[" + now + "," + now + "]::bigint[]", "ARRAY[NULL,NULL]::bigint[]", "ARRAY['k','']",
        "ARRAY[true,true]", "ARRAY[1,1,2]", "ARRAY['inbox:h0004242','topic:x','inbox:h0004243']",
        "600000", "1000", "ARRAY['addr:127.0.0.1','']", "ARRAY['0123456789abcdef','']"}},
      {"herald_read_asc", {inbox, "0", "60", now, "51"}},
      {"herald_read_desc", {inbox, "0", "60", now, "51"}},
      {"herald_inbox_state", {inbox, user, now}},
      {"herald_mark_read_some", {inbox, "ARRAY[1,2,3]::bigint[]"}},
      {"herald_mark_read_all", {inbox}},
      {"herald_remove", {inbox, "ARRAY[1,2,3]::bigint[]"}},
      {"herald_advance_ack", {user, "7"}},
      {"herald_subscribe", {"'star'", user}},
      {"herald_unsubscribe", {"'star'", user}},
      {"herald_subscribers", {"'star'", "'f0050000'", "1000"}},
      {"herald_subscriptions", {user, "''", "100"}},
      {"herald_add_dead_letter", {user, "1", "2", "3", now, "'r'"}},
      {"herald_dead_letters", {user, "0", "100"}},
      {"herald_remove_dead_letter", {user, "1"}},
      {"herald_purge_entries", {now, "5000"}},
      {"herald_purge_notes", {now, "5000"}},
      {"herald_purge_keys", {now, "5000"}},
      {"herald_ping", {}},
  };
}

// The plans of one prepared statement (custom and generic), with the append function's inner
// statements through auto_explain (nested statements, sent as notices). Each execution is
// rolled back.
std::string plans_of(Sql& sql, const herald::postgres::detail::StatementDef& def,
                     const std::string& args) {
  const std::string execute =
      std::string("EXECUTE ") + def.name + (args.empty() ? "" : "(" + args + ")");
  std::string plans;
  for (const char* mode : {"force_custom_plan", "force_generic_plan"}) {
    sql.exec(std::string("SET LOCAL plan_cache_mode = ") + mode);
    sql.exec("SAVEPOINT s");
    plans += sql.exec("EXPLAIN " + execute);
    sql.take_notices();  // EXPLAIN runs nothing
    sql.exec(execute);   // runs it: auto_explain reports the nested statements' plans
    plans += sql.take_notices();
    sql.exec("ROLLBACK TO SAVEPOINT s");
  }
  return plans;
}

// EXPLAINs every statement the store prepares on the loaded data, in one transaction that
// is rolled back. A plan with a Seq Scan is planned again with enable_seqscan off: if a Seq
// Scan remains, no index can serve it. Returns the statements with a Seq Scan.
std::vector<std::string> explain_all(Sql& sql, const std::string& schema, bool verbose) {
  namespace d = herald::postgres::detail;
  const auto params = explain_params();
  std::vector<std::string> seq_scans;
  sql.exec("BEGIN");
  sql.exec("SET LOCAL search_path TO " + schema);
  sql.exec("LOAD 'auto_explain'");
  sql.exec("SET LOCAL auto_explain.log_min_duration = 0");
  sql.exec("SET LOCAL auto_explain.log_nested_statements = on");
  sql.exec("SET LOCAL auto_explain.log_level = notice");
  sql.exec("SET LOCAL client_min_messages = notice");
  for (std::size_t i = 0; i < d::kStatementCount; ++i) {
    const d::StatementDef& def = d::statement(static_cast<d::Stmt>(i));
    sql.exec(std::string("PREPARE ") + def.name + " AS " + def.sql);
    std::string args;
    for (const std::string& p : params.at(def.name)) args += (args.empty() ? "" : ", ") + p;
    const std::string plans = plans_of(sql, def, args);
    const bool seq = plans.find("Seq Scan") != std::string::npos;
    std::string forced;
    if (seq) {
      seq_scans.push_back(def.name);
      sql.exec("SET LOCAL enable_seqscan = off");
      forced = plans_of(sql, def, args);
      sql.exec("SET LOCAL enable_seqscan = on");
    }
    std::printf("explain %-24s %s\n", def.name,
                !seq ? "no Seq Scan"
                : forced.find("Seq Scan") == std::string::npos
                    ? "Seq Scan chosen by cost (an index path exists: with enable_seqscan=off "
                      "none is left)"
                    : "Seq Scan even with enable_seqscan=off");
    if (verbose || seq) std::printf("%s\n", plans.c_str());
  }
  sql.exec("ROLLBACK");
  return seq_scans;
}

}  // namespace

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows as it happens, even in a file
  const Flags flags(argc, argv);
  const std::size_t appends = flags.num("appends", 200'000);
  const std::size_t users = flags.num("users", 10'000);
  const std::size_t inflight = std::max<std::size_t>(1, flags.num("inflight", 256));
  const std::size_t followers = flags.num("followers", 100'000);
  const std::size_t rows = flags.num("rows", 10'000'000);
  const std::size_t history_users = std::max<std::size_t>(1, flags.num("history-users", 100'000));
  const std::size_t reads = flags.num("reads", 2'000);

  // fsync on (the server's default) and the WAL sized for the bulk loads.
  herald::postgres::test::PgServerOptions server_options;
  server_options.fsync = true;
  server_options.settings = {"shared_buffers=1GB", "max_wal_size=8GB", "checkpoint_timeout=30min",
                             "maintenance_work_mem=512MB"};
  herald::postgres::test::PgServer server(server_options);
  Sql admin(server.url());
  std::printf("postgresql: %s\n", admin.value("SELECT version()").c_str());
  std::string settings;
  for (const char* name : {"fsync", "synchronous_commit", "wal_sync_method", "full_page_writes",
                           "shared_buffers", "max_wal_size"}) {
    settings += std::string(" ") + name + "=" + admin.value(std::string("SHOW ") + name);
  }
  std::printf("settings (every commit waits for its WAL flush to disk):%s\n", settings.c_str());

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  auto ex = herald::make_asio_executor(io);

  herald::postgres::PostgresOptions options;
  options.url = server.url();
  options.schema = "bench";
  options.pool_size = flags.num("pool", 4);
  options.pipeline_depth = flags.num("depth", 64);
  options.statement_timeout = std::chrono::seconds(60);
  auto store = herald::postgres::PostgresStore::create(io, options);
  std::printf("store: pool_size=%zu pipeline_depth=%zu\n", options.pool_size,
              options.pipeline_depth);
  Sql sql(server.url());
  sql.exec("SET search_path TO bench");

  herald::NotificationId next_id = 1;
  if (appends > 0) bench_appends(*store, ex, appends, users, inflight, next_id);
  if (followers > 0) bench_fanout(store, ex, sql, followers, next_id);
  if (!flags.has("skip-history") && rows > 0) {
    load_history(sql, rows, history_users);
    bench_reads(*store, ex, reads, history_users, std::max<std::size_t>(1, rows / history_users));
    const auto seq = explain_all(sql, "bench", flags.has("verbose"));
    std::printf("explain: %zu of %zu prepared statements have a Seq Scan in a plan%s\n",
                seq.size(), herald::postgres::detail::kStatementCount,
                seq.empty() ? "" : " (listed above)");
  }

  store->close();
  work.reset();
  io.stop();
  for (auto& t : threads) t.join();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "herald_store_bench: %s\n", e.what());
  return 1;
}
