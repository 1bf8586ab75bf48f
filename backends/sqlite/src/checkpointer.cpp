#include "checkpointer.hpp"

#include <algorithm>
#include <functional>
#include <utility>

namespace herald::sqlite::detail {
namespace {

// A PASSIVE checkpoint of `db`'s main database; the frames of the WAL now in the database
// file, or -1 if it did not run (SQLITE_BUSY: another connection checkpoints; an I/O error).
std::int64_t checkpoint(sqlite3* db) {
  int log = 0;
  int done = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  return rc == SQLITE_OK && done >= 0 ? done : -1;
}

}  // namespace

Checkpointer::Checkpointer(std::unique_ptr<Db> db, std::int64_t threshold_frames)
    : threshold_(std::max<std::int64_t>(threshold_frames, 1)),
      finish_gap_(std::max<std::int64_t>(threshold_ / 8, 1)),
      writer_limit_(10 * threshold_),
      worker_(std::move(db), Worker::Mode::plain, 1, 1, "checkpointer") {}

void Checkpointer::attach(Db& writer) {
  sqlite3_wal_hook(writer.get(), &Checkpointer::hook, this);
}

SqliteStats Checkpointer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  SqliteStats out = stats_;
  out.wal_frames = static_cast<std::uint64_t>(wal_frames_);
  return out;
}

int Checkpointer::hook(void* self, sqlite3* writer, const char* /*schema*/, int frames) {
  static_cast<Checkpointer*>(self)->on_commit(writer, frames);
  return SQLITE_OK;  // a checkpoint's failure is not the commit's
}

void Checkpointer::on_commit(sqlite3* writer, std::int64_t frames) {
  bool finish = false;
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (frames < wal_frames_) {  // the WAL was rewound: its frames are counted anew
      ++generation_;
      ++stats_.wal_rewinds;
      backfilled_ = 0;
      passes_ = 0;
    }
    wal_frames_ = frames;
    if (frames < threshold_) return;
    generation = generation_;
    finish = frames >= writer_limit_ ||
             (!running_ && (frames - backfilled_ <= finish_gap_ || passes_ >= kPassesBeforeFinish));
    if (!finish) {
      if (running_) return;
      running_ = true;
    }
  }
  if (!finish) return request(generation);
  // Only this thread writes, so the WAL cannot be rewound under this checkpoint.
  const std::int64_t through = checkpoint(writer);
  std::lock_guard<std::mutex> lock(mutex_);
  backfilled(through, generation, true);
}

void Checkpointer::request(std::uint64_t generation) {
  Task t;
  t.run = [this, generation](Db& db) -> std::function<void()> {
    const std::int64_t through = checkpoint(db.get());
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
    backfilled(through, generation, false);
    return {};
  };
  t.fail = [this](const Status&) {  // stopping: the store closes, SQLite checkpoints then
    std::lock_guard<std::mutex> lock(mutex_);
    running_ = false;
  };
  worker_.submit(std::move(t));
}

void Checkpointer::backfilled(std::int64_t through, std::uint64_t generation, bool by_writer) {
  // A result from before a rewind describes frames that are gone.
  if (through < 0 || generation != generation_) return;
  const auto copied = static_cast<std::uint64_t>(std::max<std::int64_t>(through - backfilled_, 0));
  backfilled_ = std::max(backfilled_, through);
  ++passes_;
  if (by_writer) {
    ++stats_.writer_checkpoints;
    stats_.writer_checkpointed_frames += copied;
  } else {
    ++stats_.checkpoints;
    stats_.checkpointed_frames += copied;
  }
}

}  // namespace herald::sqlite::detail
