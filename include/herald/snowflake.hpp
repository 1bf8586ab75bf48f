#pragma once
// Snowflake ids: time-ordered 64-bit ids unique across up to 1024 nodes.

#include <cstdint>

#include "herald/export.hpp"
#include "herald/model.hpp"
#include "herald/time.hpp"

namespace herald {

/// Generates ids `ms since 2024-01-01 << 22 | node << 12 | sequence`.
/// Not thread-safe: the engine owns one and uses it from its executor.
/// Monotonic even if the clock steps back (it keeps using its last timestamp).
class HERALD_API SnowflakeGenerator {
 public:
  static constexpr std::int64_t kEpochMs = 1704067200000;  // 2024-01-01T00:00:00Z
  static constexpr std::uint16_t kMaxNode = 1023;

  /// Throws herald::Error if node > kMaxNode.
  explicit SnowflakeGenerator(std::uint16_t node);
  NotificationId next(TimePoint now);

  static TimePoint time_of(NotificationId id);
  static std::uint16_t node_of(NotificationId id);

 private:
  std::uint16_t node_;
  std::int64_t last_ms_ = 0;
  std::uint32_t sequence_ = 0;
};

}  // namespace herald
