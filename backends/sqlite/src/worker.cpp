#include "worker.hpp"

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

void Worker::run_batch(std::deque<Task>& batch) {
  Db& db = *db_;
  const bool write = mode_ == Mode::write;
  try {
    db.prepare(write ? "BEGIN IMMEDIATE" : "BEGIN").run();
  } catch (const DbError& e) {
    for (Task& t : batch) t.fail(status_of(e));
    return;
  }
  // Per task: what to deliver after the commit, or why it failed.
  std::vector<std::function<void()>> deliver(batch.size());
  std::vector<std::optional<Status>> failed(batch.size());
  std::optional<Status> aborted;  // the transaction itself was lost: everything fails
  for (std::size_t i = 0; i < batch.size() && !aborted; ++i) {
    try {
      if (write) db.prepare("SAVEPOINT call").run();
      deliver[i] = batch[i].run(db);
      if (write) db.prepare("RELEASE call").run();
    } catch (const std::exception& e) {
      const auto* db_error = dynamic_cast<const DbError*>(&e);
      failed[i] = db_error != nullptr ? status_of(*db_error)
                                      : Status(Errc::internal, std::string("sqlite: ") + e.what());
      if (sqlite3_get_autocommit(db.get()) != 0) {
        // SQLite rolled the whole transaction back (I/O error, disk full…): the earlier
        // calls of the batch are lost too.
        aborted = failed[i];
        break;
      }
      if (write) {
        try {
          db.prepare("ROLLBACK TO call").run();
          db.prepare("RELEASE call").run();
        } catch (const DbError& undo) {
          aborted = status_of(undo);
        }
      }
    }
  }
  if (!aborted) {
    try {
      db.prepare("COMMIT").run();
    } catch (const DbError& e) {
      aborted = status_of(e);
    }
  }
  if (aborted && sqlite3_get_autocommit(db.get()) == 0) {
    sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (failed[i]) {
      batch[i].fail(std::move(*failed[i]));
    } else if (aborted && (write || !deliver[i])) {
      batch[i].fail(*aborted);
    } else if (deliver[i]) {
      deliver[i]();
    } else {
      batch[i].fail(aborted ? *aborted : Status(Errc::internal, "sqlite: a call did not run"));
    }
  }
}

}  // namespace herald::sqlite::detail
