// REST authorization: API keys for server routes, a user's own token for their own paths,
// 401/403 with the documented codes, counted in /metrics; development mode stays open.
// User tokens here come from a table verifier: the JWT verifier itself is tested with
// herald::jwt, and end to end with herald-server.

#include "rest_fixture.hpp"

using namespace herald;
using namespace herald::server;
using namespace herald::server::test;

namespace {

const char* kKey = "server-key-0123456789";
const char* kMetricsKey = "metrics-key-0123456789";

RestOptions secured() {
  RestOptions o;
  o.auth.development = false;
  auto keys = std::make_shared<ApiKeys>();
  keys->add_entry(std::string("backend=") + kKey);
  o.auth.api_keys = keys;
  o.auth.verify_user = [](const std::string& token, std::string& why) -> std::optional<UserClaims> {
    if (token == "tok-alice") return UserClaims{"alice", std::vector<std::string>{"room:*"}};
    if (token == "tok-bob") return UserClaims{"bob", std::nullopt};
    why = "signature does not verify";
    return std::nullopt;
  };
  return o;
}

Reply send(Api& a, const std::string& method, const std::string& target, const std::string& token,
           const std::string& body = {}, const char* header = "authorization") {
  HttpRequest r = make_request(method, target, body);
  if (!token.empty())
    r.headers[header] = std::string(header) == "authorization" ? "Bearer " + token : token;
  return call(a.w, a.api, r);
}

json to_user(const std::string& user) {
  return {{"to", {{"users", {user}}}}, {"type", "t"}};
}

}  // namespace

TEST_CASE("publish needs an API key: none 401, a wrong one 401, a right one 202") {
  Api a(World::defaults(), secured());
  const std::string body = to_user("alice").dump();
  Reply none = send(a, "POST", "/notify", "", body);
  CHECK(none.status() == 401);
  CHECK(none.code() == "unauthorized");
  CHECK(none.header("WWW-Authenticate") == "Bearer realm=\"herald\"");
  CHECK(send(a, "POST", "/notify", "server-key-0123456780", body).status() == 401);
  CHECK(send(a, "POST", "/notify", kKey, body).status() == 202);
  CHECK(send(a, "POST", "/notify", kKey, body, "x-api-key").status() == 202);
  HttpRequest lower_scheme = make_request("POST", "/notify", body);
  lower_scheme.headers["authorization"] = std::string("bearer ") + kKey;
  CHECK(call(a.w, a.api, lower_scheme).status() == 202);
  // A user's valid token is not an API key.
  Reply user = send(a, "POST", "/notify", "tok-alice", body);
  CHECK(user.status() == 403);
  CHECK(user.code() == "forbidden");
  CHECK(send(a, "GET", "/users/alice/unread-count", kKey).body["unread"] == 3);
}

TEST_CASE("a user's token reaches that user's own data only") {
  Api a(World::defaults(), secured());
  for (const char* user : {"alice", "bob"})
    REQUIRE(send(a, "POST", "/notify", kKey, to_user(user).dump()).status() == 202);

  CHECK(send(a, "GET", "/users/alice/notifications", "tok-alice").body["items"].size() == 1);
  CHECK(send(a, "GET", "/users/alice/unread-count", "tok-alice").body["unread"] == 1);
  struct Case {
    const char* method;
    const char* target;
    const char* body;
  };
  for (const Case& c : {Case{"GET", "/users/bob/notifications", ""},
                        Case{"GET", "/users/bob/unread-count", ""},
                        Case{"POST", "/users/bob/notifications/read", R"({"all":true})"},
                        Case{"DELETE", "/users/bob/notifications/1", ""},
                        Case{"GET", "/users/bob/subscriptions", ""},
                        Case{"PUT", "/users/bob/subscriptions/room:1", ""},
                        Case{"DELETE", "/users/bob/subscriptions/room:1", ""},
                        Case{"GET", "/users/bob/presence", ""},
                        Case{"GET", "/users/alice/presence", ""},
                        Case{"GET", "/topics/room:1/subscribers", ""},
                        Case{"POST", "/admin/users/alice/disconnect", ""},
                        Case{"GET", "/admin/users/alice/sessions", ""},
                        Case{"GET", "/admin/topics", ""},
                        Case{"GET", "/admin/instances", ""}}) {
    CAPTURE(c.method);
    CAPTURE(c.target);
    Reply r = send(a, c.method, c.target, "tok-alice", c.body);
    CHECK(r.status() == 403);
    CHECK(r.code() == "forbidden");
  }
  // Nothing of bob's changed.
  Reply bobs = send(a, "GET", "/users/bob/notifications", "tok-bob");
  REQUIRE(bobs.body["items"].size() == 1);
  CHECK(bobs.body["items"][0]["read"] == false);

  CHECK(send(a, "POST", "/users/alice/notifications/read", "tok-alice", R"({"all":true})")
            .body["updated"] == 1);
  CHECK(send(a, "DELETE", "/users/alice/notifications/1", "tok-alice").status() == 200);
  CHECK(send(a, "GET", "/users/alice/notifications", "tok-alice", "").status() == 200);
  Reply forged = send(a, "GET", "/users/alice/notifications", "tok-forged");
  CHECK(forged.status() == 401);
  CHECK(forged.raw.body.find("signature does not verify") != std::string::npos);
  // A user token in X-Api-Key is not a user token.
  CHECK(send(a, "GET", "/users/alice/notifications", "tok-alice", "", "x-api-key").status() == 401);
}

TEST_CASE("a user follows only the topics the token grants - no topics claim: any") {
  Api a(World::defaults(), secured());
  CHECK(send(a, "PUT", "/users/alice/subscriptions/room:7", "tok-alice").status() == 200);
  Reply refused = send(a, "PUT", "/users/alice/subscriptions/secret", "tok-alice");
  CHECK(refused.status() == 403);
  CHECK(send(a, "GET", "/users/alice/subscriptions", kKey).body["topics"] ==
        json::array({"room:7"}));
  CHECK(send(a, "PUT", "/users/bob/subscriptions/anything", "tok-bob").status() == 200);
  CHECK(send(a, "PUT", "/users/alice/subscriptions/secret", kKey).status() == 200);  // a server may
}

TEST_CASE("health checks stay open - /metrics is open or behind its own key - refusals counted") {
  RestOptions o = secured();
  Api open_metrics(World::defaults(), o);
  CHECK(send(open_metrics, "GET", "/healthz", "").status() == 200);
  CHECK(send(open_metrics, "GET", "/readyz", "").status() == 200);
  CHECK(send(open_metrics, "GET", "/metrics", "").status() == 200);
  send(open_metrics, "POST", "/notify", "", to_user("x").dump());
  send(open_metrics, "GET", "/users/bob/notifications", "tok-alice");
  const std::string text = send(open_metrics, "GET", "/metrics", "").raw.body;
  CHECK(text.find("herald_http_auth_refusals_total{reason=\"unauthorized\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("herald_http_auth_refusals_total{reason=\"forbidden\"} 1\n") !=
        std::string::npos);

  auto metrics_keys = std::make_shared<ApiKeys>();
  metrics_keys->add_entry(kMetricsKey);
  o.auth.metrics_keys = metrics_keys;
  Api closed(World::defaults(), o);
  CHECK(send(closed, "GET", "/metrics", "").status() == 401);
  CHECK(send(closed, "GET", "/metrics", kKey).status() == 401);
  CHECK(send(closed, "GET", "/metrics", kMetricsKey).status() == 200);
  CHECK(send(closed, "GET", "/healthz", "").status() == 200);
}

TEST_CASE("development mode: every route open, as before") {
  Api a;  // RestOptions{}: auth.development
  CHECK(a.post("/notify", to_user("alice")).status() == 202);
  CHECK(a("GET", "/users/alice/unread-count").body["unread"] == 1);
}

TEST_CASE("preferences: a user reads and writes their own, a server key anyone's") {
  Api a(World::defaults(), secured());
  const std::string body = R"({"mutedTypes":["promo"]})";
  CHECK(send(a, "PUT", "/users/alice/preferences", "tok-alice", body).status() == 200);
  CHECK(send(a, "GET", "/users/alice/preferences", "tok-alice").status() == 200);
  CHECK(send(a, "GET", "/users/bob/preferences", "tok-alice").status() == 403);
  CHECK(send(a, "PUT", "/users/bob/preferences", "tok-alice", body).status() == 403);
  CHECK(send(a, "PUT", "/users/bob/preferences", kKey, body).status() == 200);
  CHECK(send(a, "GET", "/users/alice/preferences", kKey).status() == 200);
  CHECK(send(a, "GET", "/users/alice/preferences", "").status() == 401);
  CHECK(send(a, "PUT", "/users/alice/preferences", "", body).status() == 401);
}

TEST_CASE("admin routes need an API key: none 401, a user's token 403 - development mode opens "
          "them like every route") {
  Api a(World::defaults(), secured());
  for (const char* target : {"/admin/topics", "/admin/instances", "/admin/users/bob/sessions"}) {
    CAPTURE(target);
    CHECK(send(a, "GET", target, "").status() == 401);
    CHECK(send(a, "GET", target, "tok-bob").status() == 403);
    CHECK(send(a, "GET", target, kKey).status() == 200);
  }
  CHECK(send(a, "POST", "/admin/users/bob/disconnect", "tok-bob").status() == 403);
  CHECK(send(a, "POST", "/admin/users/bob/disconnect", kKey).status() == 200);

  Api open;
  CHECK(open("GET", "/admin/instances").status() == 200);
  CHECK(open("POST", "/admin/users/bob/disconnect").status() == 200);
}
