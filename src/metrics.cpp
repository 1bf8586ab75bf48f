// Metrics: the latency histogram and the Prometheus text exposition.

#include "herald/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace herald {

void Histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;  // i == size(): the +Inf slot
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  // The sum is kept in whole microseconds so it fits a lock-free integer atomic; negative or
  // NaN observations (clock skew) add nothing.
  if (seconds > 0) {
    sum_micros_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e6)),
                          std::memory_order_relaxed);
  }
}

std::uint64_t Histogram::bucket(std::size_t i) const noexcept {
  std::uint64_t total = 0;
  for (std::size_t j = 0; j <= i && j < buckets_.size(); ++j) {
    total += buckets_[j].load(std::memory_order_relaxed);
  }
  return total;
}

double Histogram::sum() const noexcept {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

namespace {

void append_counter(std::string& out, const char* name, const char* help, const Counter& c) {
  out += "# HELP herald_";
  out += name;
  out += "_total ";
  out += help;
  out += "\n# TYPE herald_";
  out += name;
  out += "_total counter\nherald_";
  out += name;
  out += "_total ";
  out += std::to_string(c.value());
  out += '\n';
}

// Shortest round-trippable-enough decimal for bucket bounds and sums ("0.0005", "5").
std::string format_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

}  // namespace

std::string Metrics::render_prometheus() const {
  std::string out;
  out.reserve(4096);

  out += "# HELP herald_connections Open, authenticated sessions.\n";
  out += "# TYPE herald_connections gauge\n";
  out += "herald_connections " + std::to_string(connections.value()) + "\n";

  append_counter(out, "connections", "Sessions ever opened.", connections_total);
  append_counter(out, "rejected", "Handshakes the authenticator refused.", rejected);
  append_counter(out, "published", "Publishes accepted (duplicates excluded).", published);
  append_counter(out, "duplicates", "Publishes answered from the idempotency record.",
                 duplicates);
  append_counter(out, "publish_errors",
                 "Publishes refused (validation, store unavailable, shutdown).", publish_errors);
  append_counter(out, "rate_limited", "Publishes refused by the rate limit.", rate_limited);
  append_counter(out, "stored", "Stream entries written.", stored);
  append_counter(out, "delivered",
                 "Frames of notifications written to sessions (incl. replay).", delivered);
  append_counter(out, "acked", "Inbox entries acknowledged by clients.", acked);
  append_counter(out, "redelivered", "Redeliveries after an ack timeout.", redelivered);
  append_counter(out, "dead_lettered", "Deliveries given up after the last attempt.",
                 dead_lettered);
  append_counter(out, "slow_consumers", "Sessions closed because their queue passed its bound.",
                 slow_consumers);
  append_counter(out, "gap_repairs", "Store reads triggered by a seq gap (lost broker message).",
                 gap_repairs);
  append_counter(out, "resume_refused",
                 "Resumes answered with reload (epoch changed or history trimmed).",
                 resume_refused);
  append_counter(out, "broker_fallbacks",
                 "Publishes relayed to every instance (registry unavailable).", broker_fallbacks);
  append_counter(out, "events", "Outcome events handed to the host (Engine::on_event).", events);
  append_counter(out, "muted", "Inbox entries not written because the recipient muted them.",
                 muted);
  append_counter(out, "inbox_retention_removed",
                 "Inbox entries removed by inbox retention (max entries, max age).",
                 retention_removed);

  const Histogram& h = delivery_latency;
  out += "# HELP herald_delivery_latency_seconds From created_at to written to the session.\n";
  out += "# TYPE herald_delivery_latency_seconds histogram\n";
  for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    out += "herald_delivery_latency_seconds_bucket{le=\"" + format_double(Histogram::kBounds[i]) +
           "\"} " + std::to_string(h.bucket(i)) + "\n";
  }
  // Read the +Inf bucket and the count from the same snapshot of buckets, so that a concurrent
  // observe() cannot make _count disagree with the +Inf bucket in one scrape.
  const std::uint64_t total = h.bucket(Histogram::kBounds.size());
  out += "herald_delivery_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(total) + "\n";
  out += "herald_delivery_latency_seconds_sum " + format_double(h.sum()) + "\n";
  out += "herald_delivery_latency_seconds_count " + std::to_string(total) + "\n";
  return out;
}

}  // namespace herald
