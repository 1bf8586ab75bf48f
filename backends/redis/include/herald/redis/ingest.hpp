#pragma once
// herald::redis::RedisIngest — durable ingest of publish requests from a Redis Stream.
//
// Producers XADD entries to a stream; RedisIngest reads them as one consumer of a consumer
// group (XREADGROUP), hands each entry's body to the host (which decodes and publishes
// it) and XACKs the entry only once the host reports it stored. An entry that is not
// acknowledged stays in the group's pending list: after a crash another consumer (or this
// one, restarted) claims it with XAUTOCLAIM once it has been idle for `claim_idle`. So
// every entry Redis kept is stored at least once; with the entry id as the publish's
// idempotency key, the store keeps it exactly once (docs/operations.md, "Durable ingest").
//
//   XADD notifications '*' body '{"to":{"users":["alice"]},"type":"t","data":{}}'
//
// hiredis and Asio never appear in this header.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "herald/export.hpp"
#include "herald/redis/redis.hpp"

namespace herald::redis {

/// How to consume the stream. Plain aggregate; checked by RedisIngest::create.
struct IngestOptions {
  /// The Redis to read from (url, timeouts, reconnect backoff; the prefixes are unused).
  RedisOptions redis;
  /// The stream (created empty with the group if missing).
  std::string stream;
  /// The consumer group; instances sharing it share the stream's entries. Created at the
  /// stream's first entry (`XGROUP CREATE stream group 0 MKSTREAM`) if missing.
  std::string group = "herald";
  /// This consumer's name in the group, unique per instance: the engine's instance id.
  std::string consumer;
  /// The field of an entry holding the JSON body; an entry without it is dead-lettered.
  std::string body_field = "body";
  /// Most entries handed to the host and not yet acknowledged (back-pressure: no read
  /// while that many are in flight).
  std::size_t max_in_flight = 1000;
  /// Most entries one XREADGROUP or XAUTOCLAIM asks for.
  std::size_t batch = 200;
  /// How long one XREADGROUP waits for new entries (BLOCK).
  Duration block = std::chrono::milliseconds(1000);
  /// Entries pending longer than this in any consumer (a crashed one, or a retry left here)
  /// are claimed by this one.
  Duration claim_idle = std::chrono::seconds(30);
  /// How often to look for such entries.
  Duration claim_interval = std::chrono::seconds(5);
  /// An entry whose delivery count reaches this and still is not stored is dead-lettered.
  std::uint32_t max_attempts = 5;
  /// How often the pending count and the lag are polled for stats().
  Duration stats_interval = std::chrono::seconds(1);
};

/// What the host reports for one entry.
struct IngestOutcome {
  enum class Kind {
    stored,   // in the store (or a duplicate of a stored one): XACK
    retry,    // not now (e.g. the store is unavailable): stays pending, claimed again later
    invalid,  // can never succeed: dead-lettered at once with `reason`, then XACKed
  };
  Kind kind = Kind::stored;
  std::string reason;

  static IngestOutcome stored() { return {Kind::stored, {}}; }
  static IngestOutcome retry(std::string why) { return {Kind::retry, std::move(why)}; }
  static IngestOutcome invalid(std::string why) { return {Kind::invalid, std::move(why)}; }
};

/// One stream entry handed to the host.
struct IngestEntry {
  std::string id;               // the stream entry id, e.g. "1733313600000-0"
  std::string body;             // the value of IngestOptions::body_field
  std::uint64_t deliveries = 1; // how often the group delivered it (1: the first time)
};

/// Decodes and publishes one entry, then calls `done` exactly once, from any thread.
/// Called on the ingest's own strand: it must not block.
using IngestHandler =
    std::function<void(const IngestEntry& entry, std::function<void(IngestOutcome)> done)>;

/// Counters and gauges; readable from any thread.
struct IngestStats {
  std::uint64_t consumed = 0;       // entries handed to the host (claimed ones included)
  std::uint64_t acked = 0;          // entries XACKed after the host stored them
  std::uint64_t dead_lettered = 0;  // entries moved to `<stream>:dead`
  std::uint64_t retried = 0;        // retry outcomes (left pending)
  std::uint64_t claimed = 0;        // entries taken over by XAUTOCLAIM
  std::uint64_t in_flight = 0;      // handed to the host, not yet resolved
  std::int64_t pending = -1;        // the group's pending entries (XPENDING); -1: unknown
  std::int64_t lag = -1;            // entries not yet delivered to the group; -1: unknown
};

/// Parses `redis://[[user]:password@]host[:port][/db]/stream`: the last path segment is the
/// stream. Throws herald::Error naming what is wrong.
struct IngestSource {
  std::string redis_url;  // without the stream
  std::string stream;
};
HERALD_API IngestSource parse_ingest_url(const std::string& url);

/// The consumer. Runs on the host's io_context with two connections of its own (blocking
/// reads on one; acks, claims and stats on the other); reconnects by itself.
class HERALD_API RedisIngest {
 public:
  /// Starts consuming. Throws herald::Error on bad options.
  static std::unique_ptr<RedisIngest> create(asio::io_context& io, IngestOptions options,
                                             IngestHandler handler);
  virtual ~RedisIngest() = default;

  /// Stops reading, waits for the entries in flight to be resolved (and acknowledged),
  /// then disconnects and calls `done` (on the ingest's strand). Entries not resolved stay
  /// pending in Redis. Destroy the object only after `done` (or after io_context stopped).
  virtual void stop(std::function<void()> done) = 0;
  virtual IngestStats stats() const = 0;
  /// True while both connections are up. Any thread.
  virtual bool connected() const = 0;
  /// Why it is not connected ("" when it is). Any thread.
  virtual std::string last_error() const = 0;
};

}  // namespace herald::redis
