#pragma once
// Reading the position at the start of a notification frame without a JSON parser. The
// engine starts every notification frame the same way (docs/protocol.md; written by
// src/engine/protocol.cpp, notification_head), in this order:
//
//   {"op":"notification","stream":"<inbox|topic>:<name>","seq":<n>,"epoch":"<n>"[,"attempt":<n>],
//
// and the notification's own fields ("id", "type", "data"…) follow. A transport that needs a
// frame's position for every recipient of a fan-out (SSE event ids, STOMP headers) reads it
// here: no allocation, no copy, only the head's ~100 bytes are looked at.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

struct NotificationHead {
  bool inbox = false;      // "inbox:<name>", else "topic:<name>"
  std::string_view name;   // the user or topic, as written (points into the text read)
  std::uint64_t seq = 0;
  std::string_view epoch;  // decimal digits, as written
  std::uint32_t attempt = 1;
  std::size_t size = 0;    // bytes up to and including the ',' the notification's fields follow
};

namespace detail {

inline bool skip_prefix(std::string_view& text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix) return false;
  text.remove_prefix(prefix.size());
  return true;
}

// The text up to the next '"', consumed with the quote; false if none, or if the string
// holds an escape (then it is not the value itself).
inline bool plain_string(std::string_view& text, std::string_view& out) {
  const std::size_t end = text.find('"');
  if (end == std::string_view::npos) return false;
  out = text.substr(0, end);
  text.remove_prefix(end + 1);
  return out.find('\\') == std::string_view::npos;
}

template <class Number>
bool decimal_prefix(std::string_view& text, Number& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc()) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}

}  // namespace detail

/// Reads the head of the notification frame `text` starts with (a frame's head alone, or the
/// whole frame). False if `text` does not start exactly as the engine writes it, or names a
/// stream written with escapes (a '"' or '\' in the name): read such a frame with a JSON
/// parser instead. Never throws.
inline bool read_notification_head(std::string_view text, NotificationHead& out) {
  const std::size_t total = text.size();
  if (!detail::skip_prefix(text, R"({"op":"notification","stream":")")) return false;
  out.inbox = detail::skip_prefix(text, "inbox:");
  if (!out.inbox && !detail::skip_prefix(text, "topic:")) return false;
  if (!detail::plain_string(text, out.name) || !detail::skip_prefix(text, R"(,"seq":)") ||
      !detail::decimal_prefix(text, out.seq) || !detail::skip_prefix(text, R"(,"epoch":")") ||
      !detail::plain_string(text, out.epoch))
    return false;
  out.attempt = 1;
  if (detail::skip_prefix(text, R"(,"attempt":)") && !detail::decimal_prefix(text, out.attempt))
    return false;
  if (!detail::skip_prefix(text, ",")) return false;
  out.size = total - text.size();
  return true;
}

}  // namespace herald
