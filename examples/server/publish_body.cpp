// POST /notify bodies and the engine-error → HTTP mapping.

#include "publish_body.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "compact_json.hpp"
#include "http_util.hpp"

namespace herald::server {

Problem bad_field(std::string field, std::string message, std::string code) {
  return {400, std::move(code), std::move(field), std::move(message), {}};
}

int http_status(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument:
    case Errc::invalid_json:
    case Errc::payload_too_large:
      return 400;
    case Errc::not_found:
      return 404;
    case Errc::rate_limited:
    case Errc::limit_exceeded:
      return 429;
    case Errc::idempotency_conflict:
      return 409;
    case Errc::unauthorized:
      return 401;
    case Errc::forbidden:
      return 403;
    case Errc::unavailable:
    case Errc::shutting_down:
      return 503;
    default:
      return 500;
  }
}

StatusMapper::StatusMapper(const EngineOptions& options) {
  const double per_second = options.rate_limit.per_second > 0 ? options.rate_limit.per_second : 1;
  const double seconds = std::max(1.0, std::ceil(1.0 / per_second));
  retry_after_ = std::to_string(static_cast<long long>(seconds));
}

Problem StatusMapper::operator()(const Status& status, std::string field) const {
  Problem p{
      http_status(status.code()), to_string(status.code()), std::move(field), status.message(), {}};
  if (p.status != 400 && p.status != 404) p.field.clear();
  if (status.code() == Errc::rate_limited) p.headers.emplace_back("Retry-After", retry_after_);
  if (status.code() == Errc::unavailable) p.headers.emplace_back("Retry-After", "1");
  return p;
}

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// The member `key` of `o`; nullopt when it is absent or null.
std::optional<element> member(const object& o, std::string_view key) {
  element v;
  if (o.at_key(key).get(v) != simdjson::SUCCESS || v.is_null()) return std::nullopt;
  return v;
}

// A user id given as a JSON string or integer (seed 003 uses numbers).
std::optional<Problem> read_id(const element& v, const std::string& field, UserId& out) {
  std::int64_t signed_id = 0;
  std::uint64_t unsigned_id = 0;  // above INT64_MAX
  std::string_view text;
  if (v.get_int64().get(signed_id) == simdjson::SUCCESS) {
    out = std::to_string(signed_id);
  } else if (v.get_uint64().get(unsigned_id) == simdjson::SUCCESS) {
    out = std::to_string(unsigned_id);
  } else if (v.get_string().get(text) == simdjson::SUCCESS) {
    out.assign(text);
  } else {
    return bad_field(field, field + " must be a string or an integer id");
  }
  if (!valid_name(out))
    return bad_field(field, field + " must be 1..200 printable ASCII characters without space");
  return std::nullopt;
}

std::optional<Problem> read_topic(const element& v, const std::string& field, std::string& out) {
  std::string_view text;
  if (v.get_string().get(text) != simdjson::SUCCESS)
    return bad_field(field, field + " must be a string");
  out.assign(text);
  if (!valid_name(out) || out.front() == '$')
    return bad_field(field, field +
                                " must be 1..200 printable ASCII characters without space, not "
                                "starting with '$'");
  return std::nullopt;
}

// Native "to": exactly one of users | topic | followersOf | broadcast.
std::optional<Problem> read_target(const element& to, Target& out) {
  object members;
  if (to.get_object().get(members) != simdjson::SUCCESS || members.size() != 1)
    return bad_field("to",
                     "to must be an object with exactly one of users, topic, "
                     "followersOf, broadcast");
  const simdjson::dom::key_value_pair only = *members.begin();
  const std::string_view key = only.key;
  const element& value = only.value;
  if (key == "users") {
    simdjson::dom::array ids;
    if (value.get_array().get(ids) != simdjson::SUCCESS || ids.size() == 0)
      return bad_field("to.users", "to.users must be a non-empty array of user ids");
    std::vector<UserId> users(ids.size());
    std::size_t i = 0;
    for (element id : ids)
      if (auto p = read_id(id, "to.users", users[i++])) return p;
    out = Target::to_users(std::move(users));
  } else if (key == "topic" || key == "followersOf") {
    std::string topic;
    if (auto p = read_topic(value, "to." + std::string(key), topic)) return p;
    out = key == "topic" ? Target::to_topic(std::move(topic))
                         : Target::to_followers(std::move(topic));
  } else if (key == "broadcast") {
    bool yes = false;
    if (value.get_bool().get(yes) != simdjson::SUCCESS || !yes)
      return bad_field("to.broadcast", "to.broadcast must be true");
    out = Target::to_everyone();
  } else {
    return bad_field("to", "unknown target type '" + std::string(key) +
                               "': expected users, topic, followersOf or broadcast");
  }
  return std::nullopt;
}

std::optional<Problem> read_expires(const element& v, std::optional<TimePoint>& out) {
  std::int64_t ms = 0;
  std::string_view text;
  if (v.get_int64().get(ms) == simdjson::SUCCESS && ms > 0) {
    out = from_unix_ms(ms);
    return std::nullopt;
  }
  if (v.get_string().get(text) == simdjson::SUCCESS)
    if (auto t = parse_rfc3339(std::string(text))) {
      out = t;
      return std::nullopt;
    }
  return bad_field("expiresAt",
                   "expiresAt must be an RFC 3339 time (\"2026-11-21T12:00:00Z\") or Unix "
                   "milliseconds");
}

std::optional<Problem> read_string(const object& body, const char* key, std::string& out) {
  auto v = member(body, key);
  if (!v) return std::nullopt;
  std::string_view text;
  if (v->get_string().get(text) != simdjson::SUCCESS)
    return bad_field(key, std::string(key) + " must be a string");
  out.assign(text);
  return std::nullopt;
}

std::optional<Problem> read_bool(const object& body, const char* key, bool& out) {
  auto v = member(body, key);
  if (!v) return std::nullopt;
  if (v->get_bool().get(out) != simdjson::SUCCESS)
    return bad_field(key, std::string(key) + " must be true or false");
  return std::nullopt;
}

// `to` is the body's "to" member, which made it the native form.
std::optional<Problem> read_native(const object& body, const element& to, PublishRequest& r) {
  if (auto p = read_target(to, r.target)) return p;
  std::string_view type;
  auto type_member = member(body, "type");
  if (!type_member || type_member->get_string().get(type) != simdjson::SUCCESS)
    return bad_field("type", "type must be a string such as \"blog.posted\"");
  r.type.assign(type);
  element data;
  if (body.at_key("data").get(data) == simdjson::SUCCESS) r.data = compact_json(data);
  if (auto sender = member(body, "sender"))
    if (auto p = read_id(*sender, "sender", r.sender)) return p;
  if (auto p = read_string(body, "idempotencyKey", r.idempotency_key)) return p;
  if (auto p = read_bool(body, "critical", r.critical)) return p;
  if (auto exp = member(body, "expiresAt"))
    if (auto p = read_expires(*exp, r.expires_at)) return p;
  return std::nullopt;
}

// Seed 003: private → the user `target`; room → topic "room:<target>"; broadcast → all.
std::optional<Problem> read_seed003(const object& body, PublishRequest& r) {
  std::string_view kind;
  auto kind_member = member(body, "type");
  if (!kind_member || kind_member->get_string().get(kind) != simdjson::SUCCESS)
    return bad_field("type",
                     "type must be \"private\", \"room\" or \"broadcast\" (or give a "
                     "native \"to\" object)");
  const std::string k(kind);
  if (k == "private" || k == "room") {
    auto target = member(body, "target");
    if (!target) return bad_field("target", "target is required for type " + k);
    UserId id;
    if (auto p = read_id(*target, "target", id)) return p;
    r.target = k == "private" ? Target::to_users({id}) : Target::to_topic("room:" + id);
    if (k == "room" && !valid_name(r.target.topic))
      return bad_field("target", "target is too long for a room name");
  } else if (k == "broadcast") {
    r.target = Target::to_everyone();
  } else {
    return bad_field("type", "unknown target type '" + k +
                                 "': expected private, room or broadcast (or give a native "
                                 "\"to\" object)");
  }
  auto message = member(body, "message");
  if (!message || !message->is_string()) return bad_field("message", "message must be a string");
  r.type = "message";
  r.data = "{\"message\":";
  append_compact(r.data, *message);
  r.data += '}';
  if (auto sender = member(body, "userId"))
    if (auto p = read_id(*sender, "userId", r.sender)) return p;
  if (auto p = read_string(body, "idempotencyKey", r.idempotency_key)) return p;
  if (auto p = read_bool(body, "critical", r.critical)) return p;
  return std::nullopt;
}

bool printable(const std::string& s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// The engine's own checks, repeated here so that the Problem names the field.
std::optional<Problem> check_limits(const ParsedPublish& parsed, const EngineOptions& limits) {
  const PublishRequest& r = parsed.request;
  const FieldNames& n = *parsed.names;
  if (r.type.empty() || r.type.size() > limits.max_type_bytes || !printable(r.type))
    return bad_field(n.type, std::string(n.type) + " must be 1.." +
                                 std::to_string(limits.max_type_bytes) +
                                 " characters without control characters");
  if (r.data.size() > limits.max_payload_bytes)
    return bad_field(n.data,
                     std::string(n.data) + " is " + std::to_string(r.data.size()) +
                         " bytes as JSON; the limit is " + std::to_string(limits.max_payload_bytes),
                     "payload_too_large");
  if (r.idempotency_key.size() > 200 || !printable(r.idempotency_key))
    return bad_field("idempotencyKey",
                     "idempotencyKey must be at most 200 characters without control characters");
  if (r.target.kind == Target::Kind::users && r.target.users.size() > limits.max_recipients)
    return bad_field(n.target, std::string(n.target) + " lists more than " +
                                   std::to_string(limits.max_recipients) + " users");
  return std::nullopt;
}

}  // namespace

std::optional<Problem> read_publish(const element& body, const EngineOptions& limits,
                                    ParsedPublish& out) {
  out = {};
  object members;
  if (body.get_object().get(members) != simdjson::SUCCESS)
    return bad_field("body", "a notification must be a JSON object");
  std::optional<Problem> p;
  element to;
  if (members.at_key("to").get(to) == simdjson::SUCCESS) {
    p = read_native(members, to, out.request);
  } else {
    out.names = &kSeed003Fields;
    p = read_seed003(members, out.request);
  }
  if (p) return p;
  out.request.data_is_json = true;  // written above from the parsed body
  return check_limits(out, limits);
}

std::string publish_field(const Status& status, const FieldNames& names) {
  const std::string& m = status.message();
  if (status.code() == Errc::payload_too_large || status.code() == Errc::invalid_json)
    return names.data;
  if (status.code() != Errc::invalid_argument) return {};
  if (starts_with(m, "type")) return names.type;
  if (starts_with(m, "invalid sender")) return names.sender;
  if (starts_with(m, "idempotency_key")) return "idempotencyKey";
  if (starts_with(m, "expires_at")) return "expiresAt";
  return names.target;  // users, topic, recipients
}

namespace {

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// Days in month `m` (1..12) of year `y` (proleptic Gregorian calendar).
unsigned days_in_month(int y, int m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads `n` digits at `pos`.
bool digits(const std::string& s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<TimePoint> parse_rfc3339(const std::string& s) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, mo) || h > 23 ||
      mi > 59 || sec > 60)
    return std::nullopt;
  std::size_t pos = 19;
  std::int64_t millis = 0;
  if (s[pos] == '.') {
    std::size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (std::size_t k = pos - start; k < 3; ++k) millis *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  // At most 4-digit years: the milliseconds fit in int64 with room; from_unix_ms saturates
  // what is past the clock's range (after 2262).
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + std::min(sec, 59) - offset_min * 60;
  return from_unix_ms(secs * 1000 + millis);
}

}  // namespace herald::server
