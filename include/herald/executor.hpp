#pragma once
// Where herald's work runs. The Engine touches its state only from tasks on one Executor,
// which runs them one at a time; every backend completion is posted back onto it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/time.hpp"

namespace asio {
class io_context;  // standalone Asio; forward-declared so this header needs no Asio
}

namespace herald {

/// A serial task queue with timers.
/// Contract: every method is thread-safe; tasks and timer callbacks run one at a time (never
/// concurrently with each other), posted tasks in post order. A task must not block.
class HERALD_API Executor {
 public:
  using Task = std::function<void()>;
  using TimerId = std::uint64_t;

  virtual ~Executor() = default;
  /// Runs `task` later (never inline).
  virtual void post(Task task) = 0;
  /// Runs `task` once after `delay`. Returns an id for cancel().
  virtual TimerId schedule(Duration delay, Task task) = 0;
  /// Cancels a timer; no effect if it already ran or was cancelled.
  virtual void cancel(TimerId id) = 0;
  /// Current wall-clock time as this executor sees it.
  virtual TimePoint now() const = 0;
};

/// An Executor over a host's io_context: a strand, so the io_context may run on any number
/// of threads. The io_context must outlive the executor and every engine using it.
HERALD_API std::shared_ptr<Executor> make_asio_executor(asio::io_context& io);

/// A hand-driven Executor with a virtual clock, for deterministic tests: nothing runs until
/// run() or advance() is called on the driving thread.
class HERALD_API ManualExecutor final : public Executor {
 public:
  explicit ManualExecutor(TimePoint start = TimePoint(std::chrono::hours(24 * 365 * 50)));

  void post(Task task) override;
  TimerId schedule(Duration delay, Task task) override;
  void cancel(TimerId id) override;
  TimePoint now() const override;

  /// Runs posted tasks (and those they post) until none is left. Returns how many ran.
  /// Timers fire only when advance() moves the clock past them.
  std::size_t run();
  /// Runs the oldest posted task, if any. Lets tests interleave two flows step by step.
  bool run_one();
  /// Moves the clock forward by `d` in order of timer deadlines, firing each due timer and
  /// running the tasks it posts, then runs what is left. Returns the tasks run.
  std::size_t advance(Duration d);
  /// Number of timers not yet fired or cancelled.
  std::size_t timers() const;

 private:
  struct Timer {
    TimePoint due;
    TimerId id;
    Task task;
  };
  bool pop_task(Task& out);
  bool pop_due_timer(TimePoint limit, Task& out);

  mutable std::mutex mutex_;
  TimePoint now_;
  std::vector<Task> ready_;   // FIFO, consumed from head_
  std::size_t head_ = 0;
  std::vector<Timer> timers_;  // unsorted: tests hold few timers
  TimerId next_id_ = 1;
};

/// A backend's way to deliver a result: posts the callback onto the engine's executor.
/// Contract: call exactly once, from any thread; the callback never runs inline.
template <class T>
class Completion {
 public:
  using Fn = std::function<void(Result<T>)>;

  Completion() = default;
  Completion(std::shared_ptr<Executor> executor, Fn fn)
      : executor_(std::move(executor)), fn_(std::move(fn)) {}

  /// Posts the callback with `result`. This object gives up its executor and callback in
  /// the call (a backend finishing on its own thread must not keep the engine's executor
  /// alive in a leftover copy after the engine went), so it cannot be called twice.
  void operator()(Result<T> result) const {
    Executor& executor = *executor_;
    // The task owns the executor reference: the last one is then dropped where it runs.
    executor.post([fn = std::move(fn_), r = std::move(result),
                   keep = std::move(executor_)]() mutable { fn(std::move(r)); });
  }
  const std::shared_ptr<Executor>& executor() const { return executor_; }

 private:
  mutable std::shared_ptr<Executor> executor_;  // moved out by the call
  mutable Fn fn_;
};

/// Completion of an operation that yields only a Status.
using Done = Completion<void>;

}  // namespace herald
