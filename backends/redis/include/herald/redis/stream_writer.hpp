#pragma once
// herald::redis::RedisStreamWriter — appends entries to a Redis Stream (XADD), e.g. the
// engine's outcome events for a host that consumes them from Redis (herald-server --events).
// hiredis and Asio never appear in this header.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/redis/redis.hpp"

namespace herald::redis {

struct StreamWriterOptions {
  RedisOptions redis;
  std::string stream;            // the key XADD appends to
  std::size_t max_length = 1'000'000;  // XADD MAXLEN ~ (approximate trim); 0: no trim
};

class HERALD_API RedisStreamWriter {
 public:
  /// Connects in the background (and reconnects by itself). Throws herald::Error on bad
  /// options (URL, empty stream).
  static std::shared_ptr<RedisStreamWriter> create(asio::io_context& io,
                                                   StreamWriterOptions options);
  virtual ~RedisStreamWriter() = default;

  /// XADD <stream> [MAXLEN ~ n] * <field> <value>. `done` gets ok, or Errc::unavailable
  /// while Redis is down or did not answer within command_timeout; it runs on the
  /// writer's own strand (not the caller's thread): hand the result on, do not block.
  /// Entries are appended in the order of the calls. Any thread.
  virtual void add(std::string field, std::string value, std::function<void(Status)> done) = 0;
  /// True while connected. Any thread.
  virtual bool connected() const = 0;
};

}  // namespace herald::redis
