// What only the SQLite Store promises beyond the conformance suite: data and epoch survive
// reopening, setup errors name what to fix, a held lock makes calls wait busy_timeout and
// then fail as unavailable without harming the data, two openings of one file share it.

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/sqlite/store.hpp"
#include "support/temp_dir.hpp"

namespace herald::sqlite::test {
namespace {

using namespace std::chrono_literals;
using conformance::Harness;
using conformance::ok_value;
using conformance::t0;

std::shared_ptr<const Notification> note(NotificationId id) {
  auto n = std::make_shared<Notification>();
  n->id = id;
  n->type = "test.sqlite";
  n->data = "{\"id\":" + std::to_string(id) + "}";
  n->created_at = t0;
  return n;
}

SqliteOptions options(const std::string& path) {
  SqliteOptions o;
  o.path = path;
  return o;
}

Result<AppendResult> append(Harness& h, Store& store, const StreamId& s, NotificationId id) {
  return h.wait<AppendResult>(
      [&](auto done) { store.append(conformance::append_request({s}, note(id)), done); },
      "append");
}

ReadResult read_all(Harness& h, Store& store, const StreamId& s) {
  ReadQuery q;
  q.limit = 100'000;
  q.now = t0;
  return ok_value(h.wait<ReadResult>([&](auto done) { store.read(s, q, done); }, "read"), "read");
}

// The message of the herald::Error that `open` throws ("" if it throws none).
std::string open_error(const SqliteOptions& o) {
  try {
    SqliteStore::open(o);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

// A connection of its own that holds the database's write lock until released.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~WriteLock() {
    release();
    sqlite3_close(db_);
  }
  void release() {
    if (held_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    held_ = false;
  }

 private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

TEST_CASE("SQLite: a reopened file keeps its entries, read state, cursors, subscriptions and epoch") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  const StreamId inbox = StreamId::inbox("ann");
  Epoch epoch = 0;
  {
    Harness h;
    auto store = SqliteStore::open(options(path));
    epoch = store->epoch();
    CHECK(epoch != 0);
    for (NotificationId id = 1; id <= 3; ++id) REQUIRE(append(h, *store, inbox, id).ok());
    CHECK(ok_value(h.wait<std::uint64_t>([&](auto d) { store->mark_read("ann", {2}, d); }), "read") == 1);
    CHECK(ok_value(h.wait<Seq>([&](auto d) { store->advance_ack_cursor("ann", 2, d); }), "ack") == 2);
    CHECK(ok_value(h.wait<bool>([&](auto d) { store->subscribe("ann", "news", d); }), "sub"));
  }
  Harness h;
  auto store = SqliteStore::open(options(path));
  CHECK(store->epoch() == epoch);
  const ReadResult r = read_all(h, *store, inbox);
  CHECK(r.info.epoch == epoch);
  CHECK(r.info.head == 3);
  REQUIRE(r.entries.size() == 3);
  CHECK(r.entries[1].read);
  CHECK(r.entries[2].notification->data == "{\"id\":3}");
  const InboxState s =
      ok_value(h.wait<InboxState>([&](auto d) { store->inbox_state("ann", t0, d); }), "state");
  CHECK(s.ack_cursor == 2);
  CHECK(s.unread == 2);
  CHECK(ok_value(h.wait<std::vector<std::string>>(
                     [&](auto d) { store->subscriptions("ann", "", 10, d); }),
                 "subscriptions") == std::vector<std::string>{"news"});
  // Seqs continue where they stopped.
  const AppendResult next = ok_value(append(h, *store, inbox, 4), "append");
  CHECK(next.positions.at(0).seq == 4);
}

TEST_CASE("SQLite: a new database file has a new epoch") {
  herald::test::TempDir dir;
  const Epoch a = SqliteStore::open(options(dir.path() + "/a.db"))->epoch();
  const Epoch b = SqliteStore::open(options(dir.path() + "/b.db"))->epoch();
  CHECK(a != b);
}

TEST_CASE("SQLite: setup errors throw herald::Error saying what to fix") {
  herald::test::TempDir dir;
  CHECK(open_error(options("")).find("path is empty") != std::string::npos);

  const std::string missing = open_error(options(dir.path() + "/no/such/dir/herald.db"));
  CHECK(missing.find("cannot open '" + dir.path() + "/no/such/dir/herald.db'") !=
        std::string::npos);
  CHECK(missing.find("directory exists") != std::string::npos);

  const std::string garbage = dir.path() + "/garbage.db";
  std::ofstream(garbage) << std::string(8192, 'x');
  CHECK(open_error(options(garbage)).find("not a herald SQLite database") != std::string::npos);

  const std::string newer = dir.path() + "/newer.db";
  SqliteStore::open(options(newer));
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(newer.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK(open_error(options(newer)).find("upgrade herald") != std::string::npos);

  SqliteOptions bad = options(dir.path() + "/x.db");
  bad.max_batch = 0;
  CHECK(open_error(bad).find("max_batch") != std::string::npos);
  bad = options(dir.path() + "/x.db");
  bad.checkpoint_frames = 0;
  CHECK(open_error(bad).find("checkpoint_frames must be 1..1000000") != std::string::npos);
}

TEST_CASE("SQLite: opening a file whose write lock another process holds waits busy_timeout, then fails naming the lock") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  SqliteStore::open(options(path));  // creates it (WAL mode)
  WriteLock lock(path);
  SqliteOptions o = options(path);
  o.busy_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const std::string error = open_error(o);
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
  CHECK(error.find("another process holds the database's write lock") != std::string::npos);
  lock.release();
  CHECK(open_error(o).empty());
}

TEST_CASE("SQLite: writes blocked by a held lock fail as unavailable and leave no gap") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  Harness h;
  SqliteOptions o = options(path);
  o.busy_timeout = 100ms;
  auto store = SqliteStore::open(o);
  const StreamId s = StreamId::inbox("bo");
  REQUIRE(append(h, *store, s, 1).ok());
  {
    WriteLock lock(path);
    const Result<AppendResult> blocked = append(h, *store, s, 2);
    REQUIRE_FALSE(blocked.ok());
    CHECK(blocked.status().code() == Errc::unavailable);
    CHECK(blocked.status().message().find("sqlite:") == 0);
    // Reads go on meanwhile (WAL: readers do not wait for writers).
    CHECK(read_all(h, *store, s).info.head == 1);
  }
  const AppendResult after = ok_value(append(h, *store, s, 3), "append after the lock");
  CHECK(after.positions.at(0).seq == 2);
  const ReadResult r = read_all(h, *store, s);
  REQUIRE(r.entries.size() == 2);
  CHECK(r.entries[1].notification->id == 3);
}

TEST_CASE("SQLite: two stores on one file share it and hand out each seq once") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  Harness h;
  auto a = SqliteStore::open(options(path));
  auto b = SqliteStore::open(options(path));
  CHECK(a->epoch() == b->epoch());
  const StreamId s = StreamId::topic("shared");
  auto seqs = std::make_shared<std::vector<Seq>>();
  auto failures = std::make_shared<int>(0);
  constexpr int kEach = 200;
  for (int i = 0; i < kEach; ++i) {
    for (Store* store : {static_cast<Store*>(a.get()), static_cast<Store*>(b.get())}) {
      const auto id = static_cast<NotificationId>(1 + 2 * i + (store == a.get() ? 0 : 1));
      store->append(conformance::append_request({s}, note(id)),
                    Completion<AppendResult>(h.executor(), [seqs, failures](auto r) {
                      if (!r.ok()) {
                        ++*failures;
                        seqs->push_back(0);
                        return;
                      }
                      seqs->push_back(r->positions.at(0).seq);
                    }));
    }
  }
  h.run_until([&] { return seqs->size() == 2 * kEach; }, "appends through two stores");
  CHECK(*failures == 0);
  const std::set<Seq> unique(seqs->begin(), seqs->end());
  CHECK(unique.size() == 2 * kEach);
  CHECK(*unique.begin() == 1);
  CHECK(*unique.rbegin() == 2 * kEach);
}

TEST_CASE("SQLite: calls after close fail as unavailable, and close commits what was queued") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  Harness h;
  auto store = SqliteStore::open(options(path));
  const StreamId s = StreamId::inbox("cy");
  auto results = std::make_shared<std::vector<Result<AppendResult>>>();
  for (NotificationId id = 1; id <= 50; ++id) {
    store->append(conformance::append_request({s}, note(id)),
                  Completion<AppendResult>(h.executor(), [results](auto r) {
                    results->push_back(std::move(r));
                  }));
  }
  store->close();
  h.run_until([&] { return results->size() == 50; }, "the queued appends");
  for (const auto& r : *results) CHECK(r.ok());
  const Result<AppendResult> late = append(h, *store, s, 51);
  CHECK(late.status().code() == Errc::unavailable);
  auto reopened = SqliteStore::open(options(path));
  CHECK(read_all(h, *reopened, s).info.head == 50);
}

// A group commit holds many calls; one that fails after it wrote part of its rows (here a
// trigger refuses the entry of notification 13, after its notification row and the stream's
// head were written) must take only its own writes with it.
TEST_CASE("SQLite: a call that fails in a group commit takes back only its own writes") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  Harness h;
  auto store = SqliteStore::open(options(path));
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TRIGGER refuse_13 BEFORE INSERT ON entries "
                         "WHEN NEW.notification_id = 13 BEGIN SELECT RAISE(ABORT, 'refused'); END",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const StreamId s = StreamId::inbox("gc");
  auto results = std::make_shared<std::map<NotificationId, Result<AppendResult>>>();
  for (NotificationId id = 1; id <= 50; ++id) {  // queued at once: they share transactions
    store->append(conformance::append_request({s}, note(id)),
                  Completion<AppendResult>(
                      h.executor(), [results, id](auto r) { results->emplace(id, std::move(r)); }));
  }
  h.run_until([&] { return results->size() == 50; }, "50 appends");
  CHECK(results->at(13).status().code() == Errc::unavailable);
  std::set<Seq> seqs;
  for (const auto& [id, r] : *results) {
    if (id == 13) continue;
    REQUIRE(r.ok());
    seqs.insert(r->positions.at(0).seq);
  }
  CHECK(seqs.size() == 49);  // each once, 1..49: the refused call's head + 1 was taken back
  CHECK(*seqs.begin() == 1);
  CHECK(*seqs.rbegin() == 49);
  const ReadResult all = read_all(h, *store, s);
  CHECK(all.info.head == 49);
  REQUIRE(all.entries.size() == 49);
  for (const Entry& e : all.entries) CHECK(e.notification->id != 13);
  // Nor is its notification row left behind.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT count(*) FROM notifications WHERE id = 13", -1, &q,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(q, 0) == 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

// SQLite's own checkpoint runs inside the commit that crosses the threshold: every write
// queued behind it waits for its syncs. Here a thread of its own copies the WAL, and the
// writer only finishes the copy so that the WAL starts over while the writes go on.
TEST_CASE(
    "SQLite: the WAL is copied by the checkpointer thread and starts over while writes go on") {
  herald::test::TempDir dir;
  const std::string path = dir.path() + "/herald.db";
  Harness h;
  SqliteOptions o = options(path);
  o.checkpoint_frames = 100;
  auto store = SqliteStore::open(o);
  REQUIRE(store->stats().wal_rewinds == 0);

  // Appends to 200 inboxes, 16 in flight, until the WAL has started over 10 times (at most
  // 20,000 appends); each completion notes the WAL's length.
  constexpr int kInFlight = 16;
  constexpr int kMaxAppends = 20'000;
  struct Run {
    int issued = 0;
    int done = 0;
    int failed = 0;
    std::uint64_t longest_wal = 0;
  };
  auto run = std::make_shared<Run>();
  std::function<void()> issue = [&] {
    const int n = run->issued++;
    store->append(conformance::append_request({StreamId::inbox("u" + std::to_string(n % 200))},
                                              note(static_cast<NotificationId>(n + 1))),
                  Completion<AppendResult>(h.executor(), [&, run](auto r) {
                    ++run->done;
                    if (!r.ok()) ++run->failed;
                    const SqliteStats s = store->stats();
                    run->longest_wal = std::max(run->longest_wal, s.wal_frames);
                    if (s.wal_rewinds < 10 && run->issued < kMaxAppends) issue();
                  }));
  };
  for (int i = 0; i < kInFlight; ++i) issue();
  h.run_until([&] { return run->done == run->issued; }, "appends until the WAL started over");

  const SqliteStats s = store->stats();
  CHECK(run->failed == 0);
  CHECK(s.wal_rewinds >= 10);
  // Never as long as the length from which the writer checkpoints after every commit (10 ×
  // 100 frames): the checkpointer did the copying, the writer only finished it.
  CHECK(run->longest_wal < 1000);
  CHECK(s.checkpoints >= 10);
  // The writer copied only what arrived during the checkpointer's last pass.
  CHECK(s.checkpointed_frames > 2 * s.writer_checkpointed_frames);
  MESSAGE("appends " << run->issued << ", rewinds " << s.wal_rewinds << ", longest WAL "
                     << run->longest_wal << " frames; checkpointer " << s.checkpoints << " / "
                     << s.checkpointed_frames << " frames, writer " << s.writer_checkpoints << " / "
                     << s.writer_checkpointed_frames << " frames");

  // Every append is in the file once the store is closed and opened again.
  store->close();
  auto reopened = SqliteStore::open(options(path));
  std::uint64_t entries = 0;
  for (int u = 0; u < 200; ++u) {
    entries += read_all(h, *reopened, StreamId::inbox("u" + std::to_string(u))).entries.size();
  }
  CHECK(entries == static_cast<std::uint64_t>(run->issued));
}

}  // namespace
}  // namespace herald::sqlite::test
