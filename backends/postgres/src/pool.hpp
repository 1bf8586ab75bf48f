#pragma once
// The connection pool: N connections, each pipelining up to `depth` jobs, and a bounded
// queue of jobs waiting for one. Thread-safe; no callback runs under its lock.

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connection.hpp"

namespace herald::postgres::detail {

class Pool final : public ConnectionOwner, public std::enable_shared_from_this<Pool> {
 public:
  struct Limits {
    std::size_t size = 4;
    std::size_t depth = 64;
    std::size_t max_queued = 100'000;
  };

  /// Makes the connections and starts connecting them (without blocking).
  static std::shared_ptr<Pool> create(asio::io_context& io, std::shared_ptr<const ConnConfig> config,
                                      Limits limits);

  /// Runs `job` on the least loaded open connection, or queues it until one is free (a busy
  /// connection pipelines it only when no other connection is still opening). Fails
  /// it with Errc::unavailable (calling `done` on this thread) when the pool is closed or the
  /// queue is full; a queued job fails when no connection can be opened. Any thread.
  void submit(Job job);

  /// Connections open and ready now. Any thread.
  std::size_t ready() const;

  /// Closes every connection and fails queued jobs. Idempotent. Any thread. Unless `io` is
  /// stopped or this thread is running it, waits (at most `bound`) until every connection
  /// dropped its jobs: after it returns, no loop thread still holds a caller's Completion, so
  /// the caller may destroy the executors they refer to.
  void close(asio::io_context& io, std::chrono::milliseconds bound);

  void on_connecting(std::size_t index) override;
  std::vector<Job> on_ready(std::size_t index) override;
  std::vector<Job> on_finished(std::size_t index, std::size_t n) override;
  void on_down(std::size_t index, std::size_t n, const std::string& reason) override;

 private:
  enum class State { down, connecting, ready };
  struct Slot {
    std::shared_ptr<Connection> conn;
    State state = State::down;
    std::size_t load = 0;  // jobs assigned and not finished
  };

  explicit Pool(Limits limits) : limits_(limits) {}
  std::vector<Job> take_locked(Slot& slot);
  bool may_take_locked(const Slot& slot) const;
  bool any_up_locked() const;

  const Limits limits_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::deque<Job> queue_;
  bool closed_ = false;
};

}  // namespace herald::postgres::detail
