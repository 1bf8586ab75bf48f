#pragma once
// Prometheus text for the server's own counters (transport, store, ingest, events, webhooks):
// one way to write a metric, so every part of /metrics has the same shape.

#include <string>
#include <string_view>

namespace herald::server {

/// Appends the HELP and TYPE lines of metric `name` (`type`: counter or gauge).
inline void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                                 std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
}

/// Appends one sample of `name` (any integer; a gauge may be -1 for "unknown"); `labels` is
/// "" or e.g. `{thread="writer"}`.
template <class Integer>
void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   Integer value) {
  out.append(name).append(labels).append(" ").append(std::to_string(value)).append("\n");
}

/// Appends a metric with one sample and no labels: HELP, TYPE and the value.
template <class Integer>
void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, Integer value) {
  append_metric_header(out, name, type, help);
  append_sample(out, name, "", value);
}

}  // namespace herald::server
