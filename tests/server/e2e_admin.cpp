// End to end: the admin API (docs/admin.md) on real herald-server processes with an API key
// and users' JSON Web Tokens - a disconnect sent to one instance closes the user's session
// on another (two instances on a private Redis and PostgreSQL), the instance list with the
// load of each heartbeat, the topic list paged, and who may call these routes.

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "server_process.hpp"

#if defined(HERALD_SERVER_WITH_REDIS) && defined(HERALD_SERVER_WITH_POSTGRES)
#include "pg_server.hpp"
#include "support/redis_server.hpp"
#endif

using namespace herald::server::test;

#ifdef HERALD_SERVER_WITH_JWT
#include "jwt_tokens.hpp"

namespace {

const HttpClient::Headers kAdmin = {{"Authorization", "Bearer " + kKeySecret}};

std::vector<std::string> auth_args() {
  return {"--api-key", kKey, "--jwt-secret", kSecret, "--jwt-audience", "herald"};
}

std::string token_of(const std::string& user) {
  return sign_hs256({{"sub", user}, {"aud", "herald"}, {"exp", now_s() + 600}});
}

// The answer of an admin call made with the API key; checks its status.
json admin_call(HttpClient& h, const std::string& method, const std::string& target,
                const std::string& body = "", int status = 200) {
  auto r = h.request(method, target, body, kAdmin);
  CHECK_MESSAGE(r.status == status, method << " " << target << " -> " << r.status << " " << r.body);
  return json::parse(r.body, nullptr, false);
}

// Asks `GET target` with the API key until `ok(status, body)` holds, for at most 10 s (the
// servers change state on their own timers: heartbeats, a session's close on another
// instance). Like eventually_get (e2e_helpers.hpp), with the API key. (Used only by the
// cluster case, which needs Redis and PostgreSQL: maybe unused in other builds.)
[[maybe_unused]] bool eventually(HttpClient& h, const std::string& target,
                                const std::function<bool(int, const json&)>& ok) {
  const auto until = std::chrono::steady_clock::now() + Millis(10'000);
  for (;;) {
    auto r = h.request("GET", target, "", kAdmin);
    if (ok(r.status, json::parse(r.body, nullptr, false))) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(Millis(50));
  }
}

// The instances of GET /admin/instances as "id:sessions" ("id:-" before a first report).
[[maybe_unused]] std::set<std::string> loads(const json& answer) {
  std::set<std::string> out;
  if (!answer.is_object() || !answer.contains("instances")) return out;
  for (const json& i : answer["instances"])
    out.insert(i["instance"].get<std::string>() + ":" +
               (i["load"].is_null() ? "-" : std::to_string(i["load"]["sessions"].get<int>())));
  return out;
}

}  // namespace

TEST_CASE(
    "admin: topics are listed with subscriber counts, paged - users get 403, bad "
    "parameters 400") {
  ServerProcess s(auth_args());
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  for (const char* sub :
       {"alpha/ann", "alpha/bob", "beta/ann", "gamma/ann", "gamma/bob", "gamma/cid"}) {
    const std::string topic(sub, std::string(sub).find('/'));
    const std::string user(std::string(sub).substr(topic.size() + 1));
    admin_call(h, "PUT", "/users/" + user + "/subscriptions/" + topic);
  }

  json first = admin_call(h, "GET", "/admin/topics?limit=2");
  CHECK(first["topics"] == json::parse(R"([{"topic":"alpha","subscribers":2},
                                            {"topic":"beta","subscribers":1}])"));
  CHECK(first["next"] == "beta");
  json second = admin_call(h, "GET", "/admin/topics?limit=2&after=beta");
  CHECK(second["topics"] == json::parse(R"([{"topic":"gamma","subscribers":3}])"));
  CHECK(second["next"].is_null());

  for (const char* bad : {"limit=0", "limit=501", "limit=two", "limit=", "after=%24x%20y"}) {
    json e = admin_call(h, "GET", std::string("/admin/topics?") + bad, "", 400);
    CHECK(e["error"]["code"] == "invalid_argument");
  }
  json e = admin_call(h, "POST", "/admin/users/ann/disconnect", R"({"reason":7})", 400);
  CHECK(e["error"]["field"] == "reason");
  e = admin_call(h, "POST", "/admin/users/ann/disconnect", "[]", 400);
  CHECK(e["error"]["field"] == "body");
  admin_call(h, "POST", "/admin/users/ann/disconnect",
             json{{"reason", std::string(124, 'x')}}.dump(), 400);

  // A user's own token opens its WebSocket and its inbox, never the admin routes.
  const std::string ann = token_of("ann");
  CHECK(h.request("GET", "/users/ann/unread-count", "", bearer(ann)).status == 200);
  for (const char* target : {"/admin/topics", "/admin/instances", "/admin/users/ann/sessions"})
    CHECK(h.request("GET", target, "", bearer(ann)).status == 403);
  CHECK(h.request("POST", "/admin/users/ann/disconnect", "{}", bearer(ann)).status == 403);
  CHECK(h.request("GET", "/admin/topics").status == 401);
}

#if defined(HERALD_SERVER_WITH_REDIS) && defined(HERALD_SERVER_WITH_POSTGRES)

TEST_CASE(
    "admin: a disconnect sent to instance a closes the user's session on instance b - "
    "sessions and instances are listed across the cluster") {
  herald::test::RedisServer redis;
  herald::postgres::test::PgServer postgres;
  auto start = [&](const char* id) {
    std::vector<std::string> args{"--redis",       redis.url(), "--postgres",     postgres.url(),
                                  "--instance-id", id,          "--registry-ttl", "1"};
    for (const std::string& a : auth_args()) args.push_back(a);
    auto p = std::make_unique<ServerProcess>(args);
    REQUIRE_MESSAGE(p->port() != 0, p->log());
    return p;
  };
  auto a = start("a");
  auto b = start("b");
  HttpClient on_a(a->port());

  auto bob = session(b->port(), "token=" + token_of("bob"), nullptr);
  json before = admin_call(on_a, "GET", "/admin/users/bob/sessions");
  REQUIRE(before["sessions"].size() == 1);
  CHECK(before["sessions"][0]["instance"] == "b");
  // The loads come with the heartbeats (every registry-ttl / 3).
  CHECK(eventually(on_a, "/admin/instances", [](int status, const json& j) {
    return status == 200 && loads(j) == std::set<std::string>{"a:0", "b:1"};
  }));

  json done =
      admin_call(on_a, "POST", "/admin/users/bob/disconnect", R"({"reason":"account locked"})");
  CHECK(done == json::parse(R"({"user":"bob","sessions":1,"local":0,"remote":1})"));
  REQUIRE(bob->wait_closed());
  CHECK(bob->close_code() == 4010);
  CHECK(bob->close_reason() == "account locked");
  CHECK(eventually(on_a, "/admin/users/bob/sessions", [](int status, const json& j) {
    return status == 200 && j["sessions"].empty();
  }));
  CHECK(eventually(on_a, "/admin/instances", [](int status, const json& j) {
    return status == 200 && loads(j) == std::set<std::string>{"a:0", "b:0"};
  }));
}

#endif  // HERALD_SERVER_WITH_REDIS && HERALD_SERVER_WITH_POSTGRES
#endif  // HERALD_SERVER_WITH_JWT
