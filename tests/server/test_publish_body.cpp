// POST /notify body parsing, RFC 3339 times and the engine-error → HTTP mapping.

#include <doctest/doctest.h>
#include <simdjson.h>

#include "publish_body.hpp"

using namespace herald;
using namespace herald::server;

namespace {

// A parsed body; each call has its own parser so that the element stays valid.
struct Body {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Body(const std::string& text) {
    REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
  }
};

std::optional<Problem> read(const std::string& text, const EngineOptions& limits,
                            ParsedPublish& out) {
  Body body(text);
  return read_publish(body.root, limits, out);
}

}  // namespace

TEST_CASE("parse_rfc3339: UTC, offsets, fractions - malformed text is refused") {
  CHECK(to_unix_ms(*parse_rfc3339("1970-01-01T00:00:00Z")) == 0);
  CHECK(to_unix_ms(*parse_rfc3339("2026-11-21T12:00:00Z")) == 1795262400000);
  CHECK(to_unix_ms(*parse_rfc3339("2026-11-21T13:30:00+01:30")) == 1795262400000);
  CHECK(to_unix_ms(*parse_rfc3339("2026-11-21T10:00:00-02:00")) == 1795262400000);
  CHECK(to_unix_ms(*parse_rfc3339("2026-11-21t12:00:00.25z")) == 1795262400250);
  CHECK(to_unix_ms(*parse_rfc3339("2024-02-29T00:00:00.123456Z")) == 1709164800123);
  for (const char* bad :
       {"", "2026-11-21", "2026-11-21T12:00:00", "2026-13-01T00:00:00Z", "2026-11-21T24:00:00Z",
        "2026-11-21T12:00:00.Z", "2026-11-21T12:00:00+0100", "2026-11-21T12:00:00Zjunk",
        "20x6-11-21T12:00:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}

TEST_CASE("parse_rfc3339: calendar-correct days - far times saturate instead of wrapping") {
  CHECK(parse_rfc3339("2000-02-29T00:00:00Z"));  // divisible by 400: leap
  CHECK(parse_rfc3339("2096-02-29T00:00:00Z"));
  for (const char* bad : {"2099-02-30T00:00:00Z", "2099-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z", "2026-11-31T00:00:00Z",
                          "2026-01-32T00:00:00Z", "2026-01-00T00:00:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
  auto never = parse_rfc3339("9999-12-31T23:59:59Z");
  REQUIRE(never);
  CHECK(to_unix_ms(*never) == kMaxUnixMs);
  CHECK(*never > parse_rfc3339("2262-01-01T00:00:00Z").value());
}

TEST_CASE("read_publish: expiresAt past the clock's range is kept far in the future") {
  EngineOptions limits;
  ParsedPublish p;
  // 2286-11-20 in Unix ms: past int64 nanoseconds (2262); it once wrapped to the 1700s.
  REQUIRE_FALSE(read(R"({"to":{"users":["a"]},"type":"t","expiresAt":10000000000000})", limits, p));
  REQUIRE(p.request.expires_at);
  CHECK(to_unix_ms(*p.request.expires_at) == kMaxUnixMs);
  REQUIRE_FALSE(read(R"({"to":{"users":["a"]},"type":"t","expiresAt":"9999-12-31T23:59:59Z"})",
                     limits, p));
  CHECK(to_unix_ms(*p.request.expires_at) == kMaxUnixMs);
  auto feb30 = read(R"({"to":{"users":["a"]},"type":"t","expiresAt":"2099-02-30T00:00:00Z"})",
                    limits, p);
  REQUIRE(feb30);
  CHECK(feb30->field == "expiresAt");
}

TEST_CASE("read_publish: seed-003 and native forms map onto PublishRequest") {
  EngineOptions limits;
  ParsedPublish p;
  REQUIRE_FALSE(read(R"({"userId":2,"message":"hi","target":1,
                                            "type":"private","email":"x@y"})",
                     limits, p));
  CHECK(p.request.target.kind == Target::Kind::users);
  CHECK(p.request.target.users == std::vector<UserId>{"1"});
  CHECK(p.request.type == "message");
  CHECK(p.request.data == R"({"message":"hi"})");
  CHECK(p.request.sender == "2");
  CHECK(p.names == &kSeed003Fields);

  REQUIRE_FALSE(read(R"({"message":"m","target":"7","type":"room"})", limits, p));
  CHECK(p.request.target.kind == Target::Kind::topic);
  CHECK(p.request.target.topic == "room:7");
  CHECK(p.request.sender.empty());

  REQUIRE_FALSE(read(R"({"message":"m","type":"broadcast"})", limits, p));
  CHECK(p.request.target.kind == Target::Kind::broadcast);

  REQUIRE_FALSE(read(R"({"to":{"followersOf":"alice"},"type":"blog.posted",
      "data":[1,{"a":null}],"idempotencyKey":"k","expiresAt":"2030-01-01T00:00:00Z"})",
                     limits, p));
  CHECK(p.request.target.kind == Target::Kind::followers);
  CHECK(p.request.target.topic == "alice");
  CHECK(p.request.data == R"([1,{"a":null}])");
  CHECK(p.request.data_is_json);  // written from the parsed body: the engine does not re-parse
  CHECK(p.request.idempotency_key == "k");
  CHECK(to_unix_ms(*p.request.expires_at) == 1893456000000);
  CHECK(p.names == &kNativeFields);

  limits.max_recipients = 2;
  auto too_many = read(R"({"to":{"users":["a","b","c"]},"type":"t"})", limits, p);
  REQUIRE(too_many);
  CHECK(too_many->field == "to");
}

TEST_CASE(
    "read_publish: data keeps its members in the order sent - integer ids of any sign - null is "
    "absent") {
  EngineOptions limits;
  ParsedPublish p;
  REQUIRE_FALSE(read(R"({"to":{"users":[18446744073709551615,-3,"c"]},"type":"t",
      "data":{"z":1,"a":{"y":[true,null,1.50,1e2]},"m":"\u00e9\n"},"sender":null,
      "idempotencyKey":null,"expiresAt":null})",
                     limits, p));
  CHECK(p.request.target.users == std::vector<UserId>{"18446744073709551615", "-3", "c"});
  CHECK(p.request.data == "{\"z\":1,\"a\":{\"y\":[true,null,1.5,100.0]},\"m\":\"\xc3\xa9\\n\"}");
  CHECK(p.request.sender.empty());
  CHECK(p.request.idempotency_key.empty());
  CHECK_FALSE(p.request.expires_at);

  // seed 003: the message is written back as a JSON string, escapes and all
  REQUIRE_FALSE(read(R"({"message":"say \"hi\"\t","target":1,"type":"private"})", limits, p));
  CHECK(p.request.data == R"({"message":"say \"hi\"\t"})");

  auto not_object = read("[1]", limits, p);
  REQUIRE(not_object);
  CHECK(not_object->field == "body");
  auto float_id = read(R"({"to":{"users":[1.0]},"type":"t"})", limits, p);
  REQUIRE(float_id);
  CHECK(float_id->field == "to.users");
  auto far_expiry =
      read(R"({"to":{"users":["a"]},"type":"t","expiresAt":18446744073709551615})", limits, p);
  REQUIRE(far_expiry);
  CHECK(far_expiry->field == "expiresAt");
}

TEST_CASE("engine errors map to HTTP statuses and to the client's field names") {
  EngineOptions o;
  o.rate_limit.per_second = 4;
  StatusMapper map(o);
  CHECK(map(Status(Errc::invalid_argument, "x"), "to").status == 400);
  CHECK(map(Status(Errc::invalid_json, "x"), "data").status == 400);
  CHECK(map(Status(Errc::payload_too_large, "x"), "data").status == 400);
  CHECK(map(Status(Errc::not_found, "x"), "seq").field == "seq");
  Problem limited = map(Status(Errc::rate_limited, "x"), "to");
  CHECK(limited.status == 429);
  CHECK(limited.field.empty());
  REQUIRE(limited.headers.size() == 1);
  CHECK(limited.headers[0] == std::make_pair(std::string("Retry-After"), std::string("1")));
  CHECK(map(Status(Errc::unavailable, "x"), "").status == 503);
  CHECK(map(Status(Errc::shutting_down, "x"), "").status == 503);
  CHECK(map(Status(Errc::internal, "x"), "").status == 500);
  CHECK(map(Status(Errc::cannot_resume, "x"), "").code == "cannot_resume");

  CHECK(publish_field(Status(Errc::invalid_argument, "type must be 1..128 characters"),
                      kSeed003Fields) == "type");
  CHECK(publish_field(Status(Errc::invalid_argument, "invalid sender id"), kSeed003Fields) ==
        "userId");
  CHECK(publish_field(Status(Errc::invalid_argument, "expires_at is not in the future"),
                      kNativeFields) == "expiresAt");
  CHECK(publish_field(Status(Errc::invalid_argument, "target has no users"), kSeed003Fields) ==
        "target");
  CHECK(publish_field(Status(Errc::payload_too_large, "data is 9 bytes"), kSeed003Fields) ==
        "message");
  CHECK(publish_field(Status(Errc::unavailable, "store down"), kNativeFields).empty());
}
