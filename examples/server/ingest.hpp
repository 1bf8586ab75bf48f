#pragma once
// herald-server's --ingest: publish requests read from a Redis Stream (herald::redis::
// RedisIngest), each decoded like a POST /notify body (read_publish: native and seed-003
// forms) and published with the entry id as its idempotency key (docs/operations.md,
// "Durable ingest").

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "herald/engine.hpp"

namespace herald::server {

struct IngestConfig {
  std::string url;  // redis://[[user]:password@]host[:port][/db]/stream; empty: no ingest
  std::string group = "herald";
  double claim_idle = 30;  // seconds
  std::size_t max_in_flight = 1000;
  unsigned max_attempts = 5;
  double rate_limit = 0;  // the server's --rate-limit: a rate-limited entry waits 1/rate
};

class ServerIngest {
 public:
  virtual ~ServerIngest() = default;
  /// Stops reading and waits for the entries in flight (their publishes need the engine
  /// running); then `done`, on the ingest's strand.
  virtual void stop(std::function<void()> done) = 0;
  /// herald_ingest_* in Prometheus text. Any thread.
  virtual std::string metrics() const = 0;
};

/// Throws herald::Error when the URL is malformed or Redis support is not built.
void check_ingest(const IngestConfig& config);

/// Starts consuming as consumer `engine.instance_id()`. Throws herald::Error.
std::unique_ptr<ServerIngest> start_ingest(asio::io_context& io, Engine& engine,
                                           const IngestConfig& config);

}  // namespace herald::server
