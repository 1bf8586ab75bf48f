#pragma once
// What the load benchmarks share: the clock their scheduled and received times come from,
// how they summarise the latencies of a phase, and how they read CPU time (user and system
// apart, and the machine's steal: on a shared VM a run with a high steal share is noisy).

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
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

/// User and system CPU seconds.
struct CpuTimes {
  double user = 0, system = 0;
  double total() const { return user + system; }
};

inline CpuTimes operator-(CpuTimes a, CpuTimes b) {
  return {a.user - b.user, a.system - b.system};
}

inline CpuTimes operator+(CpuTimes a, CpuTimes b) {
  return {a.user + b.user, a.system + b.system};
}

/// The calling thread's CPU times so far.
inline CpuTimes thread_cpu() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  auto seconds = [](timeval t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {seconds(u.ru_utime), seconds(u.ru_stime)};
}

/// The machine's CPU time so far (all CPUs, in clock ticks) and the part of it the
/// hypervisor took (steal), from the first line of /proc/stat.
struct MachineTimes {
  double total = 0, steal = 0;
};

inline MachineTimes machine_times() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  MachineTimes m;
  in >> cpu;
  double v = 0;
  for (int i = 1; i <= 10 && in >> v; ++i) {
    m.total += v;
    if (i == 8) m.steal = v;
  }
  return m;
}

/// The share of the machine's CPU time stolen between two readings.
inline double steal_share(const MachineTimes& before, const MachineTimes& after) {
  const double total = after.total - before.total;
  return total > 0 ? (after.steal - before.steal) / total : 0;
}

}  // namespace herald::bench
