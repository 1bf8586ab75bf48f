#pragma once
// herald-server's webhooks (--webhook-url, docs/events.md): outcome events POSTed in
// batches as {"events":[…]}, signed (webhook_signature.hpp), retried with exponential
// backoff on 5xx / 408 / 429 / timeouts / connection errors up to max_attempts; a batch
// that exhausted them is kept (in memory, bounded) for GET /admin/webhooks/failed and may be
// sent again with POST /admin/webhooks/failed/{id}/retry.
//
// Never blocks the engine: push() only appends to a bounded queue (overflow is counted and
// dropped). One POST is in flight at a time, so a receiver sees batches in order; a batch
// being retried holds back the later ones. At a graceful shutdown drain() sends what is
// queued within the shutdown bound; what is left then (and everything at a crash) is lost.

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "herald/time.hpp"
#include "http_post.hpp"

namespace herald::server {

struct WebhookOptions {
  std::string url;     // http://host[:port]/path
  std::string secret;  // HMAC key of Herald-Signature; empty: requests are not signed
  std::size_t batch = 100;                              // events per POST, at most
  Duration batch_wait = std::chrono::milliseconds(200);  // longest wait to fill a batch
  unsigned max_attempts = 5;                            // POSTs of one batch, the first included
  Duration backoff = std::chrono::milliseconds(500);    // before the 2nd attempt; doubles
  Duration timeout = std::chrono::seconds(5);           // one POST, connect to response
  std::size_t queue_limit = 100'000;  // events waiting; more are dropped (counted)
  std::size_t failed_limit = 1'000;   // failed batches kept; the oldest go first (counted)
};

class Webhooks : public std::enable_shared_from_this<Webhooks> {
 public:
  /// Throws herald::Error on a bad URL or option.
  static std::shared_ptr<Webhooks> create(asio::io_context& io, WebhookOptions options);

  /// Queues one event (its JSON object). Any thread; never blocks on I/O.
  void push(std::string event);
  /// {"batches":[{"id","attempts","status","error","events":[…]}]}, oldest first. Any thread.
  std::string failed_json() const;
  /// Moves failed batch `id` back in front of the queue (fresh attempts). False if unknown.
  bool retry_failed(const std::string& id);
  /// herald_webhook_* in Prometheus text. Any thread.
  std::string metrics() const;
  /// At shutdown, once no more events come: sends what is queued at once (no batch_wait;
  /// retries as usual), then stops and calls `done` (on the strand) when nothing is queued
  /// or in flight, or at `until`, whichever comes first. Failed batches stay failed. Any
  /// thread; once.
  void drain(std::chrono::steady_clock::time_point until, std::function<void()> done);

 private:
  struct Batch {
    std::string id;
    std::vector<std::string> events;
    unsigned attempts = 0;
    int status = 0;      // of the last attempt; 0: no response
    std::string error;   // of the last attempt
  };

  Webhooks(asio::io_context& io, WebhookOptions options);
  void pump();
  void send(std::shared_ptr<Batch> batch);
  void on_result(const std::shared_ptr<Batch>& batch, const PostOutcome& outcome);
  void keep_failed(std::shared_ptr<Batch> batch);
  void finish_drain();

  asio::io_context& io_;
  const WebhookOptions options_;
  const HttpTarget target_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer wait_timer_;   // batch_wait, on strand_
  asio::steady_timer retry_timer_;  // backoff, on strand_
  asio::steady_timer drain_timer_;  // drain()'s `until`, on strand_
  std::function<void()> drained_;   // drain()'s `done`, on strand_

  mutable std::mutex mutex_;  // guards the members below (short sections, never I/O)
  std::deque<std::string> queue_;
  std::deque<std::shared_ptr<Batch>> again_;  // retried from the failed list, sent first
  std::deque<std::shared_ptr<Batch>> failed_;
  std::size_t in_flight_events_ = 0;
  bool in_flight_ = false;
  bool waiting_ = false;  // wait_timer_ armed
  bool due_ = false;      // send what is queued without waiting for a full batch
  bool stopped_ = false;
  bool draining_ = false;  // drain() was called: partial batches go at once
  std::uint64_t next_id_ = 1;

  std::atomic<std::uint64_t> sent_{0};         // batches answered 2xx
  std::atomic<std::uint64_t> events_sent_{0};  // their events
  std::atomic<std::uint64_t> retried_{0};      // attempts after the first
  std::atomic<std::uint64_t> failed_count_{0}; // batches that exhausted their attempts
  std::atomic<std::uint64_t> dropped_{0};      // events refused by a full queue
  std::atomic<std::uint64_t> evicted_{0};      // failed batches dropped by failed_limit
};

}  // namespace herald::server
