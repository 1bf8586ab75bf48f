#pragma once
// The bodies of POST /notify (native and seed-003 forms) and the mapping of engine Status
// values to HTTP errors. Pure functions: no I/O, no engine calls.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "herald/engine.hpp"

namespace simdjson::dom {
class element;
}

namespace herald::server {

/// One problem with a request, as answered: HTTP status, a stable code, the field it is
/// about (empty when it is not about a field), a message for humans, extra headers.
struct Problem {
  int status = 400;
  std::string code = "invalid_argument";
  std::string field;
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A 400 about `field`.
Problem bad_field(std::string field, std::string message, std::string code = "invalid_argument");

/// HTTP status of an engine error code: invalid_argument, invalid_json, payload_too_large
/// → 400; not_found → 404; idempotency_conflict → 409; rate_limited → 429; unavailable,
/// shutting_down → 503; else 500.
int http_status(Errc code) noexcept;

/// Turns engine Status values into Problems, adding Retry-After (rate_limited: the time
/// one token takes to refill; unavailable: 1 s). Copyable and thread-safe.
class StatusMapper {
 public:
  explicit StatusMapper(const EngineOptions& options);
  /// `field` is kept only for the statuses about the request (400, 404).
  Problem operator()(const Status& status, std::string field) const;

 private:
  std::string retry_after_;
};

/// The names a body form gives to the fields of a PublishRequest, so that an error the
/// engine reports names the field the client actually sent.
struct FieldNames {
  const char* target;
  const char* type;
  const char* data;
  const char* sender;
};
inline constexpr FieldNames kNativeFields{"to", "type", "data", "sender"};
inline constexpr FieldNames kSeed003Fields{"target", "type", "message", "userId"};

struct ParsedPublish {
  PublishRequest request;
  const FieldNames* names = &kNativeFields;
};

/// Reads one notification body into `out`. A body with a "to" member is the native form
/// ({"to":{"users":[…]}|{"topic":…}|{"followersOf":…}|{"broadcast":true}, "type", "data",
/// "sender", "idempotencyKey", "expiresAt"}); any other object is the seed-003 form
/// ({"userId", "message", "target", "type": "private"|"room"|"broadcast", "idempotencyKey"}).
/// Checks every field the engine would check (and the `data` size against `limits`) so that the
/// returned Problem names the field. `body` is a parsed (so valid UTF-8) JSON value; `data`
/// is copied out as compact JSON text with its members in the order they were sent, and
/// marked so (PublishRequest::data_is_json): the engine does not parse it again.
std::optional<Problem> read_publish(const simdjson::dom::element& body, const EngineOptions& limits,
                                    ParsedPublish& out);

/// The field a publish error from the engine is about, in the client's names.
std::string publish_field(const Status& status, const FieldNames& names);

/// Parses an RFC 3339 time ("2026-11-21T12:00:00Z", "…12:00:00.250+01:00"); nullopt when
/// malformed or not a calendar date ("2099-02-30", "2100-02-29"). A time after the clock's
/// range (kMaxUnixMs, 2262) saturates to it, so a "9999-12-31" sentinel means "never".
std::optional<TimePoint> parse_rfc3339(const std::string& text);

}  // namespace herald::server
