#include "sse.hpp"

#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

#include "herald/model.hpp"

namespace herald::websocket::detail {

using nlohmann::json;

namespace {

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Decimal digits only, of a number that fits in 64 bits (seqs and epochs), as the engine
// reads since and epoch: an id the engine would refuse is ignored here instead.
bool decimal(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc() && p == end;
}

std::uint64_t seq_of(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  return 0;
}

// The frame's op without parsing it: the first "op":" of an engine frame is its own (quotes
// inside strings are escaped, and nested objects, a notification's data, come after it).
std::string_view op_of(const std::string& frame) {
  const std::size_t at = frame.find(R"("op":")");
  if (at == std::string::npos) return {};
  const std::size_t from = at + 6;
  const std::size_t end = frame.find('"', from);
  if (end == std::string::npos) return {};
  return std::string_view(frame).substr(from, end - from);
}

// "<topic>@<seq>[.<epoch>]", as id() writes each topic's position: a name the engine would
// join (not one of its own '$' topics) and numbers it would read.
bool topic_position(std::string_view entry) {
  const std::size_t at = entry.rfind('@');
  if (at == std::string_view::npos) return false;
  const std::string name(entry.substr(0, at));
  const std::string_view position = entry.substr(at + 1);
  const std::size_t dot = position.find('.');
  return valid_name(name) && name[0] != '$' && decimal(std::string(position.substr(0, dot))) &&
         (dot == std::string_view::npos || decimal(std::string(position.substr(dot + 1))));
}

}  // namespace

// Only frames that can move a position are parsed.
bool SsePositions::track(const std::string& frame) {
  const std::string_view kind = op_of(frame);
  if (kind != "notification" && kind != "welcome" && kind != "subscribed" && kind != "reset" &&
      kind != "unsubscribed")
    return false;
  const json j = json::parse(frame, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  const std::string op = j.value("op", "");
  if (op == "unsubscribed") return topics_.erase(j.value("topic", "")) > 0;
  if (op == "welcome") {
    have_inbox_ = true;
    inbox_ = {seq_of(j.value("cursor", json())), j.value("epoch", "")};
    return true;
  }
  if (op == "subscribed") {
    topics_[j.value("topic", "")] = {seq_of(j.value("cursor", json())), j.value("epoch", "")};
    return true;
  }
  const std::string stream = j.value("stream", "");
  const bool inbox = starts_with(stream, "inbox:");
  if (!inbox && !starts_with(stream, "topic:")) return false;
  Position& at = inbox ? inbox_ : topics_[stream.substr(6)];
  const std::string epoch = j.value("epoch", "");
  const std::uint64_t seq = seq_of(j.value(op == "reset" ? "head" : "seq", json()));
  // A redelivery (an older seq) leaves the position where it is.
  if (op == "notification" && epoch == at.epoch && seq <= at.seq) return false;
  at = {seq, epoch};
  return true;
}

std::string SsePositions::id() const {
  if (!have_inbox_) return "";
  std::string id = std::to_string(inbox_.seq) + "." + inbox_.epoch;
  for (const auto& [topic, p] : topics_) {
    if (topic.find(',') != std::string::npos || topic == "$broadcast") continue;
    id += "," + topic + "@" + std::to_string(p.seq);
    if (!p.epoch.empty()) id += "." + p.epoch;
  }
  return id;
}

void apply_last_event_id(Handshake& handshake) {
  std::string id;
  if (auto h = handshake.headers.find("last-event-id"); h != handshake.headers.end())
    id = h->second;
  else if (auto q = handshake.query.find("lastEventId"); q != handshake.query.end())
    id = q->second;
  if (id.empty()) return;
  const std::size_t comma = id.find(',');
  const std::string inbox = id.substr(0, comma);
  const std::size_t dot = inbox.find('.');
  const std::string seq = inbox.substr(0, dot);
  const std::string epoch = dot == std::string::npos ? "" : inbox.substr(dot + 1);
  if (!decimal(seq) || (dot != std::string::npos && !decimal(epoch))) return;
  const std::string listed = comma == std::string::npos ? "" : id.substr(comma + 1);
  for (std::string_view rest = listed; comma != std::string::npos;) {
    const std::size_t next = rest.find(',');
    if (!topic_position(rest.substr(0, next))) return;
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next + 1);
  }
  handshake.query["since"] = seq;
  if (!epoch.empty()) handshake.query["epoch"] = epoch;
  if (listed.empty()) return;
  std::string& topics = handshake.query["topics"];
  topics = listed + (topics.empty() ? "" : "," + topics);
}

std::string sse_prelude(const std::string& post_path) {
  return "HTTP/1.1 200 OK\r\n"
         "Content-Type: text/event-stream; charset=utf-8\r\n"
         "Cache-Control: no-cache\r\n"
         "X-Accel-Buffering: no\r\n"  // nginx: pass events on at once
         "Connection: close\r\n"
         "\r\n"
         "retry: 1000\n\n" +
         sse_event("", json{{"op", "sse"}, {"post", post_path}}.dump());
}

std::string sse_event(const std::string& id, const std::string& frame) {
  std::string event;
  event.reserve(frame.size() + id.size() + 16);
  if (!id.empty()) event.append("id: ").append(id).append("\n");
  // Frames are single-line JSON (the engine escapes newlines inside strings).
  return event.append("data: ").append(frame).append("\n\n");
}

std::string sse_close_event(CloseCode code, const std::string& reason, bool forget_id) {
  const std::string event = sse_event(
      "", json{{"op", "close"}, {"code", static_cast<int>(code)}, {"reason", reason}}.dump(
              -1, ' ', false, json::error_handler_t::replace));
  return forget_id ? "id:\n" + event : event;
}

}  // namespace herald::websocket::detail
