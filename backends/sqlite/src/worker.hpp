#pragma once
// A thread with its own connection that runs the store's calls in order, a batch at a time.
//
// The writer (Mode::write) is the group commit: it takes every call queued (at most
// max_batch) and runs them in one transaction (BEGIN IMMEDIATE … COMMIT). A call that throws
// fails alone: the transaction is rolled back and the other calls run again without it in a
// new one (a call only reads what it captured, so running it again is the same call). One
// savepoint spans the batch, only to keep SQLite's savepoint bookkeeping allocated between
// statements (worker.cpp says why). Results are handed to the callers only after
// the COMMIT succeeded; if the COMMIT fails, or SQLite rolls the transaction back itself (I/O
// error, disk full), every call of the batch fails (none was applied). While a batch
// commits, new calls queue up and form the next batch: an idle store commits each call at
// once, a busy one many per commit.
//
// The reader (Mode::read) runs each batch of queued reads in one read transaction (one WAL
// snapshot) and answers at once. In WAL mode it never waits for the writer.
//
// A plain worker (Mode::plain: the checkpointer) runs each task by itself, outside any
// transaction.
//
// Contracts: every task's `deliver` or `fail` is called exactly once, on this thread.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "db.hpp"

namespace herald::sqlite::detail {

struct Task {
  /// Does the work on the worker's connection (throws DbError on a failed statement) and
  /// returns what to do once it is committed: hand the result to the caller.
  std::function<std::function<void()>(Db&)> run;
  /// Reports a failure to the caller instead.
  std::function<void(Status)> fail;
};

class Worker {
 public:
  enum class Mode { read, write, plain };

  /// Starts the thread on `db`.
  Worker(std::unique_ptr<Db> db, Mode mode, std::size_t max_batch, std::size_t max_queued,
         std::string name);
  /// Stops (see stop()).
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Queues a task; fails it with Errc::unavailable (on the calling thread) when the worker
  /// is stopping or max_queued tasks wait. Any thread.
  void submit(Task task);
  /// Queues a task that continues one already accepted (e.g. the next batch of a purge):
  /// taken even while stopping, so that the continuation still runs before the thread ends.
  /// Call only from a task of this worker.
  void resubmit(Task task);

  /// Refuses new tasks, runs those queued, then ends the thread and closes the connection.
  /// Idempotent, any thread (concurrent calls wait for each other) but this worker's.
  void stop();

 private:
  void loop();
  // Runs `batch` and empties it: every task's deliver or fail is called.
  void run_batch(std::deque<Task>& batch);
  // One transaction over `batch`: commits and delivers all of it (or fails all of it), or
  // fails and removes the one call that threw and leaves the rest for another try.
  void try_commit(std::deque<Task>& batch);
  void run_reads(std::deque<Task>& batch);
  void run_plain(std::deque<Task>& batch);

  std::unique_ptr<Db> db_;
  const Mode mode_;
  const std::size_t max_batch_;
  const std::size_t max_queued_;
  const std::string name_;
  std::mutex mutex_;
  std::mutex stop_mutex_;  // one stop() joins at a time
  std::condition_variable wake_;
  std::deque<Task> queue_;  // guarded by mutex_
  bool stopping_ = false;   // guarded by mutex_
  std::thread thread_;
};

}  // namespace herald::sqlite::detail
