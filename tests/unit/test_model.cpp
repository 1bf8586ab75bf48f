// Model value types: error names, Status/Result, name validation, stream ids, resumability.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "herald/error.hpp"
#include "herald/model.hpp"
#include "herald/notification_head.hpp"
#include "herald/time.hpp"

using herald::can_resume;
using herald::Cursor;
using herald::Errc;
using herald::Result;
using herald::Status;
using herald::StreamId;
using herald::StreamInfo;
using herald::valid_name;

TEST_CASE("to_string names every Errc exactly as its enumerator") {
  CHECK(std::string(to_string(Errc::ok)) == "ok");
  CHECK(std::string(to_string(Errc::invalid_argument)) == "invalid_argument");
  CHECK(std::string(to_string(Errc::payload_too_large)) == "payload_too_large");
  CHECK(std::string(to_string(Errc::invalid_json)) == "invalid_json");
  CHECK(std::string(to_string(Errc::not_found)) == "not_found");
  CHECK(std::string(to_string(Errc::rate_limited)) == "rate_limited");
  CHECK(std::string(to_string(Errc::unavailable)) == "unavailable");
  CHECK(std::string(to_string(Errc::cannot_resume)) == "cannot_resume");
  CHECK(std::string(to_string(Errc::shutting_down)) == "shutting_down");
  CHECK(std::string(to_string(Errc::unauthorized)) == "unauthorized");
  CHECK(std::string(to_string(Errc::internal)) == "internal");
}

TEST_CASE("Status and Result basics") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.code() == Errc::ok);
  CHECK(ok.message().empty());
  CHECK_FALSE(ok.retryable());
  CHECK(Status::ok_status().ok());

  Status bad(Errc::unavailable, "store down");
  CHECK_FALSE(bad.ok());
  CHECK(bad.retryable());
  CHECK(bad.message() == "store down");
  CHECK(Status(Errc::rate_limited, "slow down").retryable());
  CHECK_FALSE(Status(Errc::invalid_argument, "no").retryable());

  Result<int> value(42);
  REQUIRE(value.ok());
  CHECK(value.value() == 42);
  Result<int> error(Status(Errc::not_found, "gone"));
  CHECK_FALSE(error.ok());
  CHECK(error.status().code() == Errc::not_found);
  CHECK(error.status().message() == "gone");

  Result<std::string> text(std::string("abc"));
  CHECK(text->size() == 3);
  CHECK(std::move(text).value() == "abc");

  Result<void> done;
  CHECK(done.ok());
  Result<void> failed(Status(Errc::internal, "bug"));
  CHECK_FALSE(failed.ok());
  CHECK(failed.status().code() == Errc::internal);
}

TEST_CASE("valid_name: 1..200 bytes of printable ASCII without space") {
  CHECK(valid_name("a"));
  CHECK(valid_name("alice"));
  CHECK(valid_name("user-1_2.x@example.com"));
  CHECK(valid_name("!~"));  // both ends of the printable range
  CHECK(valid_name(std::string(200, 'x')));
  CHECK_FALSE(valid_name(std::string(201, 'x')));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name("al ice"));
  CHECK_FALSE(valid_name(" "));
  CHECK_FALSE(valid_name("tab\there"));
  CHECK_FALSE(valid_name("new\nline"));
  CHECK_FALSE(valid_name(std::string("nul\0byte", 8)));
  CHECK_FALSE(valid_name("del\x7f"));
  CHECK_FALSE(valid_name("caf\xc3\xa9"));  // UTF-8 é
  CHECK_FALSE(valid_name("\x80"));
}

TEST_CASE("StreamId builders, accessors and str") {
  const StreamId inbox = StreamId::inbox("alice");
  CHECK(inbox.kind() == StreamId::Kind::inbox);
  CHECK(inbox.is_inbox());
  CHECK(inbox.name() == "alice");
  CHECK(inbox.str() == "inbox:alice");

  const StreamId topic = StreamId::topic("news");
  CHECK(topic.kind() == StreamId::Kind::topic);
  CHECK_FALSE(topic.is_inbox());
  CHECK(topic.str() == "topic:news");

  CHECK(inbox != topic);
  CHECK(StreamId::inbox("news") != topic);  // same name, different kind
  CHECK(StreamId::inbox("alice") == inbox);
  CHECK(inbox < topic);  // inboxes order before topics
  CHECK(StreamId::inbox("a") < StreamId::inbox("b"));
  // topic() does not validate: the engine builds reserved topics with it.
  CHECK(StreamId::topic("$internal").str() == "topic:$internal");
}

TEST_CASE("StreamId::parse round-trips valid ids") {
  for (const char* text : {"inbox:alice", "topic:news", "topic:$broadcast", "inbox:a:b",
                           "topic:room-42"}) {
    CAPTURE(text);
    auto parsed = StreamId::parse(text);
    REQUIRE(parsed.ok());
    CHECK(parsed->str() == text);
    CHECK(StreamId::parse(parsed->str())->str() == text);
  }
  auto inbox = StreamId::parse("inbox:alice");
  CHECK(inbox.value() == StreamId::inbox("alice"));
  auto broadcast = StreamId::parse("topic:$broadcast");
  CHECK(broadcast.value() == StreamId::topic(herald::kBroadcastTopic));
  auto long_name = StreamId::parse("inbox:" + std::string(200, 'u'));
  CHECK(long_name.ok());
}

TEST_CASE("StreamId::parse rejects unknown kinds with not_found") {
  for (const char* text : {"room:news", "alice", "", "Inbox:alice", ":alice", "inbox"}) {
    CAPTURE(text);
    auto parsed = StreamId::parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Errc::not_found);
    CHECK(parsed.status().message().find("unknown stream kind") != std::string::npos);
    CHECK(parsed.status().message().find("expected inbox:<user> or topic:<name>") !=
          std::string::npos);
  }
  CHECK(StreamId::parse("room:news").status().message() ==
        "unknown stream kind 'room': expected inbox:<user> or topic:<name>");
}

TEST_CASE("StreamId::parse rejects invalid names with invalid_argument") {
  for (std::string text : {std::string("inbox:"), std::string("topic:"),
                           std::string("inbox:al ice"), std::string("topic:caf\xc3\xa9"),
                           "inbox:" + std::string(201, 'u'), std::string("topic:a\tb")}) {
    CAPTURE(text);
    auto parsed = StreamId::parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Errc::invalid_argument);
    CHECK_FALSE(parsed.status().message().empty());
  }
}

TEST_CASE("StreamId::parse reserves '$' topic names except $broadcast") {
  for (const char* text : {"topic:$system", "topic:$", "topic:$broadcastx", "topic:$Broadcast"}) {
    CAPTURE(text);
    auto parsed = StreamId::parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Errc::invalid_argument);
    CHECK(parsed.status().message().find("reserved") != std::string::npos);
  }
  // '$' elsewhere in a name, and inboxes of users named "$...", are not reserved.
  CHECK(StreamId::parse("topic:price$").ok());
  CHECK(StreamId::parse("inbox:$alice").ok());
}

TEST_CASE("can_resume") {
  const StreamInfo info{7, 10, 3};  // epoch 7, head 10, entries 1..3 trimmed

  SUBCASE("same epoch, inside the replayable range") {
    CHECK(can_resume(Cursor{3, 7}, info));   // exactly at the trim point
    CHECK(can_resume(Cursor{5, 7}, info));
    CHECK(can_resume(Cursor{10, 7}, info));  // caught up
  }
  SUBCASE("epoch differs") {
    CHECK_FALSE(can_resume(Cursor{5, 6}, info));
    CHECK_FALSE(can_resume(Cursor{5, 8}, info));
  }
  SUBCASE("cursor ahead of the head") { CHECK_FALSE(can_resume(Cursor{11, 7}, info)); }
  SUBCASE("entries after the cursor were trimmed") {
    CHECK_FALSE(can_resume(Cursor{2, 7}, info));
    CHECK_FALSE(can_resume(Cursor{0, 7}, info));
  }
  SUBCASE("a fresh client (0, 0) resumes iff nothing was trimmed") {
    CHECK_FALSE(can_resume(Cursor{0, 0}, info));
    CHECK(can_resume(Cursor{0, 0}, StreamInfo{7, 10, 0}));
    CHECK(can_resume(Cursor{0, 0}, StreamInfo{0, 0, 0}));
    // Only seq 0 and epoch 0 together are "fresh": seq 1 in epoch 0 is an ordinary cursor.
    CHECK_FALSE(can_resume(Cursor{1, 0}, StreamInfo{7, 10, 0}));
  }
  SUBCASE("an empty stream") {
    CHECK(can_resume(Cursor{0, 1}, StreamInfo{1, 0, 0}));
    CHECK_FALSE(can_resume(Cursor{1, 1}, StreamInfo{1, 0, 0}));
  }
}

TEST_CASE("from_unix_ms saturates past the clock's range instead of wrapping") {
  CHECK(herald::to_unix_ms(herald::from_unix_ms(1'750'000'000'000)) == 1'750'000'000'000);
  const std::int64_t year_2286 = 10'000'000'000'000;  // ms * 1e6 overflows int64 nanoseconds
  CHECK(herald::to_unix_ms(herald::from_unix_ms(year_2286)) == herald::kMaxUnixMs);
  CHECK(herald::from_unix_ms(year_2286) > herald::from_unix_ms(1'750'000'000'000));
  CHECK(herald::to_unix_ms(herald::from_unix_ms(INT64_MAX)) == herald::kMaxUnixMs);
  CHECK(herald::to_unix_ms(herald::from_unix_ms(INT64_MIN)) == herald::kMinUnixMs);
  CHECK(herald::to_unix_ms(herald::from_unix_ms(herald::kMaxUnixMs)) == herald::kMaxUnixMs);
}

// herald/notification_head.hpp: the head src/engine/protocol.cpp writes, read back (the
// SSE and STOMP tests and the sse_position fuzz target read the engine's own frames).
TEST_CASE("read_notification_head reads the engine's head and nothing else") {
  using herald::NotificationHead;
  const std::string frame =
      R"({"op":"notification","stream":"topic:room:1","seq":42,"epoch":"900719925474099",)"
      R"("id":"7","type":"t","data":{}})";
  NotificationHead h;
  REQUIRE(herald::read_notification_head(frame, h));
  CHECK_FALSE(h.inbox);
  CHECK(h.name == "room:1");
  CHECK(h.seq == 42);
  CHECK(h.epoch == "900719925474099");
  CHECK(h.attempt == 1);
  CHECK(frame.substr(h.size) == R"("id":"7","type":"t","data":{}})");

  const std::string head =
      R"({"op":"notification","stream":"inbox:a@b","seq":1,"epoch":"5","attempt":3,)";
  REQUIRE(herald::read_notification_head(head, h));
  CHECK(h.inbox);
  CHECK(h.name == "a@b");
  CHECK(h.attempt == 3);
  CHECK(h.size == head.size());

  for (const char* other :
       {R"({"op":"notification","stream":"inbox:a\"b","seq":1,"epoch":"5",)",  // escaped
        R"({"op":"notification","stream":"inbox:a\\b","seq":1,"epoch":"5",)",  // escaped
        R"({"op":"notification","stream":"queue:a","seq":1,"epoch":"5",)",
        R"({"op":"notification","stream":"inbox:a","seq":-1,"epoch":"5",)",
        R"({"op":"notification","stream":"inbox:a","seq":1,"epoch":"5"})",  // no fields
        R"({"op":"notification","stream":"inbox:a","seq":1,"epoch":"5","attempt":x,)",
        R"({ "op":"notification","stream":"inbox:a","seq":1,"epoch":"5",)",
        R"({"op":"welcome","stream":"inbox:a","seq":1,"epoch":"5",)", ""}) {
    CAPTURE(other);
    CHECK_FALSE(herald::read_notification_head(other, h));
  }
}
