// herald-server's REST API, route by route, on an engine with in-memory backends.
// Every route, every error status, and that a bad request changes nothing.

#include "support/forwarding_store.hpp"
#include "rest_fixture.hpp"

using namespace herald;
using namespace herald::server;
using namespace herald::server::test;
using herald::test::frames;
using herald::test::only;
using herald::test::seqs;
using std::chrono::seconds;

namespace {

json seed003(json user, std::string message, json target, std::string type) {
  json j = {{"userId", std::move(user)},
            {"message", std::move(message)},
            {"email", "abc@gmail.com"},
            {"type", std::move(type)}};
  if (!target.is_null()) j["target"] = std::move(target);
  return j;
}

RestOptions rest_options(std::size_t max_body_bytes, std::size_t max_batch) {
  RestOptions o;
  o.max_body_bytes = max_body_bytes;
  o.max_batch = max_batch;
  return o;
}

// The seqs of a user's inbox page, newest first.
std::vector<Seq> inbox_seqs(const Reply& r) {
  std::vector<Seq> out;
  for (const json& item : r.body["items"]) out.push_back(item["seq"].get<Seq>());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// POST /notify

TEST_CASE("POST /notify, seed 003 private: 202 with the id - stored in the target's inbox") {
  Api a;
  Reply r = a.post("/notify", seed003(2, "Private message for userId 1", 1, "private"));
  REQUIRE(r.status() == 202);
  CHECK(r.body["id"].is_string());
  CHECK(r.body["duplicate"] == false);
  CHECK(r.body["recipients"] == 1);

  Reply inbox = a("GET", "/users/1/notifications");
  REQUIRE(inbox.status() == 200);
  REQUIRE(inbox.body["items"].size() == 1);
  const json& item = inbox.body["items"][0];
  CHECK(item["seq"] == 1);
  CHECK(item["id"] == r.body["id"]);
  CHECK(item["type"] == "message");
  CHECK(item["data"] == json{{"message", "Private message for userId 1"}});
  CHECK(item["sender"] == "2");
  CHECK(item["read"] == false);
  CHECK(item["createdAt"] == to_unix_ms(a.w.executor->now()));
  CHECK(inbox.body["nextBefore"].is_null());
  CHECK(inbox.body["unread"] == 1);
  CHECK(inbox.body["head"] == 1);
  // String ids work the same way.
  REQUIRE(a.post("/notify", seed003("alice", "hi", "bob", "private")).status() == 202);
  CHECK(a("GET", "/users/bob/notifications").body["items"][0]["sender"] == "alice");
}

TEST_CASE("POST /notify, seed 003 room: topic room:N, live to the sessions that joined it") {
  Api a;
  auto c = a.w.connect("7");
  c->send(R"({"op":"subscribe","topic":"room:1"})");
  a.w.executor->run();
  frames(*c);
  Reply r = a.post("/notify", seed003(1, "broadcast message for roomId 1", 1, "room"));
  REQUIRE(r.status() == 202);
  auto fs = frames(*c);
  REQUIRE(seqs(fs, "topic:room:1") == std::vector<Seq>{1});
  CHECK(only(fs, "notification")[0]["data"]["message"] == "broadcast message for roomId 1");
  CHECK(only(fs, "notification")[0]["sender"] == "1");
}

TEST_CASE("POST /notify, seed 003 broadcast: every session gets it") {
  Api a;
  auto c1 = a.w.connect("u1");
  auto c2 = a.w.connect("u2");
  frames(*c1);
  frames(*c2);
  Reply r = a.post("/notify", seed003(1, "broadcast message for all", nullptr, "broadcast"));
  REQUIRE(r.status() == 202);
  CHECK(seqs(frames(*c1), "topic:$broadcast") == std::vector<Seq>{1});
  CHECK(seqs(frames(*c2), "topic:$broadcast") == std::vector<Seq>{1});
}

TEST_CASE("POST /notify, native: users, topic, followersOf, broadcast - every field kept") {
  Api a;
  SUBCASE("users, with sender, data, expiresAt (RFC 3339 and ms) and idempotencyKey") {
    const auto in_an_hour = a.w.executor->now() + std::chrono::hours(1);
    json body = {{"to", {{"users", {"a", "b", 42}}}},
                 {"type", "blog.posted"},
                 {"data", {{"title", "hello"}, {"tags", {"x", "y"}}}},
                 {"sender", "alice"},
                 {"idempotencyKey", "post-1"},
                 {"expiresAt", to_unix_ms(in_an_hour)}};
    Reply r = a.post("/notify", body);
    REQUIRE(r.status() == 202);
    CHECK(r.body["recipients"] == 3);
    Reply again = a.post("/notify", body);
    REQUIRE(again.status() == 202);
    CHECK(again.body["duplicate"] == true);
    CHECK(again.body["id"] == r.body["id"]);
    const json item = a("GET", "/users/42/notifications").body["items"][0];
    CHECK(item["type"] == "blog.posted");
    CHECK(item["data"]["tags"][1] == "y");
    CHECK(item["sender"] == "alice");
    CHECK(item["expiresAt"] == to_unix_ms(in_an_hour));

    body["idempotencyKey"] = "post-2";
    body["expiresAt"] = "2099-01-01T00:00:00.5+01:00";
    REQUIRE(a.post("/notify", body).status() == 202);
    CHECK(a("GET", "/users/a/notifications").body["items"][0]["expiresAt"] == 4070905200000 + 500);
  }
  SUBCASE("topic") {
    Reply r = a.post("/notify", {{"to", {{"topic", "news"}}}, {"type", "headline"}});
    REQUIRE(r.status() == 202);
    auto page = a.w.ask<HistoryPage>(
        [&](auto cb) { a.engine.history(StreamId::topic("news"), HistoryQuery{}, cb); });
    REQUIRE(page->entries.size() == 1);
    CHECK(page->entries[0].notification->data == "null");
  }
  SUBCASE("followersOf: following user X is subscribing to topic X") {
    CHECK(a("PUT", "/users/bob/subscriptions/alice").status() == 200);
    CHECK(a("PUT", "/users/carol/subscriptions/alice").status() == 200);
    Reply r =
        a.post("/notify",
               {{"to", {{"followersOf", "alice"}}}, {"type", "blog.posted"}, {"sender", "alice"}});
    REQUIRE(r.status() == 202);
    CHECK(r.body["recipients"] == 2);
    CHECK(a("GET", "/users/carol/unread-count").body["unread"] == 1);
    CHECK(a("GET", "/users/alice/unread-count").body["unread"] == 0);
  }
  SUBCASE("broadcast") {
    auto c = a.w.connect("u");
    frames(*c);
    REQUIRE(a.post("/notify", {{"to", {{"broadcast", true}}}, {"type", "maintenance"}}).status() ==
            202);
    CHECK(seqs(frames(*c), "topic:$broadcast") == std::vector<Seq>{1});
  }
}

TEST_CASE("POST /notify with an array: a batch answered item by item, in order") {
  Api a({}, rest_options(1 << 20, 3));
  json batch = json::array({
      {{"to", {{"users", {"a"}}}}, {"type", "one"}},
      {{"to", {{"users", {"a"}}}}, {"type", 5}},
      seed003(1, "three", "a", "private"),
  });
  Reply r = a.post("/notify", batch);
  REQUIRE(r.status() == 202);
  const json& results = r.body["results"];
  REQUIRE(results.size() == 3);
  CHECK(results[0]["recipients"] == 1);
  CHECK(results[1]["error"]["field"] == "type");
  CHECK(results[1]["error"]["status"] == 400);
  CHECK(std::stoull(results[2]["id"].get<std::string>()) >
        std::stoull(results[0]["id"].get<std::string>()));
  Reply inbox = a("GET", "/users/a/notifications");
  CHECK(inbox_seqs(inbox) == std::vector<Seq>{2, 1});
  CHECK(inbox.body["items"][0]["type"] == "message");

  CHECK(a.post("/notify", json::array()).field() == "body");
  json four = json::array();
  for (int i = 0; i < 4; ++i) four.push_back(batch[0]);
  CHECK(a.post("/notify", four).status() == 400);
  CHECK(a.post("/notify", json::array({1})).body["results"][0]["error"]["field"] == "body");
}

// ---------------------------------------------------------------------------------------
// Inbox

TEST_CASE("inbox: pages, unread count, mark read by ids or all, delete one") {
  Api a;
  for (int i = 0; i < 5; ++i) REQUIRE(a.w.notify({"u"}, "{\"n\":" + std::to_string(i) + "}").ok());

  Reply p1 = a("GET", "/users/u/notifications?limit=2");
  CHECK(inbox_seqs(p1) == std::vector<Seq>{5, 4});
  CHECK(p1.body["nextBefore"] == 4);
  CHECK(p1.body["epoch"] == std::to_string(a.w.store->epoch()));
  Reply p2 = a("GET", "/users/u/notifications?limit=2&before=4");
  CHECK(inbox_seqs(p2) == std::vector<Seq>{3, 2});
  Reply p3 = a("GET", "/users/u/notifications?limit=2&before=2");
  CHECK(inbox_seqs(p3) == std::vector<Seq>{1});
  CHECK(p3.body["nextBefore"].is_null());

  CHECK(a("GET", "/users/u/unread-count").body == json{{"user", "u"}, {"unread", 5}});
  Reply read = a("POST", "/users/u/notifications/read", R"({"ids":[1,"2",99]})");
  CHECK(read.status() == 200);
  CHECK(read.body["updated"] == 2);
  CHECK(a("GET", "/users/u/unread-count").body["unread"] == 3);
  CHECK(a("GET", "/users/u/notifications?limit=5").body["items"][4]["read"] == true);
  CHECK(a("POST", "/users/u/notifications/read", R"({"seqs":[3]})").body["updated"] == 1);
  CHECK(a("POST", "/users/u/notifications/read", R"({"all":true})").body["updated"] == 2);
  CHECK(a("GET", "/users/u/unread-count").body["unread"] == 0);

  Reply del = a("DELETE", "/users/u/notifications/3");
  CHECK(del.status() == 200);
  CHECK(del.body["deleted"] == 1);
  CHECK(inbox_seqs(a("GET", "/users/u/notifications")) == std::vector<Seq>{5, 4, 2, 1});
  Reply gone = a("DELETE", "/users/u/notifications/3");
  CHECK(gone.status() == 404);
  CHECK(gone.code() == "not_found");
  CHECK(gone.field() == "seq");
  // An unknown user has an empty inbox.
  CHECK(a("GET", "/users/nobody/notifications").body["items"].empty());
}

// ---------------------------------------------------------------------------------------
// Subscriptions, subscribers, presence

TEST_CASE("subscriptions: PUT, GET, DELETE - subscribers paged by cursor") {
  Api a;
  Reply put = a("PUT", "/users/bob/subscriptions/room:1");
  CHECK(put.status() == 200);
  CHECK(put.body["created"] == true);
  CHECK(a("PUT", "/users/bob/subscriptions/room:1").body["created"] == false);
  CHECK(a("PUT", "/users/bob/subscriptions/a%2Fb%20c").status() == 400);  // space: invalid
  CHECK(a("PUT", "/users/bob/subscriptions/a%2Fb").status() == 200);      // '/' inside a name
  CHECK(a("GET", "/users/bob/subscriptions").body["topics"] == json{"a/b", "room:1"});

  CHECK(a("DELETE", "/users/bob/subscriptions/a%2Fb").body["subscribed"] == false);
  Reply again = a("DELETE", "/users/bob/subscriptions/a%2Fb");
  CHECK(again.status() == 404);
  CHECK(again.field() == "topic");
  CHECK(a("GET", "/users/bob/subscriptions").body["topics"] == json{"room:1"});

  for (const char* u : {"d", "a", "c", "e"})
    REQUIRE(a("PUT", std::string("/users/") + u + "/subscriptions/room:1").status() == 200);
  Reply s1 = a("GET", "/topics/room:1/subscribers?limit=2");
  CHECK(s1.body["users"] == json{"a", "bob"});
  CHECK(s1.body["nextCursor"] == "bob");
  Reply s2 = a("GET", "/topics/room:1/subscribers?limit=2&cursor=bob");
  CHECK(s2.body["users"] == json{"c", "d"});
  Reply s3 = a("GET", "/topics/room:1/subscribers?limit=2&cursor=d");
  CHECK(s3.body["users"] == json{"e"});
  CHECK(s3.body["nextCursor"].is_null());
  CHECK(a("GET", "/topics/room:1/subscribers").body["users"].size() == 5);
}

TEST_CASE("presence: the sessions of a user on every instance") {
  Api a;
  Reply off = a("GET", "/users/p/presence");
  CHECK(off.status() == 200);
  CHECK(off.body["online"] == false);
  CHECK(off.body["sessions"].empty());
  auto c = a.w.connect("p");
  Reply on = a("GET", "/users/p/presence");
  CHECK(on.body["online"] == true);
  REQUIRE(on.body["sessions"].size() == 1);
  CHECK(on.body["sessions"][0]["instance"] == "i0");
  CHECK(on.body["sessions"][0]["connectedAt"] == to_unix_ms(a.w.executor->now()));
}

// ---------------------------------------------------------------------------------------
// Health, readiness, metrics

TEST_CASE("healthz, readyz and metrics") {
  Api a;
  CHECK(a("GET", "/healthz").body == json{{"status", "ok"}});
  CHECK(a("GET", "/readyz").body == json{{"ready", true}});
  a.w.store->set_available(false);
  Reply down = a("GET", "/readyz");
  CHECK(down.status() == 503);
  CHECK(down.body["ready"] == false);
  a.w.store->set_available(true);

  REQUIRE(a.w.notify({"m"}).ok());
  a("GET", "/nope");
  Reply m = a("GET", "/metrics");
  CHECK(m.status() == 200);
  CHECK(m.raw.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(m.raw.body.find("herald_published_total 1\n") != std::string::npos);
  CHECK(m.raw.body.find("herald_http_responses_total{class=\"4xx\"} 1\n") != std::string::npos);
  CHECK(m.raw.body.find("herald_http_responses_total{class=\"5xx\"} 1\n") != std::string::npos);
  CHECK(m.raw.body.find("process_resident_memory_bytes ") != std::string::npos);

  RestOptions extra;
  extra.extra_metrics = [] { return std::string("herald_transport_pings_total 7\n"); };
  RestApi with_extra(a.engine, {}, extra);
  Reply m2 = call(a.w, with_extra, make_request("GET", "/metrics"));
  CHECK(m2.raw.body.find("herald_transport_pings_total 7\n") != std::string::npos);
}

namespace {

// A Store whose inbox_state never answers (a hung database), around the in-memory one.
class HungStore final : public herald::test::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void inbox_state(UserId, TimePoint, Completion<InboxState>) override {}
};

}  // namespace

TEST_CASE("store_probe: ready only while running and the store answers within the timeout") {
  Api a;
  bool running = true;
  RestApi api(a.engine, store_probe(a.engine, a.w.executor, [&] { return running; }));
  CHECK(call(a.w, api, make_request("GET", "/readyz")).status() == 200);
  running = false;
  Reply stopped = call(a.w, api, make_request("GET", "/readyz"));
  CHECK(stopped.status() == 503);
  CHECK(stopped.body["reason"] == "engine is not running");

  // An engine whose store hangs: 503 once the timeout passed, answered exactly once.
  Backends b;
  b.store = std::make_shared<HungStore>(a.w.store);
  b.registry = a.w.registry;
  b.broker = a.w.hub->make_broker(a.w.executor);
  Engine hung(a.w.executor, std::move(b), World::defaults());
  hung.start([](Status) {});
  a.w.executor->run();
  RestApi slow(hung, store_probe(
                         hung, a.w.executor, [] { return true; }, seconds(1)));
  auto reply = std::make_shared<Reply>();
  slow.handle(make_request("GET", "/readyz"), [reply](HttpResponse r) {
    ++reply->responses;
    reply->raw = std::move(r);
  });
  a.w.executor->run();
  CHECK(reply->responses == 0);
  a.w.executor->advance(seconds(1));
  CHECK(reply->responses == 1);
  CHECK(reply->raw.status == 503);
  hung.shutdown([] {});
  a.w.executor->run();
}

// ---------------------------------------------------------------------------------------
// Errors

TEST_CASE("400: malformed JSON, wrong types and unknown target types name the field") {
  EngineOptions o = World::defaults();
  o.max_payload_bytes = 64;
  Api a(o);
  struct Case {
    std::string body;
    std::string field;
    std::string code;
  };
  const Case cases[] = {
      {"{\"to\":", "body", "invalid_json"},
      {"", "body", "invalid_json"},
      {R"({"to":{"users":["a"]},"type":"t"} x)", "body", "invalid_json"},
      {"{\"to\":{\"users\":[\"a\"]},\"type\":\"t\",\"data\":\"\xff\"}", "body", "invalid_json"},
      {R"({"to":{"users":["a"]},"type":"t","data":123456789012345678901234567890})", "body",
       "invalid_json"},
      {std::string(5000, '['), "body", "invalid_json"},
      {"\"text\"", "body", "invalid_argument"},
      {R"({"userId":2,"message":"m","target":1,"type":"group"})", "type", "invalid_argument"},
      {R"({"userId":2,"message":"m","target":1})", "type", "invalid_argument"},
      {R"({"userId":2,"message":"m","type":"private"})", "target", "invalid_argument"},
      {R"({"userId":2,"message":"m","target":1.5,"type":"private"})", "target", "invalid_argument"},
      {R"({"userId":{},"message":"m","target":1,"type":"private"})", "userId", "invalid_argument"},
      {R"({"userId":2,"message":7,"target":1,"type":"private"})", "message", "invalid_argument"},
      {R"({"to":{"group":"x"},"type":"t"})", "to", "invalid_argument"},
      {R"({"to":{"users":["a"],"topic":"x"},"type":"t"})", "to", "invalid_argument"},
      {R"({"to":"a","type":"t"})", "to", "invalid_argument"},
      {R"({"to":{"users":"a"},"type":"t"})", "to.users", "invalid_argument"},
      {R"({"to":{"users":[]},"type":"t"})", "to.users", "invalid_argument"},
      {R"({"to":{"users":["has space"]},"type":"t"})", "to.users", "invalid_argument"},
      {R"({"to":{"topic":"$broadcast"},"type":"t"})", "to.topic", "invalid_argument"},
      {R"({"to":{"followersOf":3},"type":"t"})", "to.followersOf", "invalid_argument"},
      {R"({"to":{"broadcast":false},"type":"t"})", "to.broadcast", "invalid_argument"},
      {R"({"to":{"users":["a"]}})", "type", "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":""})", "type", "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":"t","sender":[1]})", "sender", "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":"t","idempotencyKey":1})", "idempotencyKey",
       "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":"t","expiresAt":"tomorrow"})", "expiresAt",
       "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":"t","expiresAt":"2001-01-01T00:00:00Z"})", "expiresAt",
       "invalid_argument"},
      {R"({"to":{"users":["a"]},"type":"t","data":")" + std::string(100, 'x') + "\"}", "data",
       "payload_too_large"},
      {R"({"userId":2,"message":")" + std::string(100, 'x') + R"(","target":1,"type":"private"})",
       "message", "payload_too_large"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body);
    Reply r = a("POST", "/notify", c.body);
    CHECK(r.status() == 400);
    CHECK(r.field() == c.field);
    CHECK(r.code() == c.code);
    CHECK_FALSE(r.body["error"]["message"].get<std::string>().empty());
  }

  const std::string long_id(201, 'x');
  CHECK(a("GET", "/users/" + long_id + "/notifications").field() == "userId");
  CHECK(a("GET", "/users/u/notifications?limit=0").field() == "limit");
  CHECK(a("GET", "/users/u/notifications?limit=abc").field() == "limit");
  CHECK(a("GET", "/users/u/notifications?limit=501").field() == "limit");
  CHECK(a("GET", "/users/u/notifications?before=x").field() == "before");
  CHECK(a("DELETE", "/users/u/notifications/first").field() == "seq");
  CHECK(a("POST", "/users/u/notifications/read", R"({"ids":[]})").field() == "ids");
  CHECK(a("POST", "/users/u/notifications/read", R"({"ids":[-1]})").field() == "ids");
  CHECK(a("POST", "/users/u/notifications/read", R"({"all":false})").field() == "all");
  CHECK(a("POST", "/users/u/notifications/read", R"({"all":true,"ids":[1]})").field() == "all");
  CHECK(a("POST", "/users/u/notifications/read", R"({})").field() == "ids");
  CHECK(a("POST", "/users/u/notifications/read", "[").field() == "body");
  CHECK(a("PUT", "/users/u/subscriptions/$broadcast").field() == "topic");
  CHECK(a("GET", "/topics/t/subscribers?cursor=a%20b").field() == "cursor");
  CHECK(a("GET", "/topics/t/subscribers?limit=-1").field() == "limit");
  CHECK(a("GET", "/users/a%zz/presence").field() == "path");
}

TEST_CASE("413 for a body over the limit - 404 unknown route - 405 with Allow - 426 on /ws") {
  Api a({}, rest_options(32, 1000));
  Reply big =
      a("POST", "/notify", json{{"to", {{"users", {"a"}}}}, {"type", "long-enough"}}.dump());
  CHECK(big.status() == 413);
  CHECK(big.field() == "body");

  Reply missing = a("GET", "/users/u");
  CHECK(missing.status() == 404);
  CHECK(missing.code() == "not_found");
  CHECK(a("GET", "/").status() == 200);  // the demo page (static_files.hpp); its neighbours are not
  CHECK(a("GET", "/index.htm").status() == 404);
  CHECK(a("GET", "/healthz/").status() == 404);
  CHECK(a("POST", "/users/u/unread-count/x").status() == 404);

  Reply get_notify = a("GET", "/notify");
  CHECK(get_notify.status() == 405);
  CHECK(get_notify.header("Allow") == "POST, OPTIONS");
  CHECK(get_notify.code() == "method_not_allowed");
  CHECK(a("PATCH", "/users/u/subscriptions/t").header("Allow") == "PUT, DELETE, OPTIONS");
  CHECK(a("POST", "/users/u/notifications/5").header("Allow") == "DELETE, OPTIONS");
  CHECK(a("DELETE", "/metrics").header("Allow") == "GET, HEAD, OPTIONS");

  Reply ws = a("GET", "/ws?userId=u");
  CHECK(ws.status() == 426);
  CHECK(ws.header("Upgrade") == "websocket");
}

TEST_CASE("429 with Retry-After when the sender is over its rate") {
  EngineOptions o = World::defaults();
  o.rate_limit = {0.5, 2, true};  // one token every two seconds
  Api a(o);
  json body = seed003(9, "m", 1, "private");
  CHECK(a.post("/notify", body).status() == 202);
  CHECK(a.post("/notify", body).status() == 202);
  Reply limited = a.post("/notify", body);
  CHECK(limited.status() == 429);
  CHECK(limited.code() == "rate_limited");
  CHECK(limited.header("Retry-After") == "2");
  // Other senders are not affected; after the refill the sender may publish again.
  CHECK(a.post("/notify", seed003(8, "m", 1, "private")).status() == 202);
  a.w.executor->advance(seconds(2));
  CHECK(a.post("/notify", body).status() == 202);
  CHECK(a("GET", "/users/1/unread-count").body["unread"] == 4);
}

TEST_CASE("503 when the store is unavailable or the engine is shutting down") {
  Api a;
  REQUIRE(a("PUT", "/users/u/subscriptions/t").status() == 200);
  a.w.store->set_available(false);
  Reply pub = a.post("/notify", seed003(1, "m", "u", "private"));
  CHECK(pub.status() == 503);
  CHECK(pub.code() == "unavailable");
  CHECK(pub.header("Retry-After") == "1");
  CHECK(pub.field().empty());
  CHECK(a("GET", "/users/u/notifications").status() == 503);
  CHECK(a("GET", "/users/u/unread-count").status() == 503);
  CHECK(a("POST", "/users/u/notifications/read", R"({"all":true})").status() == 503);
  CHECK(a("DELETE", "/users/u/notifications/1").status() == 503);
  CHECK(a("PUT", "/users/u/subscriptions/t").status() == 503);
  CHECK(a("DELETE", "/users/u/subscriptions/t").status() == 503);
  CHECK(a("GET", "/users/u/subscriptions").status() == 503);
  CHECK(a("GET", "/topics/t/subscribers").status() == 503);
  Reply batch = a.post("/notify", json::array({seed003(1, "m", "u", "private")}));
  CHECK(batch.status() == 202);
  CHECK(batch.body["results"][0]["error"]["status"] == 503);
  a.w.store->set_available(true);
  CHECK(a("GET", "/users/u/notifications").body["items"].empty());

  a.engine.shutdown([] {});
  a.w.executor->run();
  Reply closing = a.post("/notify", seed003(1, "m", "u", "private"));
  CHECK(closing.status() == 503);
  CHECK(closing.code() == "shutting_down");
}

TEST_CASE("a bad request never changes stored state") {
  Api a;
  REQUIRE(a.w.notify({"u"}, R"({"keep":1})").ok());
  REQUIRE(a("PUT", "/users/u/subscriptions/t").status() == 200);
  const std::string before_inbox = a("GET", "/users/u/notifications").raw.body;
  const std::string before_subs = a("GET", "/users/u/subscriptions").raw.body;
  const std::uint64_t stored = a.engine.metrics().stored.value();

  const std::pair<const char*, std::string> bad[] = {
      {"/notify", R"({"to":{"users":["u"]},"type":7})"},
      {"/notify", R"({"userId":1,"message":"m","target":"u","type":"dm"})"},
      {"/notify", R"({"to":{"users":["u", "bad id"]},"type":"t"})"},
      {"/notify", R"({"to":{"users":["u"]},"type":"t","data":)"},
      {"/notify", R"({"to":{"users":["u"]},"type":"t","expiresAt":"2001-01-01T00:00:00Z"})"},
      {"/users/u/notifications/read", R"({"ids":[]})"},
      {"/users/u/notifications/read", R"({"ids":"all"})"},
      {"/users/u/notifications/read", R"({"all":"yes"})"},
  };
  for (const auto& [target, body] : bad) {
    CAPTURE(body);
    CHECK(a("POST", target, body).status() == 400);
  }
  CHECK(a("DELETE", "/users/u/notifications/0").status() == 400);
  CHECK(a("DELETE", "/users/u/subscriptions/$t").status() == 400);
  CHECK(a("PUT", "/users/u/notifications/1").status() == 405);

  CHECK(a("GET", "/users/u/notifications").raw.body == before_inbox);
  CHECK(a("GET", "/users/u/subscriptions").raw.body == before_subs);
  CHECK(a.engine.metrics().stored.value() == stored);
}

// ---------------------------------------------------------------------------------------
// Idempotency scope, Idempotency-Key, rate limit without sender, dead letters, paging

namespace {

// A POST /notify from `remote` with optional extra headers.
Reply post_from(Api& a, const std::string& remote, const json& body,
                std::map<std::string, std::string> headers = {}) {
  HttpRequest r = make_request("POST", "/notify", body.dump());
  r.remote = remote;
  for (auto& [name, value] : headers) r.headers[name] = value;  // beside content-type
  Reply reply = call(a.w, a.api, std::move(r));
  CHECK(reply.responses == 1);
  return reply;
}

json keyed(const char* user, const char* type, const char* key = "k-1") {
  return {{"to", {{"users", {user}}}}, {"type", type}, {"idempotencyKey", key}};
}

}  // namespace

TEST_CASE("POST /notify: idempotency keys are per client - another request under a key is 409") {
  Api a;
  Reply first = post_from(a, "127.0.0.1:50000", keyed("u9", "t"));
  REQUIRE(first.status() == 202);
  // The same client reusing its key for another request: a conflict, nothing delivered.
  Reply conflict = post_from(a, "127.0.0.1:50001", keyed("zzz", "other"));
  CHECK(conflict.status() == 409);
  CHECK(conflict.code() == "idempotency_conflict");
  CHECK(a("GET", "/users/zzz/unread-count").body["unread"] == 0);
  // Its retry of the first request is the duplicate it always was.
  Reply retry = post_from(a, "127.0.0.1:50002", keyed("u9", "t"));
  REQUIRE(retry.status() == 202);
  CHECK(retry.body["duplicate"] == true);
  CHECK(retry.body["id"] == first.body["id"]);
  // Another client's "k-1" is its own key.
  Reply other = post_from(a, "10.0.0.2:40000", keyed("zzz", "other"));
  REQUIRE(other.status() == 202);
  CHECK(other.body["duplicate"] == false);
  CHECK(other.body["recipients"] == 1);
  CHECK(a("GET", "/users/zzz/unread-count").body["unread"] == 1);
  // IPv6 peers are scoped by address too.
  CHECK(post_from(a, "[::1]:1", keyed("v6", "t")).body["duplicate"] == false);
  CHECK(post_from(a, "[::1]:2", keyed("v6", "t")).body["duplicate"] == true);
}

TEST_CASE("POST /notify: the Idempotency-Key header, also on a seed 003 body") {
  Api a;
  const json plain = {{"to", {{"users", {"h"}}}}, {"type", "t"}};
  const std::map<std::string, std::string> key = {{"idempotency-key", "hdr-1"}};
  Reply one = post_from(a, "127.0.0.1:1", plain, key);
  REQUIRE(one.status() == 202);
  Reply two = post_from(a, "127.0.0.1:1", plain, key);
  CHECK(two.body["duplicate"] == true);
  CHECK(two.body["id"] == one.body["id"]);
  // Header and body naming the same key agree; different keys are refused.
  json same = plain;
  same["idempotencyKey"] = "hdr-1";
  CHECK(post_from(a, "127.0.0.1:1", same, key).body["duplicate"] == true);
  json differs = plain;
  differs["idempotencyKey"] = "body-1";
  Reply bad = post_from(a, "127.0.0.1:1", differs, key);
  CHECK(bad.status() == 400);
  CHECK(bad.field() == "idempotencyKey");
  // Seed 003 bodies take the header (and an idempotencyKey member).
  const json seed = seed003("s1", "hello", "s2", "private");
  const std::map<std::string, std::string> seed_key = {{"idempotency-key", "seed-1"}};
  CHECK(post_from(a, "127.0.0.1:1", seed, seed_key).body["duplicate"] == false);
  CHECK(post_from(a, "127.0.0.1:1", seed, seed_key).body["duplicate"] == true);
  json seed_body_key = seed;
  seed_body_key["idempotencyKey"] = "seed-2";
  CHECK(post_from(a, "127.0.0.1:1", seed_body_key).body["duplicate"] == false);
  CHECK(post_from(a, "127.0.0.1:1", seed_body_key).body["duplicate"] == true);
  CHECK(a("GET", "/users/s2/unread-count").body["unread"] == 2);
  // A batch has a key per item, not one header for all.
  Reply batch = post_from(a, "127.0.0.1:1", json::array({plain}), key);
  CHECK(batch.status() == 400);
  CHECK(batch.field() == "idempotencyKey");
}

TEST_CASE("429 for publishes without a sender: one bucket per client address") {
  EngineOptions o = World::defaults();
  o.rate_limit = {0.5, 2, true};
  Api a(o);
  const json anonymous = {{"to", {{"users", {"r"}}}}, {"type", "t"}};
  CHECK(post_from(a, "127.0.0.1:1", anonymous).status() == 202);
  CHECK(post_from(a, "127.0.0.1:2", anonymous).status() == 202);
  Reply limited = post_from(a, "127.0.0.1:3", anonymous);
  CHECK(limited.status() == 429);
  CHECK(limited.code() == "rate_limited");
  CHECK(post_from(a, "10.0.0.9:1", anonymous).status() == 202);  // another client
  a.w.executor->advance(seconds(2));
  CHECK(post_from(a, "127.0.0.1:4", anonymous).status() == 202);
}

TEST_CASE("GET /users/{id}/subscriptions: keyset pages with after, limit and next") {
  EngineOptions o = World::defaults();
  o.max_page = 150;
  Api a(o);
  for (int i = 0; i < 120; ++i) {
    char topic[8];
    std::snprintf(topic, sizeof topic, "t%03d", i);
    REQUIRE(a("PUT", std::string("/users/pia/subscriptions/") + topic).status() == 200);
  }
  Reply first = a("GET", "/users/pia/subscriptions");  // default limit: 100
  REQUIRE(first.status() == 200);
  CHECK(first.body["topics"].size() == 100);
  CHECK(first.body["topics"][0] == "t000");
  CHECK(first.body["next"] == "t099");
  Reply second = a("GET", "/users/pia/subscriptions?after=t099");
  CHECK(second.body["topics"].size() == 20);
  CHECK(second.body["topics"][0] == "t100");
  CHECK(second.body["next"].is_null());
  Reply small = a("GET", "/users/pia/subscriptions?limit=2&after=t010");
  CHECK(small.body["topics"] == json{"t011", "t012"});
  CHECK(small.body["next"] == "t012");
  CHECK(a("GET", "/users/pia/subscriptions?limit=151").field() == "limit");
  CHECK(a("GET", "/users/pia/subscriptions?limit=0").status() == 400);
  CHECK(a("GET", "/users/pia/subscriptions?after=a%20b").field() == "after");
  CHECK(a("GET", "/users/nobody/subscriptions").body["topics"].empty());
}

TEST_CASE("dead letters: GET pages, POST …/retry redelivers, DELETE discards") {
  EngineOptions o = World::defaults();
  o.ack_timeout = seconds(1);
  o.max_delivery_attempts = 1;
  Api a(o);
  auto c = a.w.connect("dl");
  frames(*c);
  for (int i = 0; i < 3; ++i)
    REQUIRE(a.post("/notify", {{"to", {{"users", {"dl"}}}}, {"type", "t"}}).status() == 202);
  a.w.executor->advance(seconds(1));  // the only attempt timed out: three dead letters
  frames(*c);

  Reply page = a("GET", "/users/dl/dead-letters?limit=2");
  REQUIRE(page.status() == 200);
  REQUIRE(page.body["items"].size() == 2);
  const json& item = page.body["items"][0];
  CHECK(item["seq"] == 1);
  CHECK(item["id"].is_string());
  CHECK(item["attempts"] == 1);
  CHECK(item["at"] == to_unix_ms(a.w.executor->now()));
  CHECK(item["reason"].is_string());
  CHECK(page.body["next"] == 2);
  Reply rest = a("GET", "/users/dl/dead-letters?limit=2&after=2");
  REQUIRE(rest.body["items"].size() == 1);
  CHECK(rest.body["items"][0]["seq"] == 3);
  CHECK(rest.body["next"].is_null());

  Reply retried = a("POST", "/users/dl/dead-letters/2/retry");
  CHECK(retried.status() == 200);
  CHECK(retried.body["retried"] == true);
  CHECK(seqs(frames(*c), "inbox:dl") == std::vector<Seq>{2});
  Reply again = a("POST", "/users/dl/dead-letters/2/retry");
  CHECK(again.status() == 404);
  CHECK(again.code() == "not_found");

  CHECK(a("DELETE", "/users/dl/dead-letters/3").body["deleted"] == 1);
  Reply missing = a("DELETE", "/users/dl/dead-letters/3");
  CHECK(missing.status() == 404);
  CHECK(missing.field() == "seq");
  CHECK(a("GET", "/users/dl/dead-letters").body["items"].size() == 1);
  CHECK(a("DELETE", "/users/dl/dead-letters/0").field() == "seq");
  CHECK(a("GET", "/users/dl/dead-letters?after=x").field() == "after");
  CHECK(a("GET", "/users/dl/notifications").body["items"].size() == 3);  // entries stay
}
