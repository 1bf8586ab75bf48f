// herald-server's --ingest (ingest.hpp): RedisIngest's handler decodes an entry's body with
// read_publish and publishes it; the outcome tells RedisIngest whether to XACK.

#include "ingest.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <asio/steady_timer.hpp>
#include <simdjson.h>

#include "prometheus.hpp"
#include "publish_body.hpp"
#ifdef HERALD_SERVER_WITH_REDIS
#include "herald/redis/ingest.hpp"
#endif

namespace herald::server {

#ifdef HERALD_SERVER_WITH_REDIS
namespace {

using redis::IngestOutcome;
using Done = std::function<void(IngestOutcome)>;

struct Publisher {
  Engine& engine;
  asio::io_context& io;
  std::chrono::milliseconds rate_wait;

  // Publishes until it is stored or fails for good. rate_limited waits here (the entry
  // stays in flight, which holds back reading), it is not an attempt.
  void publish(std::shared_ptr<const PublishRequest> request, const FieldNames* names,
               Done done) const {
    engine.publish(*request, [this, request, names, done = std::move(done)](
                                 Result<PublishResult> r) mutable {
      if (r.ok()) return done(IngestOutcome::stored());  // stored, or a duplicate of it
      const Status& s = r.status();
      if (s.code() == Errc::rate_limited) {
        auto timer = std::make_shared<asio::steady_timer>(io, rate_wait);
        timer->async_wait([this, timer, request, names, done](const std::error_code&) mutable {
          publish(std::move(request), names, std::move(done));
        });
        return;
      }
      if (s.retryable() || s.code() == Errc::shutting_down || s.code() == Errc::internal)
        return done(IngestOutcome::retry(std::string(to_string(s.code())) + ": " + s.message()));
      const std::string field = publish_field(s, *names);
      done(IngestOutcome::invalid(std::string(to_string(s.code())) + ": " +
                                  (field.empty() ? "" : field + ": ") + s.message()));
    });
  }
};

class RedisServerIngest final : public ServerIngest {
 public:
  RedisServerIngest(asio::io_context& io, Engine& engine, const IngestConfig& config) {
    const redis::IngestSource source = redis::parse_ingest_url(config.url);
    redis::IngestOptions o;
    o.redis.url = source.redis_url;
    o.stream = source.stream;
    o.group = config.group;
    o.consumer = engine.instance_id();
    o.max_in_flight = config.max_in_flight;
    o.max_attempts = config.max_attempts;
    o.claim_idle = std::chrono::milliseconds(static_cast<std::int64_t>(config.claim_idle * 1000));
    o.claim_interval = std::max(std::chrono::milliseconds(100), o.claim_idle / 2);
    publisher_ = std::make_shared<Publisher>(Publisher{
        engine, io,
        std::chrono::milliseconds(config.rate_limit > 0
                                      ? std::max<std::int64_t>(
                                            10, static_cast<std::int64_t>(1000 / config.rate_limit))
                                      : 10)});
    const std::string principal = "ingest:" + source.stream;
    ingest_ = redis::RedisIngest::create(
        io, std::move(o),
        [publisher = publisher_, principal](const redis::IngestEntry& entry, Done done) {
          thread_local simdjson::dom::parser parser;
          simdjson::dom::element root;
          if (auto error = parser.parse(entry.body).get(root))
            return done(IngestOutcome::invalid(std::string("body: malformed JSON: ") +
                                               simdjson::error_message(error)));
          if (!root.is_object())
            return done(IngestOutcome::invalid("body: expected a JSON object (one notification)"));
          ParsedPublish parsed;
          if (auto p = read_publish(root, publisher->engine.options(), parsed))
            return done(IngestOutcome::invalid(p->code + ": " + p->field + ": " + p->message));
          // A redelivered entry (after a crash or a lost XACK) must not be stored twice.
          if (parsed.request.idempotency_key.empty()) parsed.request.idempotency_key = entry.id;
          parsed.request.principal = principal;
          publisher->publish(std::make_shared<const PublishRequest>(std::move(parsed.request)),
                             parsed.names, std::move(done));
        });
  }

  void stop(std::function<void()> done) override { ingest_->stop(std::move(done)); }

  std::string metrics() const override {
    const redis::IngestStats s = ingest_->stats();
    std::string out;
    auto add = [&out](const char* name, const char* type, const char* help, long long v) {
      append_metric(out, std::string("herald_ingest_") + name, type, help, v);
    };
    auto n = [](std::uint64_t v) { return static_cast<long long>(v); };
    add("consumed_total", "counter", "Stream entries handed to the engine.", n(s.consumed));
    add("acked_total", "counter", "Entries acknowledged (XACK) once stored.", n(s.acked));
    add("dead_lettered_total", "counter", "Entries moved to the dead-letter stream.",
        n(s.dead_lettered));
    add("retried_total", "counter", "Entries left pending after a retryable failure.",
        n(s.retried));
    add("claimed_total", "counter", "Entries claimed from idle consumers (XAUTOCLAIM).",
        n(s.claimed));
    add("in_flight", "gauge", "Entries being published, not yet acknowledged.", n(s.in_flight));
    add("pending", "gauge", "The group's pending entries (XPENDING); -1 unknown.", s.pending);
    add("lag", "gauge", "Entries not yet read by the group (XINFO GROUPS lag); -1 unknown.",
        s.lag);
    add("connected", "gauge", "1 while both ingest connections to Redis are up.",
        ingest_->connected() ? 1 : 0);
    return out;
  }

 private:
  std::shared_ptr<Publisher> publisher_;  // before ingest_: its handler uses it
  std::unique_ptr<redis::RedisIngest> ingest_;
};

}  // namespace

void check_ingest(const IngestConfig& config) {
  try {
    redis::parse_ingest_url(config.url);
  } catch (const Error& e) {
    throw Error(std::string("--ingest: ") + e.what());
  }
}

std::unique_ptr<ServerIngest> start_ingest(asio::io_context& io, Engine& engine,
                                           const IngestConfig& config) {
  try {
    return std::make_unique<RedisServerIngest>(io, engine, config);
  } catch (const Error& e) {
    throw Error(std::string("--ingest: ") + e.what());
  }
}

#else

void check_ingest(const IngestConfig&) {
  throw Error("--ingest: this herald-server was built without the Redis backend; rebuild with "
              "-DHERALD_WITH_REDIS=ON (needs libhiredis-dev) or run without --ingest");
}

std::unique_ptr<ServerIngest> start_ingest(asio::io_context&, Engine&, const IngestConfig& c) {
  check_ingest(c);
  return nullptr;
}

#endif

}  // namespace herald::server
