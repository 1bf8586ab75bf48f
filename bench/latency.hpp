#pragma once
// What the load benchmarks share: the clock their scheduled and received times come from,
// and how they summarise the latencies of a phase.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace herald::bench {

/// Microseconds on the monotonic clock (steady_clock is CLOCK_MONOTONIC on Linux).
inline std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// p50/p99/max of a phase's latencies in milliseconds (0 when there are none).
struct LatencySummary {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

/// Sorts `latency_us` and summarises it.
inline LatencySummary summarize(std::vector<std::int64_t>& latency_us) {
  LatencySummary s;
  if (latency_us.empty()) return s;
  std::sort(latency_us.begin(), latency_us.end());
  auto at = [&](double q) {
    const auto i = std::min(latency_us.size() - 1,
                            static_cast<std::size_t>(q * static_cast<double>(latency_us.size())));
    return static_cast<double>(latency_us[i]) / 1e3;
  };
  s.p50_ms = at(0.5);
  s.p99_ms = at(0.99);
  s.max_ms = static_cast<double>(latency_us.back()) / 1e3;
  return s;
}

}  // namespace herald::bench
