// End to end: preferences (GET/PUT /users/{id}/preferences, `critical` on publish) and inbox
// retention (--inbox-max-entries, the sweep, its metric) on the real herald-server binary.

#include <doctest/doctest.h>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "support/temp_dir.hpp"

using namespace herald::server::test;
using herald::test::TempDir;

namespace {

json notify(HttpClient& h, const std::string& user, const std::string& type, bool critical) {
  json body = {{"to", {{"users", {user}}}}, {"type", type}, {"data", {{"type", type}}}};
  if (critical) body["critical"] = true;
  return post(h, "/notify", body);
}

}  // namespace

TEST_CASE("a muted type is not delivered live nor stored - a critical one is - GET shows the PUT") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  auto put = h.request("PUT", "/users/amy/preferences", R"({"mutedTypes":["promo"]})");
  REQUIRE_MESSAGE(put.status == 200, put.body);
  CHECK(json::parse(put.body)["mutedTypes"] == json{"promo"});
  json got = get(h, "/users/amy/preferences");
  CHECK(got == json{{"user", "amy"},
                    {"mutedTypes", {"promo"}},
                    {"mutedTopics", json::array()},
                    {"criticalOnly", false}});

  auto amy = session(s.port(), "userId=amy", nullptr);
  json muted = notify(h, "amy", "promo", false);
  CHECK(muted["recipients"] == 0);
  CHECK(muted["muted"] == 1);
  CHECK(notify(h, "amy", "promo", true)["recipients"] == 1);
  CHECK(notify(h, "amy", "other", false)["recipients"] == 1);

  // In order on the session: had the muted promo been pushed, it would come first.
  std::vector<json> live = notes(*amy, "inbox:amy", 2);
  REQUIRE(live.size() == 2);
  CHECK(live[0]["type"] == "promo");
  CHECK(live[0]["seq"] == 1);  // the muted one took no seq: it was not stored
  CHECK(live[1]["type"] == "other");
  CHECK(live[1]["seq"] == 2);
  json inbox = get(h, "/users/amy/notifications");
  CHECK(inbox.dump().find("\"seq\":3") == std::string::npos);
  CHECK(metric(h, "herald_muted_total") == 1);
  CHECK(s.stop() == 0);
}

TEST_CASE("bad preference bodies get 400 and change nothing") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  const std::string good = R"({"mutedTypes":["promo"],"mutedTopics":["news"],"criticalOnly":true})";
  REQUIRE(h.request("PUT", "/users/amy/preferences", good).status == 200);
  const json before = get(h, "/users/amy/preferences");

  std::string many = R"({"mutedTypes":[)";
  for (int i = 0; i <= 100; ++i) many += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  many += "]}";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "body"},
      {"[]", "body"},
      {R"({"mutedTypes":"promo"})", "mutedTypes"},
      {R"({"mutedTypes":[1]})", "mutedTypes"},
      {R"({"mutedTypes":[""]})", "mutedTypes"},
      {many, "mutedTypes"},
      {R"({"mutedTopics":["$broadcast"]})", "mutedTopics"},
      {R"({"mutedTopics":["has space"]})", "mutedTopics"},
      {R"({"criticalOnly":"yes"})", "criticalOnly"},
      {R"({"muted":["promo"]})", "muted"},
  };
  for (const auto& [body, field] : bad) {
    auto r = h.request("PUT", "/users/amy/preferences", body);
    CHECK_MESSAGE(r.status == 400, body << " -> " << r.status << " " << r.body);
    json e = json::parse(r.body, nullptr, false);
    CHECK_MESSAGE(e["error"]["field"] == field, body << " -> " << r.body);
  }
  CHECK(get(h, "/users/amy/preferences") == before);
  CHECK(h.request("PUT", "/users/amy/preferences", "{}").status == 200);  // clears
  CHECK(get(h, "/users/amy/preferences")["criticalOnly"] == false);
  CHECK(s.stop() == 0);
}

TEST_CASE("the sweep keeps the newest --inbox-max-entries of each inbox and counts what it removed") {
  TempDir dir;
  ServerProcess s({"--store", "sqlite:" + dir.path() + "/herald.db", "--inbox-max-entries", "2",
                   "--sweep-interval", "0.2", "--rate-limit", "0"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  for (int i = 0; i < 5; ++i) notify(h, "amy", "n", false);
  notify(h, "bob", "n", false);

  CHECK(eventually_get(h, "/users/amy/notifications", [](int status, const json& page) {
    return status == 200 && page.dump().find("\"seq\":3") == std::string::npos &&
           page.dump().find("\"seq\":4") != std::string::npos;
  }));
  CHECK(get(h, "/users/amy/unread-count")["unread"] == 2);
  CHECK(get(h, "/users/bob/unread-count")["unread"] == 1);
  CHECK(metric_becomes(h, "herald_inbox_retention_removed_total", 3));
  // Seqs go on after the removed ones.
  notify(h, "amy", "n", false);
  json welcome;
  auto amy = session(s.port(), "userId=amy", &welcome);
  CHECK(welcome["head"] == 6);
  CHECK(s.stop() == 0);
}
