// Webhooks (webhooks.hpp): a bounded queue filled from the engine's executor, drained on a
// strand of its own by one POST at a time. Queue and lists are under mutex_, held only to
// move strings in and out, never across I/O.

#include "webhooks.hpp"

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <cmath>
#include <utility>

#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "herald/error.hpp"
#include "prometheus.hpp"
#include "webhook_signature.hpp"

namespace herald::server {

namespace {

// 5xx, 408, 429 and no response at all are worth another attempt; other answers are final.
bool retryable(int status) { return status == 0 || status >= 500 || status == 408 || status == 429; }

std::string unix_seconds_now() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

std::string body_of(const std::vector<std::string>& events) {
  std::size_t size = 16;
  for (const std::string& e : events) size += e.size() + 1;
  std::string body;
  body.reserve(size);
  body += "{\"events\":[";
  for (std::size_t i = 0; i < events.size(); ++i) (body += i ? "," : "") += events[i];
  body += "]}";
  return body;
}

}  // namespace

std::shared_ptr<Webhooks> Webhooks::create(asio::io_context& io, WebhookOptions options) {
  if (options.batch == 0) throw Error("--webhook-batch must be >= 1");
  if (options.max_attempts == 0) throw Error("--webhook-max-attempts must be >= 1");
  return std::shared_ptr<Webhooks>(new Webhooks(io, std::move(options)));
}

Webhooks::Webhooks(asio::io_context& io, WebhookOptions options)
    : io_(io),
      options_(std::move(options)),
      target_(parse_http_url(options_.url)),
      strand_(asio::make_strand(io)),
      wait_timer_(strand_),
      retry_timer_(strand_),
      drain_timer_(strand_) {}

void Webhooks::push(std::string event) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    if (queue_.size() >= options_.queue_limit) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(event));
    wake = !in_flight_ && (!waiting_ || queue_.size() >= options_.batch);
  }
  if (wake) asio::post(strand_, [self = shared_from_this()] { self->pump(); });
}

// On strand_. Starts the next POST if none is in flight: a batch to retry first, then a full
// batch, or whatever is queued once `due_` (or draining); otherwise waits batch_wait for
// more events. Draining, nothing left to send ends the drain.
void Webhooks::pump() {
  std::shared_ptr<Batch> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || in_flight_) return;
    if (!again_.empty()) {
      batch = std::move(again_.front());
      again_.pop_front();
    } else if (queue_.empty()) {
      if (!draining_) return;
    } else if (queue_.size() < options_.batch && !due_ && !draining_) {
      if (waiting_) return;
      waiting_ = true;
      wait_timer_.expires_after(options_.batch_wait);
      wait_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (ec) return;
        {
          std::lock_guard<std::mutex> l(self->mutex_);
          self->waiting_ = false;
          self->due_ = true;
        }
        self->pump();
      });
      return;
    } else {
      batch = std::make_shared<Batch>();
      batch->id = std::to_string(next_id_++);
      const std::size_t n = std::min(options_.batch, queue_.size());
      batch->events.assign(std::make_move_iterator(queue_.begin()),
                           std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (batch) {
      due_ = false;
      if (waiting_) wait_timer_.cancel();
      waiting_ = false;
      in_flight_ = true;
      in_flight_events_ = batch->events.size();
    }
  }
  if (!batch) return finish_drain();  // draining, and nothing is left
  send(std::move(batch));
}

// On strand_. One attempt: a fresh timestamp and signature each time.
void Webhooks::send(std::shared_ptr<Batch> batch) {
  ++batch->attempts;
  std::string body = body_of(batch->events);
  const std::string timestamp = unix_seconds_now();
  std::vector<std::pair<std::string, std::string>> headers{{"Herald-Timestamp", timestamp}};
  if (!options_.secret.empty())
    headers.emplace_back("Herald-Signature", webhook_signature(options_.secret, timestamp, body));
  http_post(io_, target_, std::move(headers), std::move(body), options_.timeout,
            [self = shared_from_this(), batch](PostOutcome outcome) {
              asio::post(self->strand_, [self, batch, outcome = std::move(outcome)] {
                self->on_result(batch, outcome);
              });
            });
}

// On strand_.
void Webhooks::on_result(const std::shared_ptr<Batch>& batch, const PostOutcome& outcome) {
  batch->status = outcome.status;
  batch->error = outcome.status ? "HTTP " + std::to_string(outcome.status) : outcome.error;
  const bool ok = outcome.status >= 200 && outcome.status < 300;
  bool stopped = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped = stopped_;
  }
  if (!ok && !stopped && retryable(outcome.status) && batch->attempts < options_.max_attempts) {
    retried_.fetch_add(1, std::memory_order_relaxed);
    const double factor = std::pow(2.0, static_cast<double>(batch->attempts - 1));
    retry_timer_.expires_after(std::chrono::duration_cast<Duration>(options_.backoff * factor));
    retry_timer_.async_wait([self = shared_from_this(), batch](const std::error_code& ec) {
      if (!ec) self->send(batch);
    });
    return;
  }
  if (ok) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    events_sent_.fetch_add(batch->events.size(), std::memory_order_relaxed);
  } else {
    failed_count_.fetch_add(1, std::memory_order_relaxed);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ok) keep_failed(batch);
    in_flight_ = false;
    in_flight_events_ = 0;
    due_ = !queue_.empty();  // they waited while this POST was out
  }
  pump();
}

// Under mutex_.
void Webhooks::keep_failed(std::shared_ptr<Batch> batch) {
  failed_.push_back(std::move(batch));
  while (failed_.size() > options_.failed_limit) {
    failed_.pop_front();
    evicted_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string Webhooks::failed_json() const {
  using nlohmann::json;
  json batches = json::array();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& b : failed_) {
    json events = json::array();
    for (const std::string& e : b->events) events.push_back(json::parse(e));
    batches.push_back({{"id", b->id},
                       {"attempts", b->attempts},
                       {"status", b->status},
                       {"error", b->error},
                       {"events", std::move(events)}});
  }
  return json{{"batches", std::move(batches)}}.dump();
}

bool Webhooks::retry_failed(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(failed_.begin(), failed_.end(), [&](const auto& b) { return b->id == id; });
    if (it == failed_.end()) return false;
    (*it)->attempts = 0;
    again_.push_back(std::move(*it));
    failed_.erase(it);
  }
  asio::post(strand_, [self = shared_from_this()] { self->pump(); });
  return true;
}

std::string Webhooks::metrics() const {
  std::size_t pending = 0;
  std::size_t failed = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending = queue_.size() + in_flight_events_;
    for (const auto& b : again_) pending += b->events.size();
    failed = failed_.size();
  }
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, std::uint64_t v) {
    append_metric(out, std::string("herald_webhook_") + name, type, help, v);
  };
  add("sent_total", "counter", "Webhook batches answered 2xx.", sent_.load());
  add("events_sent_total", "counter", "Events in webhook batches answered 2xx.",
      events_sent_.load());
  add("retried_total", "counter", "Webhook POSTs after the first attempt of a batch.",
      retried_.load());
  add("failed_total", "counter", "Webhook batches that exhausted their attempts (kept).",
      failed_count_.load());
  add("failed_batches", "gauge", "Failed webhook batches kept for GET /admin/webhooks/failed.",
      failed);
  add("pending", "gauge", "Events queued or in flight to the webhook.", pending);
  add("dropped_total", "counter", "Events dropped because the webhook queue was full.",
      dropped_.load());
  add("evicted_total", "counter", "Failed batches dropped to keep --webhook-failed-max.",
      evicted_.load());
  return out;
}

void Webhooks::drain(std::chrono::steady_clock::time_point until, std::function<void()> done) {
  asio::post(strand_, [self = shared_from_this(), until, done = std::move(done)]() mutable {
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->draining_ = true;
    }
    self->drained_ = std::move(done);
    self->drain_timer_.expires_at(until);
    self->drain_timer_.async_wait([self](const std::error_code& ec) {
      if (!ec) self->finish_drain();  // out of time: what is left stays unsent
    });
    self->pump();
  });
}

// On strand_: the drain is over (nothing left, or its time is up). Once.
void Webhooks::finish_drain() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  wait_timer_.cancel();
  retry_timer_.cancel();
  drain_timer_.cancel();
  if (auto done = std::exchange(drained_, nullptr)) done();
}

}  // namespace herald::server
