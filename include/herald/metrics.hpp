#pragma once
// Engine metrics: counters, gauges and a latency histogram, readable from any thread and
// renderable as Prometheus text.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "herald/export.hpp"

namespace herald {

/// A monotonically increasing count. Thread-safe, lock-free.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down. Thread-safe, lock-free.
class Gauge {
 public:
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// Cumulative histogram of seconds with fixed buckets. Thread-safe, lock-free.
class HERALD_API Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1.0,  5.0};
  void observe(double seconds) noexcept;
  /// Observations <= kBounds[i] (cumulative), i < kBounds.size(); the last slot is +Inf.
  std::uint64_t bucket(std::size_t i) const noexcept;
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // not cumulative
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

/// Everything an engine measures. Names in render_prometheus() are prefixed `herald_`.
struct HERALD_API Metrics {
  Gauge connections;          // open, authenticated sessions
  Counter connections_total;  // sessions ever opened
  Counter rejected;           // handshakes the authenticator refused
  Counter published;          // publishes accepted (duplicates excluded)
  Counter duplicates;         // publishes answered from the idempotency record
  Counter publish_errors;     // publishes refused (validation, store unavailable, shutdown)
  Counter rate_limited;       // publishes refused by the rate limit
  Counter stored;             // stream entries written
  Counter delivered;          // frames of notifications written to sessions (incl. replay)
  Counter acked;              // inbox entries acknowledged by clients
  Counter redelivered;        // redeliveries after an ack timeout
  Counter dead_lettered;      // deliveries given up after the last attempt
  Counter slow_consumers;     // sessions closed because their queue passed its bound
  Counter gap_repairs;        // store reads triggered by a seq gap (lost broker message)
  Counter resume_refused;     // resumes answered with "reload" (epoch changed / trimmed)
  Counter broker_fallbacks;   // publishes relayed to every instance (registry unavailable)
  Counter events;             // outcome events handed to the host (Engine::on_event)
  Counter muted;              // inbox entries not written because the recipient muted them
  Counter retention_removed;  // inbox entries removed by inbox retention
  Histogram delivery_latency; // created_at -> written to the session, seconds

  /// Prometheus text exposition format (version 0.0.4).
  std::string render_prometheus() const;
};

}  // namespace herald
