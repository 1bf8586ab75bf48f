// Snowflake ids: 41 bits of milliseconds since 2024-01-01, 10 bits of node, 12 bits of
// sequence.

#include "herald/snowflake.hpp"

#include <string>

#include "herald/error.hpp"

namespace herald {
namespace {
constexpr int kNodeBits = 10;
constexpr int kSequenceBits = 12;
constexpr std::uint32_t kMaxSequence = (1u << kSequenceBits) - 1;
}  // namespace

SnowflakeGenerator::SnowflakeGenerator(std::uint16_t node) : node_(node) {
  if (node > kMaxNode) {
    throw Error("snowflake node " + std::to_string(node) +
                " is out of range 0..1023: set EngineOptions::node_id");
  }
}

NotificationId SnowflakeGenerator::next(TimePoint now) {
  std::int64_t ms = to_unix_ms(now) - kEpochMs;
  if (ms < 0) ms = 0;  // a clock before 2024 is wrong; keep ids well-formed anyway
  if (ms > last_ms_) {
    last_ms_ = ms;
    sequence_ = 0;
  } else if (++sequence_ > kMaxSequence) {
    // Same millisecond (or the clock stepped back): keep the last timestamp. When the 4096
    // ids of a millisecond are used up, borrow the next one instead of waiting for the clock:
    // logical time runs ahead for a while and ids stay unique and increasing.
    ++last_ms_;
    sequence_ = 0;
  }
  return (static_cast<NotificationId>(last_ms_) << (kNodeBits + kSequenceBits)) |
         (static_cast<NotificationId>(node_) << kSequenceBits) | sequence_;
}

TimePoint SnowflakeGenerator::time_of(NotificationId id) {
  return from_unix_ms(static_cast<std::int64_t>(id >> (kNodeBits + kSequenceBits)) + kEpochMs);
}

std::uint16_t SnowflakeGenerator::node_of(NotificationId id) {
  return static_cast<std::uint16_t>((id >> kSequenceBits) & kMaxNode);
}

}  // namespace herald
