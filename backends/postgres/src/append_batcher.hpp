#pragma once
// Group commit for Store::append. Appends wait in a queue and go to the database in
// batches: one append_batch call, one transaction, one WAL flush for all the appends of a
// batch. A small batch (led by an append of fewer than `large_streams` streams: unicast)
// runs only when no other small one does (or when a whole batch is already waiting), so an
// append on an idle store goes at once, alone, and appends that arrive while one runs group
// into the next commit: the commit rate stays what the disk gives while the appends per
// commit grow with the load. A batch led by a large append (a fan-out chunk) runs beside
// them, up to `max_inflight` batches in all, so unicast appends never wait behind a fan-out.
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

/// One append waiting for (or in) a batch.
struct PendingAppend {
  AppendRequest request;
  Completion<AppendResult> done;
};

class AppendBatcher : public std::enable_shared_from_this<AppendBatcher> {
 public:
  struct Limits {
    std::size_t max_inflight = 4;    // batches running at once (one per connection)
    std::size_t large_streams = 256; // an append with this many streams leads a large batch
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
  using Pending = PendingAppend;
  using Batch = std::vector<Pending>;
  enum class Place { none, small, large };  // what a running batch counts against

  Place place_locked() const;
  void start_ready(std::unique_lock<std::mutex>& lock);
  Batch take_locked();
  void send(Batch batch, Place place);
  void finish(Batch& batch, JobResult result, Place place);

  const std::shared_ptr<Pool> pool_;
  const Epoch epoch_;
  const Limits limits_;
  std::mutex mutex_;
  std::deque<Pending> queue_;  // guarded by mutex_
  std::size_t inflight_ = 0;        // batches with a place, running; guarded by mutex_
  std::size_t small_inflight_ = 0;  // of them small; guarded by mutex_
};

}  // namespace herald::postgres::detail
