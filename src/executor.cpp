// Executors: the Asio strand executor used in production and the hand-driven ManualExecutor
// used by deterministic tests.

#include "herald/executor.hpp"

#include <algorithm>
#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/defer.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <map>
#include <system_error>

namespace herald {
namespace {

/// Executor over an io_context strand. Timers live in a map so cancel() can find them; the
/// map, not the Asio cancellation result, decides whether a callback runs: a timer whose
/// entry is gone never runs its task, even if its expiry was already queued on the strand.
class AsioExecutor final : public Executor, public std::enable_shared_from_this<AsioExecutor> {
 public:
  using Strand = asio::strand<asio::io_context::executor_type>;

  explicit AsioExecutor(asio::io_context& io) : strand_(asio::make_strand(io)) {}

  ~AsioExecutor() override {
    // Pending handlers hold only a weak reference to us; cancel their waits so they finish
    // promptly (with operation_aborted) instead of keeping the io_context busy.
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : timers_) entry.second->cancel();
    timers_.clear();
  }

  // defer, not post: the task continues the work of the running handler, so Asio queues it
  // on this io thread instead of waking an idle one for it (with several io threads, a
  // wake-up per engine task cost more than the task). From a thread outside the io_context
  // (a host thread, a database pool) it queues and wakes as post() would.
  void post(Task task) override { asio::defer(strand_, std::move(task)); }

  TimerId schedule(Duration delay, Task task) override {
    auto timer = std::make_shared<asio::steady_timer>(strand_, delay);
    std::weak_ptr<AsioExecutor> weak = weak_from_this();
    // The timer's async_wait and cancel() both happen under mutex_: an Asio timer object is
    // not safe for concurrent use from several threads.
    std::lock_guard<std::mutex> lock(mutex_);
    const TimerId id = next_id_++;
    timers_.emplace(id, timer);
    // The handler keeps the timer alive until it completes; it runs on the strand.
    timer->async_wait(asio::bind_executor(
        strand_, [weak, id, timer, task = std::move(task)](const std::error_code&) mutable {
          auto self = weak.lock();
          if (!self || !self->take_timer(id)) return;  // cancelled (or executor gone)
          task();
        }));
    return id;
  }

  void cancel(TimerId id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    it->second->cancel();
    timers_.erase(it);
  }

  TimePoint now() const override { return Clock::now(); }

 private:
  /// Removes the timer's entry; false if it was cancelled already.
  bool take_timer(TimerId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return timers_.erase(id) != 0;
  }

  Strand strand_;
  std::mutex mutex_;
  std::map<TimerId, std::shared_ptr<asio::steady_timer>> timers_;
  TimerId next_id_ = 1;
};

}  // namespace

std::shared_ptr<Executor> make_asio_executor(asio::io_context& io) {
  return std::make_shared<AsioExecutor>(io);
}

// ---- ManualExecutor ----

ManualExecutor::ManualExecutor(TimePoint start) : now_(start) {}

void ManualExecutor::post(Task task) {
  std::lock_guard<std::mutex> lock(mutex_);
  ready_.push_back(std::move(task));
}

Executor::TimerId ManualExecutor::schedule(Duration delay, Task task) {
  std::lock_guard<std::mutex> lock(mutex_);
  const TimerId id = next_id_++;
  timers_.push_back(Timer{now_ + delay, id, std::move(task)});
  return id;
}

void ManualExecutor::cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::find_if(timers_.begin(), timers_.end(),
                         [id](const Timer& t) { return t.id == id; });
  if (it != timers_.end()) timers_.erase(it);
}

TimePoint ManualExecutor::now() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return now_;
}

std::size_t ManualExecutor::timers() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timers_.size();
}

bool ManualExecutor::pop_task(Task& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (head_ == ready_.size()) {
    // Drained: reuse the vector's storage from the start.
    ready_.clear();
    head_ = 0;
    return false;
  }
  out = std::move(ready_[head_]);
  ready_[head_] = nullptr;
  ++head_;
  return true;
}

bool ManualExecutor::pop_due_timer(TimePoint limit, Task& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto best = timers_.end();
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->due > limit) continue;
    if (best == timers_.end() || it->due < best->due ||
        (it->due == best->due && it->id < best->id)) {
      best = it;
    }
  }
  if (best == timers_.end()) return false;
  // A timer scheduled with a negative delay may be due before now_: time never goes back.
  now_ = std::max(now_, best->due);
  out = std::move(best->task);
  timers_.erase(best);
  return true;
}

std::size_t ManualExecutor::run() {
  std::size_t count = 0;
  Task task;
  // Tasks run without the mutex held so they may post and schedule.
  while (pop_task(task)) {
    task();
    task = nullptr;
    ++count;
  }
  return count;
}

bool ManualExecutor::run_one() {
  Task task;
  if (!pop_task(task)) return false;
  task();
  return true;
}

std::size_t ManualExecutor::advance(Duration d) {
  TimePoint limit;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    limit = now_ + d;
  }
  // What was posted before the clock moves runs at the current time.
  std::size_t count = run();
  Task task;
  while (pop_due_timer(limit, task)) {
    task();
    task = nullptr;
    ++count;
    count += run();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ = std::max(now_, limit);
  }
  return count + run();
}

}  // namespace herald
