#include "worker.hpp"

#include <cstddef>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace herald::sqlite::detail {

Worker::Worker(std::unique_ptr<Db> db, Mode mode, std::size_t max_batch, std::size_t max_queued,
               std::string name)
    : db_(std::move(db)),
      mode_(mode),
      max_batch_(max_batch),
      max_queued_(max_queued),
      name_(std::move(name)),
      thread_([this] { loop(); }) {}

Worker::~Worker() {
  stop();
}

void Worker::submit(Task task) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_ || queue_.size() >= max_queued_) {
    const bool stopping = stopping_;
    lock.unlock();
    return task.fail(Status(
        Errc::unavailable,
        stopping ? "sqlite: the store is closed"
                 : "sqlite: overloaded: " + std::to_string(max_queued_) + " calls wait for the " +
                       name_ + " thread"));
  }
  queue_.push_back(std::move(task));
  lock.unlock();
  wake_.notify_one();
}

void Worker::resubmit(Task task) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.push_back(std::move(task));
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  std::lock_guard<std::mutex> lock(stop_mutex_);
  if (thread_.joinable()) thread_.join();
  db_.reset();
}

void Worker::loop() {
  std::deque<Task> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every accepted task ran
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_batch(batch);
    batch.clear();
  }
}

namespace {

// The Status of a call that threw.
Status status_of_exception(const std::exception& e) {
  const auto* db_error = dynamic_cast<const DbError*>(&e);
  return db_error != nullptr ? status_of(*db_error)
                             : Status(Errc::internal, std::string("sqlite: ") + e.what());
}

void fail_all(std::deque<Task>& batch, const Status& status) {
  for (Task& t : batch) t.fail(status);
  batch.clear();
}

}  // namespace

void Worker::run_batch(std::deque<Task>& batch) {
  if (mode_ == Mode::read) return run_reads(batch);
  if (mode_ == Mode::plain) return run_plain(batch);
  while (!batch.empty()) try_commit(batch);
}

void Worker::run_plain(std::deque<Task>& batch) {
  for (Task& t : batch) {
    std::function<void()> deliver;
    try {
      deliver = t.run(*db_);
    } catch (const std::exception& e) {
      t.fail(status_of_exception(e));
      continue;
    }
    if (deliver) deliver();
  }
  batch.clear();
}

void Worker::try_commit(std::deque<Task>& batch) {
  Db& db = *db_;
  try {
    db.prepare("BEGIN IMMEDIATE").run();
    // Not for rolling back (a failed call rolls the transaction back): while a savepoint is
    // open, SQLite keeps its savepoint bookkeeping allocated across the statements. Without
    // one, every write statement's own savepoint allocates and frees it (tens of KB on a grown
    // database) and glibc trims the thread's heap (madvise) at each free: 57,000 madvise
    // calls in a herald_sqlite_bench run instead of 39, and 18,000 against 47,000 appends/s
    // with 64 in flight (docs/performance.md, thirteenth pass).
    db.prepare("SAVEPOINT batch").run();
  } catch (const DbError& e) {
    if (sqlite3_get_autocommit(db.get()) == 0) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return fail_all(batch, status_of(e));
  }
  std::vector<std::function<void()>> deliver(batch.size());  // what to hand over after COMMIT
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      deliver[i] = batch[i].run(db);
    } catch (const std::exception& e) {
      const Status status = status_of_exception(e);
      if (sqlite3_get_autocommit(db.get()) != 0) {
        // SQLite rolled the whole transaction back itself (I/O error, disk full…): the
        // earlier calls are lost with it, and the later ones would meet the same disk.
        return fail_all(batch, status);
      }
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      batch[i].fail(status);
      batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(i));
      return;  // the others run again, without it, in the next transaction
    }
  }
  try {
    db.prepare("RELEASE batch").run();
    db.prepare("COMMIT").run();
  } catch (const DbError& e) {
    if (sqlite3_get_autocommit(db.get()) == 0) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return fail_all(batch, status_of(e));  // none was applied
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (deliver[i]) {
      deliver[i]();
    } else {
      batch[i].fail(Status(Errc::internal, "sqlite: a call did not run"));
    }
  }
  batch.clear();
}

void Worker::run_reads(std::deque<Task>& batch) {
  Db& db = *db_;
  try {
    db.prepare("BEGIN").run();
  } catch (const DbError& e) {
    return fail_all(batch, status_of(e));
  }
  // A read that fails fails alone; the others keep their answers, even if ending the read
  // transaction fails (they were read from one snapshot).
  std::vector<std::function<void()>> deliver(batch.size());
  std::vector<std::optional<Status>> failed(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    try {
      deliver[i] = batch[i].run(db);
    } catch (const std::exception& e) {
      failed[i] = status_of_exception(e);
    }
  }
  std::optional<Status> ended_badly;
  try {
    db.prepare("COMMIT").run();
  } catch (const DbError& e) {
    ended_badly = status_of(e);
    if (sqlite3_get_autocommit(db.get()) == 0) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (failed[i]) {
      batch[i].fail(std::move(*failed[i]));
    } else if (deliver[i]) {
      deliver[i]();
    } else {
      batch[i].fail(ended_badly ? *ended_badly
                                : Status(Errc::internal, "sqlite: a call did not run"));
    }
  }
  batch.clear();
}

}  // namespace herald::sqlite::detail
