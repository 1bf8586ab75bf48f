// The value types: error names, name validation, stream ids, resumability.

#include "herald/model.hpp"

namespace herald {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::payload_too_large: return "payload_too_large";
    case Errc::invalid_json: return "invalid_json";
    case Errc::not_found: return "not_found";
    case Errc::rate_limited: return "rate_limited";
    case Errc::unavailable: return "unavailable";
    case Errc::cannot_resume: return "cannot_resume";
    case Errc::shutting_down: return "shutting_down";
    case Errc::unauthorized: return "unauthorized";
    case Errc::forbidden: return "forbidden";
    case Errc::idempotency_conflict: return "idempotency_conflict";
    case Errc::limit_exceeded: return "limit_exceeded";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

bool valid_name(std::string_view id) noexcept {
  if (id.empty() || id.size() > 200) return false;
  for (char c : id) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7E) return false;
  }
  return true;
}

StreamId StreamId::inbox(std::string_view user) { return {Kind::inbox, std::string(user)}; }

// Not validated: the engine also builds reserved topics ("$broadcast") with it.
StreamId StreamId::topic(std::string_view name) { return {Kind::topic, std::string(name)}; }

Result<StreamId> StreamId::parse(std::string_view text) {
  constexpr std::string_view kInbox = "inbox:";
  constexpr std::string_view kTopic = "topic:";
  if (text.substr(0, kInbox.size()) == kInbox) {
    const std::string_view user = text.substr(kInbox.size());
    if (!valid_name(user)) {
      return Status(Errc::invalid_argument,
                    "invalid user id in stream '" + std::string(text) +
                        "': expected 1..200 bytes of printable ASCII without space");
    }
    return inbox(user);
  }
  if (text.substr(0, kTopic.size()) == kTopic) {
    const std::string_view name = text.substr(kTopic.size());
    if (!valid_name(name)) {
      return Status(Errc::invalid_argument,
                    "invalid topic name in stream '" + std::string(text) +
                        "': expected 1..200 bytes of printable ASCII without space");
    }
    if (name.front() == '$' && name != kBroadcastTopic) {
      return Status(Errc::invalid_argument, "topic name '" + std::string(name) +
                                                "' is reserved: names starting with '$' "
                                                "are for herald's own topics");
    }
    return topic(name);
  }
  const std::string_view kind = text.substr(0, text.find(':'));
  return Status(Errc::not_found, "unknown stream kind '" + std::string(kind) +
                                     "': expected inbox:<user> or topic:<name>");
}

std::string StreamId::str() const {
  std::string out = kind_ == Kind::inbox ? "inbox:" : "topic:";
  out += name_;
  return out;
}

bool can_resume(const Cursor& cursor, const StreamInfo& info) noexcept {
  // A fresh client (seq 0, epoch 0) knows nothing about the stream, not even its epoch: it
  // can start from the beginning as long as nothing was trimmed away from that beginning.
  if (cursor.seq == 0 && cursor.epoch == 0) return info.trimmed_through == 0;
  return cursor.epoch == info.epoch && cursor.seq <= info.head &&
         cursor.seq >= info.trimmed_through;
}

}  // namespace herald
