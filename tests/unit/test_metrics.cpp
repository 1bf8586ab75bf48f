// Metrics: counters, gauges, the histogram and the Prometheus text.

#include <doctest/doctest.h>

#include <string>

#include "herald/metrics.hpp"

using herald::Histogram;
using herald::Metrics;

namespace {
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos ||
         text.compare(0, line.size() + 1, line + "\n") == 0;
}
}  // namespace

TEST_CASE("counter and gauge") {
  herald::Counter c;
  CHECK(c.value() == 0);
  c.add();
  c.add(4);
  CHECK(c.value() == 5);

  herald::Gauge g;
  g.add(3);
  g.add(-5);
  CHECK(g.value() == -2);
  g.set(7);
  CHECK(g.value() == 7);
}

TEST_CASE("histogram buckets are cumulative, bounds inclusive") {
  Histogram h;
  h.observe(0.0001);  // bucket 0 (<= 0.0005)
  h.observe(0.0005);  // bucket 0: the bound itself is included
  h.observe(0.003);   // bucket 3 (<= 0.005)
  h.observe(0.2);     // bucket 8 (<= 0.25)
  h.observe(5.0);     // bucket 11
  h.observe(60.0);    // +Inf only
  CHECK(h.count() == 6);
  CHECK(h.bucket(0) == 2);
  CHECK(h.bucket(1) == 2);
  CHECK(h.bucket(2) == 2);
  CHECK(h.bucket(3) == 3);
  CHECK(h.bucket(7) == 3);
  CHECK(h.bucket(8) == 4);
  CHECK(h.bucket(10) == 4);
  CHECK(h.bucket(11) == 5);
  CHECK(h.bucket(Histogram::kBounds.size()) == 6);  // +Inf == count
  CHECK(h.sum() == doctest::Approx(0.0001 + 0.0005 + 0.003 + 0.2 + 5.0 + 60.0));
}

TEST_CASE("render_prometheus") {
  Metrics m;
  m.published.add(3);
  m.connections.set(2);
  m.connections_total.add(9);
  m.broker_fallbacks.add();
  m.delivery_latency.observe(0.0004);
  m.delivery_latency.observe(2.0);
  const std::string text = m.render_prometheus();
  CAPTURE(text);

  CHECK(has_line(text, "# TYPE herald_published_total counter"));
  CHECK(has_line(text, "herald_published_total 3"));
  CHECK(has_line(text, "herald_duplicates_total 0"));
  CHECK(has_line(text, "herald_broker_fallbacks_total 1"));
  CHECK(has_line(text, "# TYPE herald_connections gauge"));
  CHECK(has_line(text, "herald_connections 2"));
  CHECK(has_line(text, "herald_connections_total 9"));
  CHECK(has_line(text, "# TYPE herald_delivery_latency_seconds histogram"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_bucket{le=\"0.0005\"} 1"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_bucket{le=\"1\"} 1"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_bucket{le=\"5\"} 2"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_bucket{le=\"+Inf\"} 2"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_sum 2.0004"));
  CHECK(has_line(text, "herald_delivery_latency_seconds_count 2"));

  // Every counter of the struct is rendered, each with HELP and TYPE.
  for (const char* name : {"connections", "rejected", "published", "duplicates", "publish_errors",
                           "rate_limited", "stored", "delivered", "acked", "redelivered",
                           "dead_lettered", "slow_consumers", "gap_repairs", "resume_refused",
                           "broker_fallbacks"}) {
    CAPTURE(name);
    const std::string full = std::string("herald_") + name + "_total";
    CHECK(text.find("# HELP " + full + " ") != std::string::npos);
    CHECK(has_line(text, "# TYPE " + full + " counter"));
  }
  CHECK(text.back() == '\n');
}
