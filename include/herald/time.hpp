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

/// The latest and earliest Unix milliseconds a TimePoint holds (with libstdc++'s nanosecond
/// system_clock: 2262-04-11T23:47:16.854Z and 1677-09-21T00:12:43.146Z).
constexpr std::int64_t kMaxUnixMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::duration::max()).count();
constexpr std::int64_t kMinUnixMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::duration::min()).count();

/// The TimePoint of `ms`, saturated to [kMinUnixMs, kMaxUnixMs]: a time beyond what the
/// clock can hold ("9999-12-31", a far sentinel) becomes the latest one it can, never a
/// wrapped-around value.
inline TimePoint from_unix_ms(std::int64_t ms) {
  const std::int64_t clamped = ms > kMaxUnixMs ? kMaxUnixMs : ms < kMinUnixMs ? kMinUnixMs : ms;
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(clamped)));
}

}  // namespace herald
