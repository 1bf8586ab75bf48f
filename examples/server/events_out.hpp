#pragma once
// Where herald-server sends the engine's outcome events (docs/events.md): signed webhooks
// (--webhook-url, webhooks.hpp) and/or a Redis Stream (--events redis://host:port/stream).
// Their flags, metrics and REST routes (GET /admin/webhooks/failed, POST …/{id}/retry).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>

#include "herald/engine.hpp"
#include "rest_api.hpp"

namespace herald::server {

struct EventsConfig {
  double offline_after = 30;  // seconds; EngineOptions::offline_after
  std::string webhook_url;    // empty: no webhooks
  std::string webhook_secret;
  std::size_t webhook_batch = 100;
  double webhook_batch_wait = 0.2;  // seconds
  unsigned webhook_max_attempts = 5;
  double webhook_backoff = 0.5;     // seconds before the 2nd attempt; doubles
  double webhook_timeout = 5;       // seconds per POST
  std::size_t webhook_queue = 100'000;
  std::size_t webhook_failed_max = 1'000;
  std::string stream_url;  // --events redis://…/stream; empty: none
  std::size_t stream_max_length = 1'000'000;
};

/// Declares --offline-after, --webhook-* and --events, each with its HERALD_… variable.
void add_events_flags(CLI::App& app, EventsConfig& config);

/// The outputs chosen by the flags. Thread-safe.
class EventOutputs {
 public:
  virtual ~EventOutputs() = default;
  /// Hands one event to every output; never blocks (bounded queues). Any thread.
  virtual void publish(const OutcomeEvent& event) = 0;
  /// herald_webhook_* / herald_events_stream_* in Prometheus text.
  virtual std::string metrics() const = 0;
  /// The admin routes of the webhook (none without --webhook-url).
  virtual std::vector<ExtraRoute> routes() = 0;
  /// At shutdown, once the engine stopped: the webhook sends what it holds, within `until`
  /// (Webhooks::drain), then everything stops; `done` runs once that is over, on an io
  /// thread. The Redis Stream output has nothing to drain (it appends at once).
  virtual void drain(std::chrono::steady_clock::time_point until, std::function<void()> done) = 0;
};

/// nullptr when no output is configured. Throws herald::Error on a bad URL (or --events
/// without Redis support built in).
std::unique_ptr<EventOutputs> make_event_outputs(asio::io_context& io, const EventsConfig& config);

}  // namespace herald::server
