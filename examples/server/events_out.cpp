// herald-server's event outputs (events_out.hpp): the webhook, the Redis Stream, their
// flags, metrics and admin routes.

#include "events_out.hpp"

#include <atomic>  // standard headers first: Asio picks its allocator by what they define
#include <utility>

#include "herald/error.hpp"
#include "herald/events.hpp"
#include "prometheus.hpp"
#include "webhooks.hpp"
#ifdef HERALD_SERVER_WITH_REDIS
#include "herald/redis/ingest.hpp"
#include "herald/redis/stream_writer.hpp"
#endif

namespace herald::server {

namespace {

Duration seconds(double s) { return Duration(static_cast<std::int64_t>(s * 1000)); }

// Events XADDed to a Redis Stream as {event: <JSON>}. At most once: an XADD that fails
// (Redis down, timeout) is counted, not retried; too many in flight are dropped (counted).
class EventStream {
 public:
  EventStream(asio::io_context& io, const EventsConfig& c) {
#ifdef HERALD_SERVER_WITH_REDIS
    const redis::IngestSource source = redis::parse_ingest_url(c.stream_url);
    redis::StreamWriterOptions o;
    o.redis.url = source.redis_url;
    o.stream = source.stream;
    o.max_length = c.stream_max_length;
    writer_ = redis::RedisStreamWriter::create(io, std::move(o));
#else
    (void)io;
    (void)c;
    throw Error("--events needs Redis support: build with -DHERALD_WITH_REDIS=ON");
#endif
  }

  void publish(std::string event) {
#ifdef HERALD_SERVER_WITH_REDIS
    if (in_flight_->fetch_add(1) >= kMaxInFlight) {
      in_flight_->fetch_sub(1);
      counts_->dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    writer_->add("event", std::move(event), [counts = counts_, in_flight = in_flight_](Status s) {
      in_flight->fetch_sub(1);
      (s.ok() ? counts->sent : counts->failed).fetch_add(1, std::memory_order_relaxed);
    });
#else
    (void)event;
#endif
  }

  std::string metrics() const {
    std::string out;
    auto add = [&out](const char* name, const char* help, std::uint64_t v) {
      append_metric(out, std::string("herald_events_stream_") + name, "counter", help, v);
    };
    add("sent_total", "Events appended to the --events stream.", counts_->sent.load());
    add("failed_total", "Events whose XADD failed (Redis down or slow).", counts_->failed.load());
    add("dropped_total", "Events dropped: too many XADDs in flight.", counts_->dropped.load());
    return out;
  }

 private:
  // XADDs in flight at most (used only with Redis built in; clang warns of it otherwise).
  [[maybe_unused]] static constexpr std::uint64_t kMaxInFlight = 100'000;
  struct Counts {
    std::atomic<std::uint64_t> sent{0}, failed{0}, dropped{0};
  };
  // Shared with the XADD callbacks, which may run after this object is gone.
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  std::shared_ptr<std::atomic<std::uint64_t>> in_flight_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
#ifdef HERALD_SERVER_WITH_REDIS
  std::shared_ptr<redis::RedisStreamWriter> writer_;
#endif
};

HttpResponse json_reply(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

class Outputs final : public EventOutputs {
 public:
  Outputs(asio::io_context& io, const EventsConfig& c) {
    if (!c.webhook_url.empty()) {
      WebhookOptions o;
      o.url = c.webhook_url;
      o.secret = c.webhook_secret;
      o.batch = c.webhook_batch;
      o.batch_wait = seconds(c.webhook_batch_wait);
      o.max_attempts = c.webhook_max_attempts;
      o.backoff = seconds(c.webhook_backoff);
      o.timeout = seconds(c.webhook_timeout);
      o.queue_limit = c.webhook_queue;
      o.failed_limit = c.webhook_failed_max;
      webhooks_ = Webhooks::create(io, std::move(o));
    }
    if (!c.stream_url.empty()) stream_ = std::make_unique<EventStream>(io, c);
  }

  void publish(const OutcomeEvent& event) override {
    std::string text = to_json(event);
    if (stream_) stream_->publish(webhooks_ ? text : std::move(text));
    if (webhooks_) webhooks_->push(std::move(text));
  }

  std::string metrics() const override {
    return (webhooks_ ? webhooks_->metrics() : std::string()) +
           (stream_ ? stream_->metrics() : std::string());
  }

  std::vector<ExtraRoute> routes() override {
    if (!webhooks_) return {};
    std::shared_ptr<Webhooks> w = webhooks_;
    return {
        {"GET", "admin/webhooks/failed", Access::server,
         [w](const HttpRequest&, const std::vector<std::string>&, Respond respond) {
           respond(json_reply(200, w->failed_json()));
         }},
        {"POST", "admin/webhooks/failed/*/retry", Access::server,
         [w](const HttpRequest&, const std::vector<std::string>& params, Respond respond) {
           if (w->retry_failed(params.at(0)))
             return respond(json_reply(202, R"({"requeued":true})"));
           respond(json_reply(404, R"({"error":{"code":"not_found","message":"no failed )"
                                   R"(webhook batch with this id"}})"));
         }},
    };
  }

  void drain(std::chrono::steady_clock::time_point until, std::function<void()> done) override {
    if (!webhooks_) return done();
    webhooks_->drain(until, std::move(done));
  }

 private:
  std::shared_ptr<Webhooks> webhooks_;
  std::unique_ptr<EventStream> stream_;
};

}  // namespace

void add_events_flags(CLI::App& app, EventsConfig& c) {
  app.add_option("--offline-after", c.offline_after,
                 "Seconds after which a notification stored for a user with no session "
                 "anywhere is reported as notification.undelivered if the user is still "
                 "offline (0: at once)")
      ->envname("HERALD_OFFLINE_AFTER")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_option("--webhook-url", c.webhook_url,
                 "POST outcome events (docs/events.md) in batches to this http:// URL")
      ->envname("HERALD_WEBHOOK_URL");
  app.add_option("--webhook-secret", c.webhook_secret,
                 "Key of the Herald-Signature HMAC-SHA256 header (empty: unsigned)")
      ->envname("HERALD_WEBHOOK_SECRET");
  app.add_option("--webhook-batch", c.webhook_batch, "Events per webhook POST, at most")
      ->envname("HERALD_WEBHOOK_BATCH")
      ->check(CLI::Range(1ul, 10'000ul))
      ->capture_default_str();
  app.add_option("--webhook-batch-wait", c.webhook_batch_wait,
                 "Seconds an event may wait for its batch to fill")
      ->envname("HERALD_WEBHOOK_BATCH_WAIT")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  app.add_option("--webhook-max-attempts", c.webhook_max_attempts,
                 "POSTs of one batch (5xx, 408, 429, timeouts, connection errors are retried), "
                 "then it is kept for GET /admin/webhooks/failed")
      ->envname("HERALD_WEBHOOK_MAX_ATTEMPTS")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.add_option("--webhook-backoff", c.webhook_backoff,
                 "Seconds before a batch's second attempt; doubled for each further one")
      ->envname("HERALD_WEBHOOK_BACKOFF")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--webhook-timeout", c.webhook_timeout,
                 "Seconds one webhook POST may take, connect to response")
      ->envname("HERALD_WEBHOOK_TIMEOUT")
      ->check(CLI::Range(0.01, 600.0))
      ->capture_default_str();
  app.add_option("--webhook-queue", c.webhook_queue,
                 "Events waiting for the webhook, at most; more are dropped and counted")
      ->envname("HERALD_WEBHOOK_QUEUE")
      ->check(CLI::Range(1ul, 100'000'000ul))
      ->capture_default_str();
  app.add_option("--webhook-failed-max", c.webhook_failed_max,
                 "Failed webhook batches kept in memory; the oldest go first")
      ->envname("HERALD_WEBHOOK_FAILED_MAX")
      ->check(CLI::Range(1ul, 1'000'000ul))
      ->capture_default_str();
  app.add_option("--events", c.stream_url,
                 "Also XADD each outcome event (field `event`, its JSON) to a Redis Stream: "
                 "redis://[[user]:password@]host[:port][/db]/stream")
      ->envname("HERALD_EVENTS");
  app.add_option("--events-max-length", c.stream_max_length,
                 "Approximate length the --events stream is trimmed to (MAXLEN ~; 0: never)")
      ->envname("HERALD_EVENTS_MAX_LENGTH")
      ->capture_default_str();
}

std::unique_ptr<EventOutputs> make_event_outputs(asio::io_context& io, const EventsConfig& c) {
  if (c.webhook_url.empty() && c.stream_url.empty()) return nullptr;
  return std::make_unique<Outputs>(io, c);
}

}  // namespace herald::server
