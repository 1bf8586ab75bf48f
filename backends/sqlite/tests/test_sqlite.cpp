// What only the SQLite Store promises beyond the conformance suite: data and epoch survive
// reopening, setup errors name what to fix, a held lock makes calls wait busy_timeout and
// then fail as unavailable without harming the data, two openings of one file share it.

#include <sqlite3.h>

#include <cstdint>
#include <fstream>
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

}  // namespace
}  // namespace herald::sqlite::test
