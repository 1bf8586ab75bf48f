#pragma once
// The clock types used throughout herald.

#include <chrono>
#include <cstdint>

namespace herald {

/// Wall-clock time: created_at, expires_at, TTLs. The engine reads it from its Executor so
/// tests can drive time by hand.
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

/// Milliseconds since the Unix epoch (the wire and storage representation of a TimePoint).
inline std::int64_t to_unix_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline TimePoint from_unix_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace herald
