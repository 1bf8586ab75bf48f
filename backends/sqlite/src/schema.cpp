#include "schema.hpp"

#include <algorithm>
#include <limits>
#include <random>
#include <string>

namespace herald::sqlite::detail {
namespace {

// Version 1: the whole store, as in the PostgreSQL schema (backends/postgres/src/
// migrations.cpp) with SQLite's types. Text keys compare with BINARY collation (byte order,
// as MemoryStore's std::string keys). Times are milliseconds since the Unix epoch; 64-bit
// ids, seqs and epochs the same bits as a signed INTEGER.
const char* const kSchemaV1 = R"sql(
CREATE TABLE meta (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  epoch INTEGER NOT NULL CHECK (epoch <> 0)
);

CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  sender TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER,
  idempotency_key TEXT NOT NULL
);
CREATE INDEX notifications_expiry ON notifications (expires_ms) WHERE expires_ms IS NOT NULL;

CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  notification_id INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_ms);

CREATE TABLE streams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  head INTEGER NOT NULL DEFAULT 0,
  trimmed_through INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE entries (
  stream_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  notification_id INTEGER NOT NULL,
  read INTEGER NOT NULL DEFAULT 0,
  expires_ms INTEGER,
  PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE INDEX entries_expiry ON entries (expires_ms) WHERE expires_ms IS NOT NULL;

CREATE TABLE ack_cursors (
  user_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE subscriptions (
  topic TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (topic, user_id)
) WITHOUT ROWID;
CREATE INDEX subscriptions_by_user ON subscriptions (user_id, topic);

CREATE TABLE dead_letters (
  user_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  notification_id INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
)sql";

// Version 2: preferences per user (issue 17) and the index inbox retention by age scans
// (entries by notification id: Snowflake ids are ordered by creation time). Muted names are
// joined by '\n' (types and topics hold no control character).
const char* const kSchemaV2 = R"sql(
CREATE TABLE preferences (
  user_id TEXT PRIMARY KEY,
  muted_types TEXT NOT NULL,
  muted_topics TEXT NOT NULL,
  critical_only INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX entries_by_notification ON entries (notification_id);
)sql";

// A random nonzero epoch for a new database (64 bits from the system's entropy source).
Epoch random_epoch() {
  std::random_device device;
  const Epoch epoch = (Epoch{device()} << 32) | device();
  return epoch != 0 ? epoch : 1;
}

[[noreturn]] void fail(const std::string& what) {
  throw Error("herald::sqlite: " + what);
}

void validate(const SqliteOptions& o) {
  if (o.path.empty()) fail("SqliteOptions::path is empty: give the database file's path");
  if (o.max_batch < 1 || o.max_batch > 100'000) fail("SqliteOptions::max_batch must be 1..100000");
  if (o.max_queued < 1) fail("SqliteOptions::max_queued must be at least 1");
  if (o.purge_batch < 1) fail("SqliteOptions::purge_batch must be at least 1");
  if (o.busy_timeout.count() < 0) fail("SqliteOptions::busy_timeout is negative");
  if (o.checkpoint_frames < 1 || o.checkpoint_frames > 1'000'000) {
    fail("SqliteOptions::checkpoint_frames must be 1..1000000");
  }
}

// What the operator should check for a failure of `rc` on `path`.
std::string hint(int rc, const SqliteOptions& o) {
  switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
      return "check that the directory exists and that this user may create and write files "
             "in it";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "another process holds the database's write lock (waited busy_timeout = " +
             std::to_string(o.busy_timeout.count()) +
             " ms): stop it, or give this server its own file";
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return "the file is not a herald SQLite database: give another path";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return "the file (or its directory, which holds the -wal and -shm files) is not "
             "writable by this user";
    case SQLITE_FULL:
      return "the disk is full";
    default:
      return "check the file and its directory";
  }
}

void migrate(Db& db, int applied) {
  const int latest = migrations().back().version;
  if (applied > latest) {
    fail("the database is at schema version " + std::to_string(applied) +
         " but this herald knows only up to " + std::to_string(latest) +
         ": upgrade herald (or use another file)");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= applied) continue;
    db.exec(m.sql);
    db.exec("PRAGMA user_version = " + std::to_string(m.version));
  }
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, "notifications, streams, entries, cursors, subscriptions, dead letters, keys",
       kSchemaV1},
      {2, "preferences; entries by notification id (inbox retention)", kSchemaV2},
  };
  return list;
}

std::unique_ptr<Db> connect(const SqliteOptions& o) {
  auto db = std::make_unique<Db>(o.path, true);
  sqlite3_busy_timeout(db->get(), static_cast<int>(std::min<long long>(
                                      o.busy_timeout.count(), std::numeric_limits<int>::max())));
  sqlite3_extended_result_codes(db->get(), 1);
  // WAL: readers never block the writer nor the writer them. Persistent in the file, so
  // every later connection is in WAL too.
  Stmt mode = db->prepare("PRAGMA journal_mode = WAL");
  if (!mode.step() || mode.text(0) != "wal") {
    throw DbError(SQLITE_ERROR, "cannot switch the database to WAL mode (journal_mode = " +
                                    mode.text(0) + ")");
  }
  db->exec(o.synchronous == Synchronous::full ? "PRAGMA synchronous = FULL"
                                              : "PRAGMA synchronous = NORMAL");
  return db;
}

Epoch prepare_database(const SqliteOptions& o) {
  validate(o);
  try {
    std::unique_ptr<Db> db = connect(o);
    // The write lock first, waiting busy_timeout for it: two processes opening one new file
    // at once migrate it once.
    db->exec("BEGIN IMMEDIATE");
    try {
      int applied = 0;
      {
        Stmt v = db->prepare("PRAGMA user_version");
        if (v.step()) applied = static_cast<int>(v.i64(0));
      }
      migrate(*db, applied);
      db->prepare("INSERT INTO meta (singleton, epoch) VALUES (1, ?) ON CONFLICT DO NOTHING")
          .bind(1, to_db(random_epoch()))
          .run();
      Epoch epoch = 0;
      {
        Stmt e = db->prepare("SELECT epoch FROM meta");
        if (e.step()) epoch = from_db(e.i64(0));
      }
      db->exec("COMMIT");
      return epoch;
    } catch (...) {
      sqlite3_exec(db->get(), "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  } catch (const DbError& e) {
    fail("cannot open '" + o.path + "': " + e.what() + ": " + hint(e.code(), o));
  }
}

}  // namespace herald::sqlite::detail
