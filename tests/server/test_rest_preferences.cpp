// GET/PUT /users/{id}/preferences through RestApi and the publish answer's `muted` count
// (their authorization: test_rest_auth.cpp).

#include "rest_fixture.hpp"

using namespace herald;
using namespace herald::server;
using namespace herald::server::test;

TEST_CASE("preferences: PUT answers the stored form, a publish answer counts the muted") {
  Api a;
  Reply put = a("PUT", "/users/amy/preferences",
                R"({"mutedTypes":["b","a","a"],"mutedTopics":["news"],"criticalOnly":false})");
  REQUIRE(put.status() == 200);
  CHECK(put.body["mutedTypes"] == json{"a", "b"});
  CHECK(a("GET", "/users/amy/preferences").body == put.body);
  Reply r = a.post("/notify", {{"to", {{"users", {"amy", "bob"}}}}, {"type", "a"}});
  CHECK(r.status() == 202);
  CHECK(r.body["recipients"] == 1);
  CHECK(r.body["muted"] == 1);
  Reply critical =
      a.post("/notify", {{"to", {{"users", {"amy"}}}}, {"type", "a"}, {"critical", true}});
  CHECK(critical.body["recipients"] == 1);
  CHECK(critical.body["muted"] == 0);
  Reply bad = a.post("/notify", {{"to", {{"users", {"amy"}}}}, {"type", "a"}, {"critical", 1}});
  CHECK(bad.status() == 400);
  CHECK(bad.field() == "critical");
}
