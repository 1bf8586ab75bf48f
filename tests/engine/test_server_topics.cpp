// Server-side subscriptions: a user's stored subscriptions and the handshake's `topics`
// join the session's topics at connect; Engine::subscribe/unsubscribe join and leave them
// live on every instance; seed 003's {"userId":…,"room":…} frame joins a room.

#include <doctest/doctest.h>

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;

namespace {

PublishRequest to_topic(const std::string& topic) {
  PublishRequest r;
  r.target = Target::to_topic(topic);
  r.type = "chat";
  return r;
}

Result<bool> subscribe(World& w, const UserId& user, const std::string& topic, std::size_t on = 0) {
  return w.ask<bool>([&](auto cb) { w.engine(on).subscribe(user, topic, cb); });
}

Result<bool> unsubscribe(World& w, const UserId& user, const std::string& topic,
                         std::size_t on = 0) {
  return w.ask<bool>([&](auto cb) { w.engine(on).unsubscribe(user, topic, cb); });
}

}  // namespace

TEST_CASE("server-side topics: stored subscriptions are joined at connect - announced without "
          "rid - and resume from the handshake's position") {
  World w;
  w.add();
  REQUIRE(subscribe(w, "u", "room:3").ok());
  REQUIRE(subscribe(w, "u", "news").ok());
  for (int i = 0; i < 4; ++i) REQUIRE(w.publish(to_topic("room:3")).ok());

  auto c = w.connect("u");
  auto fs = drain(w, *c);
  auto joined = only(fs, "subscribed");
  REQUIRE(joined.size() == 2);
  CHECK(joined[0]["topic"] == "news");  // stored subscriptions in name order
  CHECK(joined[1]["topic"] == "room:3");
  CHECK_FALSE(joined[1].contains("rid"));
  CHECK(joined[1]["cursor"] == 4);  // from the head: no replay without a position
  CHECK(seqs(fs, "topic:room:3").empty());

  // {"type":"room","target":3} reaches the user live.
  REQUIRE(w.publish(to_topic("room:3")).ok());
  CHECK(seqs(frames(*c), "topic:room:3") == std::vector<Seq>{5});

  // Reconnecting with its position replays what it missed, nothing else.
  c->close();
  for (int i = 0; i < 3; ++i) REQUIRE(w.publish(to_topic("room:3")).ok());
  const std::string epoch = std::to_string(w.store->epoch());
  auto again = w.connect("u", 0, {{"topics", "room:3@5." + epoch}});
  fs = drain(w, *again);
  CHECK(seqs(fs, "topic:room:3") == range(6, 8));
  CHECK(only(fs, "subscribed").size() == 2);
}

TEST_CASE("server-side topics: the handshake's topics are joined with their positions - a bad "
          "list closes with 1002") {
  World w;
  w.add();
  for (int i = 0; i < 3; ++i) REQUIRE(w.publish(to_topic("a@b")).ok());
  for (int i = 0; i < 2; ++i) REQUIRE(w.publish(to_topic("x")).ok());

  // "a@b" has no position (its '@' is part of the name), "x@0" replays all of x.
  auto c = w.connect("u", 0, {{"topics", "a@b,x@0"}});
  auto fs = drain(w, *c);
  REQUIRE(only(fs, "subscribed").size() == 2);
  CHECK(seqs(fs, "topic:a@b").empty());
  CHECK(seqs(fs, "topic:x") == range(1, 2));
  REQUIRE(w.publish(to_topic("a@b")).ok());
  CHECK(seqs(frames(*c), "topic:a@b") == std::vector<Seq>{4});

  // A position in another epoch is not continued: reset, then live from the head.
  auto r = w.connect("v", 0, {{"topics", "x@1.12345"}});
  fs = drain(w, *r);
  REQUIRE(only(fs, "reset").size() == 1);
  CHECK(only(fs, "reset")[0]["reason"] == "epoch_changed");

  for (const char* bad : {"$broadcast", "ok,,ok2", "has space", "@3"}) {
    auto b = w.connect("u", 0, {{"topics", bad}});
    CHECK_MESSAGE(b->closed(), bad);
    CHECK(b->close_code() == CloseCode::protocol_error);
  }
}

// Found by tests/fuzz/handshake_query.cpp: the close reason quoted the bad entry's bytes as
// they came, so a percent-decoded "%FF" made it invalid UTF-8 (RFC 6455 §5.5.1 forbids it).
TEST_CASE("server-side topics: a bad entry is quoted in the close reason as printable ASCII") {
  World w;
  w.add();
  auto b = w.connect("u", 0, {{"topics", std::string("ok,y@1.us\x9b\xc2" "a b")}});
  REQUIRE(b->closed());
  CHECK(b->close_code() == CloseCode::protocol_error);
  CHECK(b->close_reason().find("'y@1.us??a b'") != std::string::npos);
}

TEST_CASE("server-side topics: subscribing over REST joins live sessions on every instance - "
          "unsubscribing leaves only server-joined topics") {
  World w;
  w.add();
  w.add();
  auto here = w.connect("u", 0);
  auto there = w.connect("u", 1);
  auto own = w.connect("u", 1);
  own->send(R"({"op":"subscribe","topic":"room:1","rid":"mine"})");
  drain(w, *here);
  drain(w, *there);
  drain(w, *own);

  REQUIRE(subscribe(w, "u", "room:1", 0).ok());
  for (auto* c : {here.get(), there.get()}) {
    auto joined = only(drain(w, *c), "subscribed");
    REQUIRE(joined.size() == 1);
    CHECK(joined[0]["topic"] == "room:1");
  }
  CHECK(only(drain(w, *own), "subscribed").empty());  // already joined: nothing new

  REQUIRE(w.publish(to_topic("room:1"), 1).ok());
  for (auto* c : {here.get(), there.get(), own.get()})
    CHECK(seqs(drain(w, *c), "topic:room:1") == std::vector<Seq>{1});

  REQUIRE(unsubscribe(w, "u", "room:1", 1).ok());
  CHECK(only(drain(w, *here), "unsubscribed").size() == 1);
  CHECK(only(drain(w, *there), "unsubscribed").size() == 1);
  CHECK(only(drain(w, *own), "unsubscribed").empty());
  REQUIRE(w.publish(to_topic("room:1")).ok());
  CHECK(seqs(drain(w, *here), "topic:room:1").empty());
  CHECK(seqs(drain(w, *there), "topic:room:1").empty());
  // A topic the client subscribed to itself stays joined.
  CHECK(seqs(drain(w, *own), "topic:room:1") == std::vector<Seq>{2});
}

TEST_CASE("server-side topics: a stored topic the token does not grant is skipped - a listed "
          "one is answered forbidden") {
  World w;
  w.add(World::defaults(), [](const Handshake& h, std::function<void(AuthResult)> answer) {
    AuthResult r = AuthResult::allow(h.query.at("userId"));
    r.topics = std::vector<std::string>{"ok:*"};
    answer(r);
  });
  REQUIRE(subscribe(w, "u", "secret").ok());
  REQUIRE(subscribe(w, "u", "ok:1").ok());
  auto c = w.connect("u", 0, {{"topics", "nope"}});
  auto fs = drain(w, *c);
  auto joined = only(fs, "subscribed");
  REQUIRE(joined.size() == 1);
  CHECK(joined[0]["topic"] == "ok:1");
  REQUIRE(only(fs, "error").size() == 1);
  CHECK(only(fs, "error")[0]["code"] == "forbidden");
  CHECK(only(fs, "error")[0]["topic"] == "nope");
}

TEST_CASE("seed 003: {userId, room} joins room:<room> and is answered - another user's id is "
          "refused") {
  World w;
  w.add();
  auto c = w.connect("1");
  drain(w, *c);
  c->send(R"({"userId":1,"room":1})");
  auto fs = drain(w, *c);
  REQUIRE(only(fs, "subscribed").size() == 1);
  CHECK(only(fs, "subscribed")[0]["topic"] == "room:1");
  PublishRequest r = to_topic("room:1");
  REQUIRE(w.publish(r).ok());
  CHECK(seqs(frames(*c), "topic:room:1") == std::vector<Seq>{1});

  c->send(R"({"userId":2,"room":"5"})");
  fs = drain(w, *c);
  REQUIRE(only(fs, "error").size() == 1);
  CHECK(only(fs, "error")[0]["code"] == "forbidden");
  c->send(R"({"room":{"x":1}})");
  CHECK(only(drain(w, *c), "error")[0]["code"] == "invalid_argument");
  c->send(R"({"room":"7"})");
  CHECK(only(drain(w, *c), "subscribed")[0]["topic"] == "room:7");
}
