// The admin routes (examples/server/admin_api.cpp, docs/admin.md) on one engine with the
// in-memory backends: their JSON answers and their validation. Who may call them:
// test_rest_auth.cpp; across instances: e2e_admin.cpp.

#include "rest_fixture.hpp"

using namespace herald;
using namespace herald::server;
using namespace herald::server::test;

TEST_CASE(
    "POST /admin/users/{id}/disconnect closes the user's sessions with 4010 and the "
    "reason") {
  Api a;
  auto ann = a.w.connect("ann");
  auto ann_again = a.w.connect("ann");
  auto bob = a.w.connect("bob");
  Reply r = a("POST", "/admin/users/ann/disconnect", R"({"reason":"account locked"})");
  CHECK(r.status() == 200);
  CHECK(r.body == json::parse(R"({"user":"ann","sessions":2,"local":2,"remote":0})"));
  for (auto* c : {&ann, &ann_again}) {
    CHECK((*c)->close_code() == CloseCode::disconnected);
    CHECK((*c)->close_reason() == "account locked");
  }
  CHECK_FALSE(bob->closed());

  // An empty body: the default reason.
  auto again = a.w.connect("ann");
  CHECK(a("POST", "/admin/users/ann/disconnect").body["sessions"] == 1);
  CHECK(again->close_reason() == "disconnected by an administrator");
  // Other members are ignored, as everywhere in the REST API.
  auto third = a.w.connect("ann");
  CHECK(a("POST", "/admin/users/ann/disconnect", R"({"force":true})").status() == 200);
  CHECK(third->close_reason() == "disconnected by an administrator");
}

TEST_CASE("POST /admin/users/{id}/disconnect refuses bad bodies with 400 and closes nothing") {
  Api a;
  auto ann = a.w.connect("ann");
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : {Case{"[]", "body"}, Case{"{", "body"}, Case{R"({"reason":1})", "reason"},
                        Case{R"({"reason":"a\nb"})", "reason"}}) {
    CAPTURE(c.body);
    Reply r = a("POST", "/admin/users/ann/disconnect", c.body);
    CHECK(r.status() == 400);
    CHECK(r.field() == c.field);
  }
  CHECK(a("POST", "/admin/users/ann/disconnect", json{{"reason", std::string(124, 'r')}}.dump())
            .status() == 400);
  CHECK(a("POST", "/admin/users/a%20b/disconnect").field() == "userId");
  CHECK_FALSE(ann->closed());
}

TEST_CASE("GET /admin/users/{id}/sessions lists the user's sessions") {
  Api a;
  auto ann = a.w.connect("ann");
  Reply r = a("GET", "/admin/users/ann/sessions");
  REQUIRE(r.status() == 200);
  CHECK(r.body["online"] == true);
  REQUIRE(r.body["sessions"].size() == 1);
  CHECK(r.body["sessions"][0]["instance"] == "i0");
  CHECK(a("GET", "/admin/users/nobody/sessions").body["sessions"].empty());
}

TEST_CASE("GET /admin/topics pages the topics with their subscriber counts") {
  Api a;
  for (const char* path : {"/users/u1/subscriptions/news", "/users/u2/subscriptions/news",
                           "/users/u1/subscriptions/cats", "/users/u3/subscriptions/dogs"})
    REQUIRE(a("PUT", path).status() == 200);
  Reply first = a("GET", "/admin/topics?limit=2");
  CHECK(first.body == json::parse(R"({"topics":[{"topic":"cats","subscribers":1},
      {"topic":"dogs","subscribers":1}],"next":"dogs"})"));
  Reply last = a("GET", "/admin/topics?limit=2&after=dogs");
  CHECK(last.body == json::parse(R"({"topics":[{"topic":"news","subscribers":2}],"next":null})"));
  CHECK(a("GET", "/admin/topics").body["topics"].size() == 3);  // default limit 100
  for (const char* bad : {"limit=0", "limit=501", "limit=x", "after=a%20b"}) {
    CAPTURE(bad);
    CHECK(a("GET", std::string("/admin/topics?") + bad).status() == 400);
  }
}

TEST_CASE("GET /admin/instances lists the instances with the load of their last heartbeat") {
  Api a;
  auto ann = a.w.connect("ann");
  herald::test::frames(*ann);                                  // the welcome is read
  a.w.executor->advance(a.engine.options().registry_ttl / 3);  // the next heartbeat
  Reply r = a("GET", "/admin/instances");
  REQUIRE(r.status() == 200);
  CHECK(r.body["self"] == "i0");
  REQUIRE(r.body["instances"].size() == 1);
  const json& i0 = r.body["instances"][0];
  CHECK(i0["instance"] == "i0");
  CHECK(i0["load"]["sessions"] == 1);
  CHECK(i0["load"]["connections"] == 1);
  CHECK(i0["load"]["queuedBytes"] == 0);
  CHECK(i0["load"]["reportedAt"].get<std::int64_t>() >=
        i0["load"]["startedAt"].get<std::int64_t>());
}
