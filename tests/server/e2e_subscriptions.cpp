// End to end through herald-server: server-side subscriptions (REST PUT joins live
// sessions), seed 003's join frame, and the same over an SSE stream.

#include <doctest/doctest.h>

#include "e2e_helpers.hpp"
#include "server_process.hpp"

using namespace herald::server::test;

TEST_CASE("a REST subscription to room:3 makes the user's session receive seed-003 room "
          "notifications live - DELETE stops them") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto alice = session(s.port(), "userId=alice", nullptr);
  CHECK(h.request("PUT", "/users/alice/subscriptions/room:3").status == 200);
  json joined = alice->next_op("subscribed");
  REQUIRE(joined.is_object());
  CHECK(joined["topic"] == "room:3");
  CHECK_FALSE(joined.contains("rid"));

  post(h, "/notify", seed003(1, "room three", 3, "room"));
  auto got = notes(*alice, "topic:room:3", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0]["data"]["message"] == "room three");

  // A new session of the user joins it at connect.
  json welcome;
  auto again = session(s.port(), "userId=alice", &welcome);
  CHECK(again->next_op("subscribed")["topic"] == "room:3");

  CHECK(h.request("DELETE", "/users/alice/subscriptions/room:3").status == 200);
  CHECK(alice->next_op("unsubscribed")["topic"] == "room:3");
  post(h, "/notify", seed003(1, "gone", 3, "room"));
  CHECK(notes(*alice, "topic:room:3", 1, Millis(300)).empty());
  CHECK(s.stop() == 0);
}

TEST_CASE("seed 003 as written: connect, send {userId, room}, receive the room's messages") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto c = session(s.port(), "userId=1", nullptr);
  c->send_text(R"({"userId":1,"room":1})");
  CHECK(c->next_op("subscribed")["topic"] == "room:1");
  post(h, "/notify", seed003(2, "Room message", 1, "room"));
  auto got = notes(*c, "topic:room:1", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0]["data"]["message"] == "Room message");
  CHECK(s.stop() == 0);
}
