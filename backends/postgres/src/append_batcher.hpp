#pragma once
// Group commit for Store::append. An append that arrives while fewer than `max_inflight`
// batches are running goes at once, alone: an idle store adds no latency. Appends that
// arrive while the batches are all running wait in a queue, and the next batch to go takes
// as many of them as its limits allow into one append_batch call: one transaction, one WAL
// flush for all of them. So the commit rate stays what the disk gives while the number of
// appends per commit grows with the load.
//
// Contracts: every append's completion is called exactly once. A batch that fails with
// anything but Errc::unavailable (a bad request among good ones) is retried one request at a
// time, so one bad append never fails the others; an unavailable batch fails all of its
// appends (each may or may not have been applied, never half: one transaction). Appends
// keep their queue order within a batch (seqs of one stream follow it); batches running on
// different connections commit in any order, as single appends always did.

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "herald/store.hpp"
#include "pool.hpp"

namespace herald::postgres::detail {

class AppendBatcher : public std::enable_shared_from_this<AppendBatcher> {
 public:
  struct Limits {
    std::size_t max_inflight = 4;    // batches running at once (one per connection)
    std::size_t max_requests = 500;  // appends in one batch
    std::size_t max_streams = 5'000; // their streams in one batch (one append may exceed it)
    std::size_t max_queued = 100'000;  // appends waiting; beyond it they fail as unavailable
  };

  AppendBatcher(std::shared_ptr<Pool> pool, Epoch epoch, Limits limits);

  /// Queues the append and sends a batch if one may go now. Any thread; never blocks on the
  /// database. Precondition: request.notification is set.
  void append(AppendRequest request, Completion<AppendResult> done);

  /// Fails every waiting append with Errc::unavailable (call after closing the pool: later
  /// batches are refused by it). Any thread.
  void close();

 private:
  struct Pending {
    AppendRequest request;
    Completion<AppendResult> done;
  };
  using Batch = std::vector<Pending>;

  Batch take_locked();
  void send(Batch batch, bool counted);
  void finish(Batch& batch, JobResult result, bool counted);
  void send_next();

  const std::shared_ptr<Pool> pool_;
  const Epoch epoch_;
  const Limits limits_;
  std::mutex mutex_;
  std::deque<Pending> queue_;  // guarded by mutex_
  std::size_t inflight_ = 0;   // counted batches sent and not finished; guarded by mutex_
};

/// The append_batch query of `batch` (exposed for the benchmark's EXPLAIN).
Query append_batch_query(const std::vector<const AppendRequest*>& batch);

}  // namespace herald::postgres::detail
