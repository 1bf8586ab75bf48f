#include "append_batcher.hpp"

#include <string>
#include <utility>

namespace herald::postgres::detail {
namespace {

// The rows of append_batch, one AppendResult per request of the batch; a request whose key
// is held by a different request yields Errc::idempotency_conflict.
Result<std::vector<Result<AppendResult>>> parse_batch(const PGresult* r,
                                                      const std::vector<PendingAppend>& batch,
                                                      Epoch epoch) {
  std::vector<AppendResult> out(batch.size());
  std::vector<bool> answered(batch.size(), false);
  std::vector<bool> conflict(batch.size(), false);
  for (int row = 0; row < PQntuples(r); ++row) {
    const auto i = static_cast<std::size_t>(get_i64(r, row, 0)) - 1;
    if (i >= batch.size()) return Status(Errc::internal, "postgres: append_batch: bad request row");
    AppendResult& result = out[i];
    answered[i] = true;
    result.duplicate = get_bool(r, row, 1);
    conflict[i] = get_bool(r, row, 2);
    result.id = from_db(get_i64(r, row, 3));
    if (is_null(r, row, 4)) continue;
    const std::vector<StreamId>& streams = batch[i].request.streams;
    if (result.positions.size() == streams.size()) {
      return Status(Errc::internal, "postgres: append_batch: more seqs than streams");
    }
    result.positions.push_back(
        Position{streams[result.positions.size()], from_db(get_i64(r, row, 4)), epoch});
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const bool complete =
        out[i].duplicate ? out[i].positions.empty()
                         : out[i].positions.size() == batch[i].request.streams.size();
    if (!answered[i] || !complete) {
      return Status(Errc::internal, "postgres: append_batch returned a seq count unlike the request");
    }
  }
  std::vector<Result<AppendResult>> results;
  results.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (conflict[i]) {
      results.emplace_back(idempotency_conflict(batch[i].request.notification->idempotency_key));
    } else {
      results.emplace_back(std::move(out[i]));
    }
  }
  return results;
}

// The append_batch call of `batch`: its requests as parallel array parameters.
Query append_batch_query(const std::vector<PendingAppend>& batch) {
  ArrayLiteral ids, types, data, senders, created, expires, keys, first, stream_req, streams,
      scopes, prints;
  std::size_t i = 0;
  for (const PendingAppend& pending : batch) {
    const AppendRequest& request = pending.request;
    const Notification& n = *request.notification;
    ++i;
    ids.add_int(to_db(n.id));
    types.add_text(n.type);
    data.add_text(n.data);
    senders.add_text(n.sender);
    created.add_int(to_unix_ms(n.created_at));
    if (n.expires_at) {
      expires.add_int(to_unix_ms(*n.expires_at));
    } else {
      expires.add_null();
    }
    keys.add_text(n.idempotency_key);
    first.add_bool(request.first_chunk);
    scopes.add_text(request.idempotency_scope);
    prints.add_text(request.fingerprint);
    for (const StreamId& s : request.streams) {
      stream_req.add_int(static_cast<std::int64_t>(i));
      streams.add_text(s.str());
    }
  }
  const AppendRequest& head = batch.front().request;  // a batch shares these (take_locked)
  return Query{
      Stmt::append_batch,
      {std::move(ids).finish(), std::move(types).finish(), std::move(data).finish(),
       std::move(senders).finish(), std::move(created).finish(), std::move(expires).finish(),
       std::move(keys).finish(), std::move(first).finish(), std::move(stream_req).finish(),
       std::move(streams).finish(), std::to_string(head.dedup_window.count()),
       std::to_string(static_cast<std::int64_t>(head.topic_retention)), std::move(scopes).finish(),
       std::move(prints).finish()}};
}

}  // namespace

AppendBatcher::AppendBatcher(std::shared_ptr<Pool> pool, Epoch epoch, Limits limits)
    : pool_(std::move(pool)), epoch_(epoch), limits_(limits) {}

void AppendBatcher::append(AppendRequest request, Completion<AppendResult> done) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (queue_.size() >= limits_.max_queued) {
    lock.unlock();
    return done(Status(Errc::unavailable, "postgres: overloaded: " +
                                              std::to_string(limits_.max_queued) +
                                              " appends already wait for a batch"));
  }
  queue_.push_back(Pending{std::move(request), std::move(done)});
  start_ready(lock);
}

void AppendBatcher::close() {
  std::deque<Pending> waiting;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waiting.swap(queue_);
  }
  for (Pending& p : waiting) p.done(Status(Errc::unavailable, "postgres: the store is closed"));
}

// The front of the queue up to the limits; appends with another dedup window or topic
// retention than the first wait for the next batch (the function takes one of each).
// Precondition: the queue is not empty.
AppendBatcher::Batch AppendBatcher::take_locked() {
  Batch batch;
  std::size_t streams = 0;
  // Copies: the front is moved into the batch below.
  const Duration window = queue_.front().request.dedup_window;
  const std::size_t retention = queue_.front().request.topic_retention;
  while (!queue_.empty() && batch.size() < limits_.max_requests) {
    const AppendRequest& next = queue_.front().request;
    const bool fits = batch.empty() || (streams + next.streams.size() <= limits_.max_streams &&
                                        next.dedup_window == window &&
                                        next.topic_retention == retention);
    if (!fits) break;
    streams += next.streams.size();
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

// The place a batch led by the front of the queue would take now, or none. Small batches
// run one at a time, so that appends arriving meanwhile group into the next commit (several
// small commits at once would each wait for their own WAL flush), unless a whole batch is
// already waiting: then another one runs beside (the database works on more cores). A batch
// led by a large append (a fan-out chunk) runs beside them, so unicast appends never wait
// behind a chunk.
AppendBatcher::Place AppendBatcher::place_locked() const {
  if (queue_.empty() || inflight_ >= limits_.max_inflight) return Place::none;
  if (queue_.front().request.streams.size() >= limits_.large_streams) return Place::large;
  const bool full_batch_waits = queue_.size() >= limits_.max_requests;
  return small_inflight_ == 0 || full_batch_waits ? Place::small : Place::none;
}

// Starts every batch that may start now. Called with `lock` held; returns with it released
// (the pool may call back at once, e.g. when it refuses a job).
void AppendBatcher::start_ready(std::unique_lock<std::mutex>& lock) {
  std::vector<std::pair<Batch, Place>> ready;
  for (Place place = place_locked(); place != Place::none; place = place_locked()) {
    ++inflight_;
    if (place == Place::small) ++small_inflight_;
    ready.emplace_back(take_locked(), place);
  }
  lock.unlock();
  for (auto& [batch, place] : ready) send(std::move(batch), place);
}

// Runs `batch` as one job. Unless `place` is none, the batch holds a place, which its end
// hands on to the waiting appends.
void AppendBatcher::send(Batch batch, Place place) {
  Job job;
  job.queries.push_back(append_batch_query(batch));
  auto shared = std::make_shared<Batch>(std::move(batch));
  job.done = [self = shared_from_this(), shared, place](JobResult r) {
    self->finish(*shared, std::move(r), place);
  };
  pool_->submit(std::move(job));
}

void AppendBatcher::finish(Batch& batch, JobResult result, Place place) {
  // The place is free before any caller hears of its append: one that appends again from
  // its completion goes at once instead of queueing until this batch has ended.
  if (place != Place::none) {
    std::lock_guard<std::mutex> lock(mutex_);
    --inflight_;
    if (place == Place::small) --small_inflight_;
  }
  if (!result.ok() && result.status().code() != Errc::unavailable && batch.size() > 1) {
    // Some request of the batch is bad: find it by running each alone (without a place:
    // they stand in for this batch, whose place was handed back above).
    for (Pending& p : batch) {
      Batch single;
      single.push_back(std::move(p));
      send(std::move(single), Place::none);
    }
  } else if (!result.ok()) {
    for (Pending& p : batch) p.done(result.status());
  } else {
    Result<std::vector<Result<AppendResult>>> parsed =
        parse_batch(result.value()[0].get(), batch, epoch_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (parsed.ok()) {
        batch[i].done(std::move(parsed.value()[i]));
      } else {
        batch[i].done(parsed.status());
      }
    }
  }
  if (place == Place::none) return;
  std::unique_lock<std::mutex> lock(mutex_);
  start_ready(lock);
}

}  // namespace herald::postgres::detail
