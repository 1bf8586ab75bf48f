#pragma once
// Keeps the WAL short without making the writer wait for it.
//
// SQLite's default checkpoints inside the commit that takes the WAL past 1,000 frames: that
// commit syncs the WAL, copies its pages into the database file and syncs that file, ~10 ms
// on this project's test machine, every ~50 ms at 5,000 appends/s — and every write queued
// behind it waits that long (docs/performance.md, "Thirteenth pass"). Here a thread of its
// own, on its own connection, runs those checkpoints; they are PASSIVE: they never wait for
// the writer nor for a reader, nor make either wait.
//
// Why the writer still finishes each one: SQLite starts the WAL over from its beginning (a
// "rewind") only when a write transaction begins while every frame of the WAL is in the
// database file. While commits arrive during every checkpoint, the checkpointer alone never
// leaves the WAL in that state and it would grow for as long as the writes go on. So once the
// checkpointer has copied all but a few frames (`threshold / 8`), or has run three passes on
// this WAL (big group commits add more than that during each), the writer's next commit
// copies the rest itself — a short checkpoint: few pages, two small syncs — and its next
// transaction rewinds the WAL. From 10 × threshold frames on (the checkpointer cannot keep
// up: a slow disk, another process's long read) the writer checkpoints after each commit, as
// SQLite's default would, so the WAL stays bounded by what readers allow.
//
// Threads: `on_commit` runs on the writer's thread (SQLite's WAL hook, after each commit,
// with the write lock released); the checkpoints `request` hands over run on the plain
// Worker's; both share the fields under `mutex_`. A checkpoint that fails (I/O error, another
// process checkpointing) loses nothing: every commit stays in the WAL, and the next commit asks
// again.

#include <cstdint>
#include <memory>
#include <mutex>

#include "db.hpp"
#include "herald/sqlite/store.hpp"
#include "worker.hpp"

namespace herald::sqlite::detail {

class Checkpointer {
 public:
  /// Starts the thread (a plain Worker) on `db`, a connection of its own to the store's
  /// file. A checkpoint starts once the WAL holds `threshold_frames` frames (>= 1).
  Checkpointer(std::unique_ptr<Db> db, std::int64_t threshold_frames);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// Replaces SQLite's automatic checkpoint of the writer's connection by this one's. Call
  /// before that connection commits anything; this object must outlive the connection.
  void attach(Db& writer);

  /// Ends the thread after its current checkpoint and closes its connection. Idempotent.
  void stop() { worker_.stop(); }

  /// Counters since the start (SqliteStore::stats). Any thread.
  SqliteStats stats() const;

 private:
  static int hook(void* self, sqlite3* writer, const char* schema, int frames);
  void on_commit(sqlite3* writer, std::int64_t frames);
  // Hands the thread a checkpoint of the WAL of `generation` (running_ already set; not
  // under mutex_: a refused task's fail takes it).
  void request(std::uint64_t generation);
  // Records a checkpoint's result (under mutex_): the frames now in the database file.
  void backfilled(std::int64_t through, std::uint64_t generation, bool by_writer);

  const std::int64_t threshold_;
  const std::int64_t finish_gap_;    // the writer copies the rest when at most this many are left
  const std::int64_t writer_limit_;  // from here on the writer checkpoints after every commit
  static constexpr int kPassesBeforeFinish = 3;  // the writer finishes after this many passes

  mutable std::mutex mutex_;
  bool running_ = false;          // a checkpoint is queued on or running in the thread
  std::int64_t wal_frames_ = 0;   // frames in the WAL after the last commit
  std::int64_t backfilled_ = 0;   // of those, in the database file (as far as known)
  std::uint64_t generation_ = 0;  // rewinds seen: a result of an older WAL is not recorded
  int passes_ = 0;                // checkpoints recorded since the last rewind
  SqliteStats stats_;

  Worker worker_;  // last: its thread starts once the fields above exist
};

}  // namespace herald::sqlite::detail
