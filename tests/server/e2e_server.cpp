// End to end: the real herald-server binary on a free port, driven over real sockets with
// the WebSocket/HTTP test clients of backends/websocket/tests/ws_client.hpp.

#include <doctest/doctest.h>

#include <set>

#include "e2e_helpers.hpp"
#include "server_process.hpp"

using namespace herald::server::test;

TEST_CASE("private, room, broadcast and follower notifications reach the right sessions") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto alice = session(s.port(), "userId=alice", nullptr);
  auto bob = session(s.port(), "userId=bob", nullptr);
  bob->send_text(R"({"op":"subscribe","topic":"room:1","rid":"s1"})");
  CHECK(bob->next_op("subscribed")["rid"] == "s1");

  post(h, "/notify", seed003("bob", "private hello", "alice", "private"));
  auto a1 = notes(*alice, "inbox:alice", 1);
  REQUIRE(a1.size() == 1);
  CHECK(a1[0]["data"]["message"] == "private hello");
  CHECK(a1[0]["sender"] == "bob");
  CHECK(a1[0]["type"] == "message");

  post(h, "/notify", seed003(1, "room hello", 1, "room"));
  auto b1 = notes(*bob, "topic:room:1", 1);
  REQUIRE(b1.size() == 1);
  CHECK(b1[0]["data"]["message"] == "room hello");

  post(h, "/notify", seed003(1, "everyone", nullptr, "broadcast"));
  CHECK(notes(*alice, "topic:$broadcast", 1).size() == 1);
  CHECK(notes(*bob, "topic:$broadcast", 1).size() == 1);

  CHECK(h.request("PUT", "/users/alice/subscriptions/carol").status == 200);
  json r =
      post(h, "/notify",
           {{"to", {{"followersOf", "carol"}}}, {"type", "blog.posted"}, {"data", {{"n", 1}}}});
  CHECK(r["recipients"] == 1);
  auto a2 = notes(*alice, "inbox:alice", 1);
  REQUIRE(a2.size() == 1);
  CHECK(a2[0]["seq"] == 2);
  CHECK(a2[0]["type"] == "blog.posted");
  // Nobody got anything else.
  CHECK(bob->next_op("notification", Millis(300)).is_null());
  CHECK(alice->next_op("notification", Millis(100)).is_null());
  CHECK(s.stop() == 0);
}

TEST_CASE("offline backlog arrives in order, then live, with no duplicate - resume with since") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  for (int i = 1; i <= 5; ++i)
    post(h, "/notify", {{"to", {{"users", {"dave"}}}}, {"type", "n"}, {"data", i}});

  json welcome;
  auto dave = session(s.port(), "userId=dave", &welcome);
  CHECK(welcome["unread"] == 5);
  CHECK(welcome["head"] == 5);
  CHECK(welcome["cursor"] == 0);
  std::vector<json> got = notes(*dave, "inbox:dave", 5);
  CHECK(seqs_of(got) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(got[4]["data"] == 5);
  post(h, "/notify", {{"to", {{"users", {"dave"}}}}, {"type", "n"}, {"data", 6}});
  CHECK(seqs_of(notes(*dave, "inbox:dave", 1)) == std::vector<std::uint64_t>{6});
  CHECK(dave->next_op("notification", Millis(300)).is_null());
  dave->close();

  // Resume after seq 3 in the same epoch: exactly 4, 5, 6, then live 7.
  const std::string epoch = welcome["epoch"].get<std::string>();
  auto again = session(s.port(), "userId=dave&since=3&epoch=" + epoch, &welcome);
  CHECK(welcome["cursor"] == 3);
  CHECK(seqs_of(notes(*again, "inbox:dave", 3)) == std::vector<std::uint64_t>{4, 5, 6});
  post(h, "/notify", {{"to", {{"users", {"dave"}}}}, {"type", "n"}});
  CHECK(seqs_of(notes(*again, "inbox:dave", 1)) == std::vector<std::uint64_t>{7});
  CHECK(again->next_op("notification", Millis(300)).is_null());

  // Another epoch: told to reload (reset), continues from the head.
  auto stale = std::make_unique<WsClient>(s.port(), "/ws?userId=dave&since=3&epoch=1");
  REQUIRE(stale->ok());
  json reset = stale->next_op("reset");
  CHECK(reset["reason"] == "epoch_changed");
  CHECK(reset["head"] == 7);
  CHECK(s.stop() == 0);
}

TEST_CASE("acks stop redelivery - unacked entries are redelivered and replayed") {
  ServerProcess s({"--ack-timeout", "0.3"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto erin = session(s.port(), "userId=erin", nullptr);
  post(h, "/notify", {{"to", {{"users", {"erin"}}}}, {"type", "a"}});
  post(h, "/notify", {{"to", {{"users", {"erin"}}}}, {"type", "b"}});
  auto first = notes(*erin, "inbox:erin", 2);
  REQUIRE(first.size() == 2);
  erin->send_text(R"({"op":"ack","seq":1})");
  // Seq 2 is redelivered (attempt 2) after the ack timeout; seq 1 never again.
  auto redelivered = notes(*erin, "inbox:erin", 1, Millis(3000));
  REQUIRE(redelivered.size() == 1);
  CHECK(redelivered[0]["seq"] == 2);
  CHECK(redelivered[0]["attempt"] == 2);
  erin->send_text(R"({"op":"ack","seq":2})");
  CHECK(erin->next_op("notification", Millis(1000)).is_null());
  erin->close();

  // A new session continues after the stored ack cursor: nothing replayed.
  json welcome;
  auto back = session(s.port(), "userId=erin", &welcome);
  CHECK(welcome["cursor"] == 2);
  CHECK(back->next_op("notification", Millis(500)).is_null());
  back->close();

  // Unacked entries are replayed to the next session.
  post(h, "/notify", {{"to", {{"users", {"erin"}}}}, {"type", "c"}});
  auto third = session(s.port(), "userId=erin", nullptr);
  CHECK(seqs_of(notes(*third, "inbox:erin", 1)) == std::vector<std::uint64_t>{3});
  third->close();
  auto fourth = session(s.port(), "userId=erin", &welcome);
  CHECK(welcome["cursor"] == 2);
  CHECK(seqs_of(notes(*fourth, "inbox:erin", 1)) == std::vector<std::uint64_t>{3});
  CHECK(s.stop() == 0);
}

TEST_CASE("unread counts and read state agree between WebSocket and REST") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  for (int i = 0; i < 4; ++i) post(h, "/notify", seed003("x", "m", "frank", "private"));
  json welcome;
  auto frank = session(s.port(), "userId=frank", &welcome);
  CHECK(welcome["unread"] == 4);
  CHECK(get(h, "/users/frank/unread-count")["unread"] == 4);

  frank->send_text(R"({"op":"read","seqs":[1,2],"rid":"r1"})");
  CHECK(frank->next_op("read")["updated"] == 2);
  CHECK(get(h, "/users/frank/unread-count")["unread"] == 2);
  json page = get(h, "/users/frank/notifications");
  CHECK(page["items"][3]["read"] == true);
  CHECK(page["items"][0]["read"] == false);

  CHECK(post(h, "/users/frank/notifications/read", {{"ids", {3}}}, 200)["updated"] == 1);
  frank->close();
  auto again = session(s.port(), "userId=frank", &welcome);
  CHECK(welcome["unread"] == 1);
  again->send_text(R"({"op":"read_all"})");
  CHECK(again->next_op("read")["updated"] == 1);
  CHECK(get(h, "/users/frank/unread-count")["unread"] == 0);
  CHECK(s.stop() == 0);
}

TEST_CASE("HTTP keep-alive: many requests over one connection - errors keep it open") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    json r = post(h, "/notify", seed003(i % 7, "m", "gina", "private"));
    ids.insert(r["id"].get<std::string>());
    CHECK(h.request("GET", "/users/gina/unread-count").status == 200);
  }
  CHECK(ids.size() == 100);
  CHECK(h.request("GET", "/nope").status == 404);
  CHECK(h.request("POST", "/notify", "{oops").status == 400);
  CHECK(h.request("GET", "/notify").headers["allow"] == "POST, OPTIONS");
  auto options = h.request("OPTIONS", "/users/gina/notifications");
  CHECK(options.status == 204);
  CHECK(options.headers.count("content-length") == 0);  // RFC 9110: none on a 204
  CHECK(options.headers["allow"] == "GET, HEAD, OPTIONS");
  auto head = h.request("HEAD", "/users/gina/unread-count");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.headers["content-length"] != "0");  // the length the GET's body would have
  auto form = h.request("POST", "/notify", seed003(1, "csrf", "gina", "private").dump(),
                        {{"Content-Type", "text/plain"}});
  CHECK(form.status == 415);
  auto rebound = h.request("GET", "/users/gina/unread-count", "", {{"Host", "rebind.test:8080"}});
  CHECK(rebound.status == 421);  // bound to 127.0.0.1: the DNS rebinding guard is on
  CHECK(get(h, "/users/gina/unread-count")["unread"] == 100);
  CHECK(h.connects() == 1);

  auto ready = h.request("GET", "/readyz");
  CHECK(ready.status == 200);
  auto metrics = h.request("GET", "/metrics");
  CHECK(metrics.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(metrics.body.find("herald_published_total 100\n") != std::string::npos);
  CHECK(s.stop() == 0);
}

TEST_CASE("--log-level debug: every answered request is logged once, with its status") {
  ServerProcess s({"--log-level", "debug"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  post(h, "/notify", seed003(1, "m", "hana", "private"));
  CHECK(h.request("GET", "/nope").status == 404);
  CHECK(s.wait_log("event=http method=POST path=/notify status=202 us="));
  CHECK(s.wait_log("event=http method=GET path=/nope status=404 us="));
  const std::string log = s.log();
  CHECK(log.find("remote=127.0.0.1") != std::string::npos);
  CHECK(log.find("path=/notify status=202") == log.rfind("path=/notify status=202"));
  CHECK(s.stop() == 0);
}

TEST_CASE("SIGTERM: sessions get close 1001 and the process exits 0") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  auto a = session(s.port(), "userId=a", nullptr);
  auto b = session(s.port(), "userId=b", nullptr);
  HttpClient h(s.port());
  CHECK(h.request("GET", "/healthz").status == 200);
  s.signal(SIGTERM);
  CHECK(a->wait_closed());
  CHECK(a->close_code() == 1001);
  CHECK(b->wait_closed());
  CHECK(b->close_code() == 1001);
  CHECK(s.wait(Millis(12'000)) == 0);
  CHECK(s.log().find("event=stopped exit_code=0") != std::string::npos);
  // New connections are refused once it is gone.
  WsClient late(s.port(), "/ws?userId=c");
  CHECK_FALSE(late.ok());
}

TEST_CASE("a second signal forces the exit, still with code 0") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  s.signal(SIGINT);
  s.signal(SIGINT);
  CHECK(s.wait(Millis(12'000)) == 0);
}

TEST_CASE("command line: --help, unbuilt backends, bad values, port in use") {
  ServerProcess help({"--help"}, false);
  CHECK(help.wait(Millis(5000)) == 0);
  CHECK(help.log().find("HERALD_PORT") != std::string::npos);

  ServerProcess redis({"--redis", "http://localhost", "--allow-unshared-store"}, false);
  CHECK(redis.wait(Millis(5000)) == 2);
#ifdef HERALD_SERVER_WITH_REDIS
  CHECK(redis.log().find("--redis: herald::redis: bad URL: it must start with redis://") !=
        std::string::npos);
#else
  CHECK(redis.log().find("built without the Redis backend") != std::string::npos);
#endif
  // Nothing listens on port 1: the store cannot connect, and says so before listening.
  ServerProcess postgres({"--postgres", "postgresql://127.0.0.1:1/herald"}, false);
  CHECK(postgres.wait(Millis(15'000)) == 2);
  CHECK(postgres.log().find("--postgres: ") != std::string::npos);
  ServerProcess bad_port({"--port", "70000"}, false);
  CHECK(bad_port.wait(Millis(5000)) == 2);
  ServerProcess bad_level({"--log-level", "loud"}, false);
  CHECK(bad_level.wait(Millis(5000)) == 2);

  // No authentication configured at all: refused, saying what to set.
  ServerProcess no_auth({ServerProcess::kNoDevAuth});
  CHECK(no_auth.wait(Millis(5000)) == 2);
  CHECK(no_auth.log().find("--api-key") != std::string::npos);
  CHECK(no_auth.log().find("--dev-auth") != std::string::npos);
  ServerProcess short_key({"--api-key", "abc"});
  CHECK(short_key.wait(Millis(5000)) == 2);
  CHECK(short_key.log().find("at least 16") != std::string::npos);

  ServerProcess first({"--instance-id", "web-1"});
  REQUIRE(first.port() != 0);
  CHECK(first.log().find("instance=web-1") != std::string::npos);
  ServerProcess second({"--port", std::to_string(first.port())}, false);
  CHECK(second.wait(Millis(5000)) == 1);
  CHECK(second.log().find("event=start_failed") != std::string::npos);
  CHECK(first.stop() == 0);
}

TEST_CASE("with an API key: publish needs it, health checks stay open, WebSocket users refused") {
  ServerProcess s({"--api-key", "backend=0123456789abcdef0123", "--api-key", "fedcba9876543210fedc"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("auth=keys") != std::string::npos);
  HttpClient h(s.port());
  const std::string body = seed003(1, "m", "ivy", "private").dump();
  CHECK(h.request("POST", "/notify", body).status == 401);
  CHECK(h.request("POST", "/notify", body, {{"Authorization", "Bearer wrong-key-0123456789"}})
            .status == 401);
  CHECK(h.request("POST", "/notify", body, {{"Authorization", "Bearer 0123456789abcdef0123"}})
            .status == 202);
  CHECK(h.request("POST", "/notify", body, {{"X-Api-Key", "fedcba9876543210fedc"}}).status == 202);
  CHECK(h.request("GET", "/users/ivy/unread-count").status == 401);
  CHECK(h.request("GET", "/healthz").status == 200);
  CHECK(h.request("GET", "/metrics").body.find(
            "herald_http_auth_refusals_total{reason=\"unauthorized\"} 3") != std::string::npos);
  // No user tokens are configured yet: a WebSocket client cannot say who it is.
  WsClient ws(s.port(), "/ws?userId=ivy");
  REQUIRE(ws.ok());
  CHECK(ws.wait_closed());
  CHECK(ws.close_code() == 4001);
  CHECK(s.stop() == 0);
}

TEST_CASE("a WebSocket handshake from another site's page is refused unless its origin is allowed") {
  ServerProcess s({"--allowed-origins", "https://app.example"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  auto open_from = [&](const std::string& origin) {
    WsClient::Options o;
    if (!origin.empty()) o.headers = {{"Origin", origin}};
    return std::make_unique<WsClient>(s.port(), "/ws?userId=jo", o);
  };
  auto evil = open_from("https://evil.example");
  REQUIRE(evil->ok());
  CHECK(evil->wait_closed());
  CHECK(evil->close_code() == 4001);
  CHECK(evil->close_reason().find("origin") != std::string::npos);
  for (const std::string& ok : {std::string("https://app.example"),
                                "http://127.0.0.1:" + std::to_string(s.port()), std::string()}) {
    CAPTURE(ok);
    auto c = open_from(ok);
    REQUIRE(c->ok());
    CHECK(c->next_op("welcome").is_object());
  }
  CHECK(s.stop() == 0);
}

TEST_CASE("bad WebSocket input gets error frames or a close - a flood is answered - others go on") {
  ServerProcess s({"--max-frame-bytes", "4096"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto good = session(s.port(), "userId=good", nullptr);
  auto bad = session(s.port(), "userId=bad", nullptr);

  auto error_code = [&](int opcode, const std::string& payload) {
    REQUIRE(bad->send_frame(opcode, payload));
    json e = bad->next_op("error");
    REQUIRE(e.is_object());
    return e["code"].get<std::string>();
  };
  CHECK(error_code(1, "{not json") == "invalid_argument");
  CHECK(error_code(1, R"({"op":"teleport"})") == "invalid_argument");
  CHECK(error_code(1, R"({"op":"ack","seq":"x"})") == "invalid_argument");
  CHECK(error_code(2, "\x01\x02") == "invalid_argument");  // binary frame

  // A flood: 5,000 pings sent before reading anything are all answered, in order.
  for (int i = 0; i < 5000; ++i)
    REQUIRE(bad->send_frame(1, R"({"op":"ping","rid":")" + std::to_string(i) + "\"}"));
  for (int i = 0; i < 5000; ++i) {
    json pong = bad->next_op("pong");
    REQUIRE(pong.is_object());
    REQUIRE(pong["rid"] == std::to_string(i));
  }

  // An oversized frame closes that session with 1009 (message too big).
  REQUIRE(bad->send_frame(1, std::string(5000, ' ')));
  CHECK(bad->wait_closed());
  CHECK(bad->close_code() == 1009);

  // The others were served throughout.
  post(h, "/notify", json{{"to", {{"users", {"good"}}}}, {"type", "t"}, {"data", 1}});
  auto got = notes(*good, "inbox:good", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0]["data"] == 1);
  CHECK(get(h, "/healthz").is_object());
  CHECK(s.stop() == 0);
}

TEST_CASE("a client that never reads is cut off at its bound while another keeps receiving") {
  // --rate-limit 0: the 400 publishes below come without a sender from one address.
  ServerProcess s({"--max-session-queue-bytes", "65536", "--rate-limit", "0"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  WsClient::Options small;
  small.receive_buffer = 4096;
  auto slow = std::make_unique<WsClient>(s.port(), "/ws?userId=slow", small);
  REQUIRE(slow->ok());
  auto reader = session(s.port(), "userId=reader", nullptr);

  // 400 broadcasts of ~20 KB: far more than the slow client's socket buffers and bound.
  const std::string blob(20'000, 'x');
  for (int i = 0; i < 400; ++i) {
    post(h, "/notify", json{{"to", {{"broadcast", true}}}, {"type", "t"}, {"data", blob}});
    auto got = notes(*reader, "topic:$broadcast", 1);
    REQUIRE(got.size() == 1);
    REQUIRE(got[0]["seq"] == i + 1);
  }
  // Cut off: what waited unsent was dropped and the close frame (4008) follows what was on
  // its way, so the client reads it when it reads again.
  CHECK(slow->wait_closed(Millis(10'000)));
  CHECK(slow->close_code() == 4008);
  CHECK(h.request("GET", "/metrics").body.find("herald_slow_consumers_total 1\n") !=
        std::string::npos);
  // The server still serves the reader after the slow client was cut off.
  post(h, "/notify", json{{"to", {{"broadcast", true}}}, {"type", "t"}, {"data", "after"}});
  auto last = notes(*reader, "topic:$broadcast", 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0]["data"] == "after");
  CHECK(s.stop() == 0);
}
