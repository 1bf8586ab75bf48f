#include "sse.hpp"

#include <charconv>
#include <string_view>

#include <nlohmann/json.hpp>

#include "herald/json_text.hpp"
#include "herald/model.hpp"
#include "herald/notification_head.hpp"

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
std::string_view op_of(std::string_view frame) {
  const std::size_t at = frame.find(R"("op":")");
  if (at == std::string_view::npos) return {};
  const std::size_t from = at + 6;
  const std::size_t end = frame.find('"', from);
  if (end == std::string_view::npos) return {};
  return frame.substr(from, end - from);
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

namespace {

constexpr std::string_view kIdField = "id: ";
constexpr std::string_view kDataField = "data: ";

}  // namespace

// A notification is read from its head; the other frames that can move a position (small
// control frames, one per request) are parsed. A frame every recipient shares whole (a
// topic's) comes as a body without a head: its start is read the same way.
bool SsePositions::track(std::string_view head, const std::string* body) {
  if (head.empty() && body) {
    head = *body;
    body = nullptr;
  }
  const std::string_view kind = op_of(head);
  if (kind == "notification") {
    NotificationHead p;
    if (read_notification_head(head, p)) return move(p.inbox, p.name, p.seq, p.epoch, true);
  } else if (kind != "welcome" && kind != "subscribed" && kind != "reset" &&
             kind != "unsubscribed") {
    return false;
  }
  const json j = body ? json::parse(std::string(head) + *body, nullptr, false)
                      : json::parse(head.begin(), head.end(), nullptr, false);
  if (!j.is_object()) return false;
  const std::string op = j.value("op", "");
  if (op == "unsubscribed") return topics_.erase(j.value("topic", "")) > 0;
  if (op == "welcome") {
    have_inbox_ = true;
    return move(true, "", seq_of(j.value("cursor", json())), j.value("epoch", ""), false);
  }
  if (op == "subscribed")
    return move(false, j.value("topic", ""), seq_of(j.value("cursor", json())),
                j.value("epoch", ""), false);
  const std::string stream = j.value("stream", "");
  const bool inbox = starts_with(stream, "inbox:");
  if (!inbox && !starts_with(stream, "topic:")) return false;
  return move(inbox, std::string_view(stream).substr(6),
              seq_of(j.value(op == "reset" ? "head" : "seq", json())), j.value("epoch", ""),
              op == "notification");
}

bool SsePositions::move(bool inbox, std::string_view topic, std::uint64_t seq,
                        std::string_view epoch, bool notification) {
  Position* at = &inbox_;
  if (!inbox) {
    auto it = topics_.find(topic);
    if (it == topics_.end()) it = topics_.emplace(std::string(topic), Position{}).first;
    at = &it->second;
  }
  if (notification && epoch == at->epoch && seq <= at->seq) return false;
  at->seq = seq;
  at->epoch.assign(epoch);
  return true;
}

std::string SsePositions::event_head(std::string_view head, const std::string* body) {
  std::string out;
  out.reserve(head.size() + 64);
  if (track(head, body)) {
    out += kIdField;
    append_id(out);
    out += '\n';
  }
  out += kDataField;
  out += head;
  return out;
}

std::string SsePositions::id() const {
  std::string id;
  append_id(id);
  return id;
}

void SsePositions::append_id(std::string& out) const {
  if (!have_inbox_) return;
  append_json_integer(out, inbox_.seq);
  out += '.';
  out += inbox_.epoch;
  for (const auto& [topic, p] : topics_) {
    if (topic.find(',') != std::string::npos || topic == "$broadcast") continue;
    out += ',';
    out += topic;
    out += '@';
    append_json_integer(out, p.seq);
    if (!p.epoch.empty()) out.append(".").append(p.epoch);
  }
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
         sse_event(json{{"op", "sse"}, {"post", post_path}}.dump());
}

std::string sse_event(const std::string& frame) {
  std::string event;
  event.reserve(kDataField.size() + frame.size() + kEventEnd.size());
  // Frames are single-line JSON (the engine escapes newlines inside strings).
  return event.append(kDataField).append(frame).append(kEventEnd);
}

std::string sse_close_event(CloseCode code, const std::string& reason, bool forget_id) {
  const std::string event =
      sse_event(json{{"op", "close"}, {"code", static_cast<int>(code)}, {"reason", reason}}.dump(
          -1, ' ', false, json::error_handler_t::replace));
  return forget_id ? "id:\n" + event : event;
}

}  // namespace herald::websocket::detail
