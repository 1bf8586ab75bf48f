#pragma once
// herald::sqlite — the embedded durable Store: one SQLite 3 database file (WAL mode), no
// server. A writer thread commits the queued writes in batched transactions (group commit);
// a reader thread answers the reads on its own connection. Neither ever runs on the caller's
// threads; completions are posted onto the caller's executor (docs/sqlite.md).
// SQLite stays inside the backend: this header includes no SQLite header.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/model.hpp"
#include "herald/store.hpp"

namespace herald::sqlite {

/// What a commit survives (PRAGMA synchronous, in WAL mode).
enum class Synchronous {
  /// The WAL is synced at checkpoints only. A committed write survives the process dying
  /// (crash, kill -9); the last transactions before a power loss or an OS crash may be lost
  /// (the database is never corrupted: it rolls back to an earlier commit).
  normal,
  /// The WAL is synced at every commit: a write reported ok survives power loss and OS
  /// crashes too. Costs one fsync per group commit.
  full,
};

/// Plain values with sane defaults.
struct SqliteOptions {
  /// The database file (created with its schema if missing). Its WAL (`<path>-wal`) and
  /// shared-memory index (`<path>-shm`) live next to it. Required.
  std::string path;
  Synchronous synchronous = Synchronous::normal;
  /// How long a statement waits for a lock held by another connection (another process on
  /// the same file, a backup) before it fails with Errc::unavailable. Opening waits as long
  /// for the file's write lock, then throws.
  std::chrono::milliseconds busy_timeout{5'000};
  /// Group commit: at most this many queued writes share one transaction (1..100,000).
  std::size_t max_batch = 1'000;
  /// Calls waiting for the writer (or the reader) thread; beyond it calls fail with
  /// Errc::unavailable.
  std::size_t max_queued = 100'000;
  /// purge_expired deletes at most this many rows per transaction, so other writes run
  /// between its batches.
  std::size_t purge_batch = 5'000;
  /// Idempotency keys older than this (by their notification's created_at) are deleted by
  /// purge_expired. Keep it at least the engine's dedup window.
  std::chrono::milliseconds idempotency_retention{std::chrono::hours(24)};
  /// A checkpoint (the WAL copied into the database file) starts once the WAL holds this many
  /// pages (frames), as SQLite's `wal_autocheckpoint`; it runs on a thread of its own, so the
  /// writer does not wait for it (docs/sqlite.md, "Checkpoints"). 1..1,000,000.
  std::int64_t checkpoint_frames = 1'000;
};

/// How the store keeps its WAL short (SqliteStore::stats): counters since open.
struct SqliteStats {
  /// Frames (pages) in the WAL after the last commit.
  std::uint64_t wal_frames = 0;
  /// Times the WAL started over from its beginning (every frame had been copied).
  std::uint64_t wal_rewinds = 0;
  /// Checkpoints run by the checkpointer thread, and the frames they copied.
  std::uint64_t checkpoints = 0;
  std::uint64_t checkpointed_frames = 0;
  /// Checkpoints run by the writer thread (finishing one, or with the WAL at 10 ×
  /// checkpoint_frames), and the frames they copied: the writer's commits wait for these.
  std::uint64_t writer_checkpoints = 0;
  std::uint64_t writer_checkpointed_frames = 0;
};

/// A Store on one SQLite database file. Every Store method follows the contract of
/// herald/store.hpp: it returns at once, the work runs on the store's writer thread (writes)
/// or reader thread (reads), and the completion is posted onto the caller's executor.
/// A write reported ok is committed (as durable as `synchronous` says). A failing statement
/// (disk full, I/O error, a lock held past busy_timeout) fails its call with
/// Errc::unavailable and rolls back what that call wrote; the other calls of the batch are
/// unaffected unless the commit itself fails (then all fail, none applied).
class HERALD_API SqliteStore : public Store {
 public:
  /// Opens (or creates) the database, switches it to WAL, applies the schema migrations
  /// (PRAGMA user_version) and reads or makes the store's epoch, all on the calling thread,
  /// then starts the writer and reader threads.
  /// Throws herald::Error with what to fix: an empty path, a directory that does not exist or
  /// is not writable, a file that is not a database, a file locked by another process for
  /// longer than busy_timeout, a schema written by a newer herald.
  static std::shared_ptr<SqliteStore> open(SqliteOptions options);

  /// The epoch of this database file: random, made when the file was created, kept across
  /// reopenings. A new file (e.g. the old one deleted) has a new epoch, so clients holding
  /// cursors of the old one get a `reset`.
  virtual Epoch epoch() const noexcept = 0;

  /// Readiness: ok when the reader connection answers a query now. Completion as usual.
  virtual void ready(Done done) = 0;

  /// The WAL's counters (for metrics). Any thread.
  virtual SqliteStats stats() const = 0;

  /// Finishes the calls already queued, stops the threads and closes the database; later
  /// calls fail with Errc::unavailable. Idempotent; also done by the destructor. Any thread
  /// but the store's own (i.e. not from a completion's callback running inline — completions
  /// never run inline, so any executor thread is fine).
  virtual void close() = 0;
};

/// SqliteStore::open, as a plain Store.
HERALD_API std::shared_ptr<Store> open_store(SqliteOptions options);

}  // namespace herald::sqlite
