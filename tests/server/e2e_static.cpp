// End to end: herald-server serves the demo page and the JS client it embeds
// (examples/server/static_files.hpp) with their types, no-cache, HEAD, and the same
// origin rules as the API; other paths keep their JSON 404.

#include <doctest/doctest.h>

#include "e2e_helpers.hpp"
#include "server_process.hpp"

using namespace herald::server::test;

TEST_CASE("GET / and /herald.js answer the embedded demo page and client with their types") {
  ServerProcess s({});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  struct Expect {
    const char* path;
    const char* type;
    const char* contains;
  };
  for (const Expect& e : {Expect{"/", "text/html; charset=utf-8", "/demo.js"},
                          Expect{"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
                          Expect{"/herald.js", "text/javascript; charset=utf-8", "export function connect"},
                          Expect{"/demo.js", "text/javascript; charset=utf-8", "from \"/herald.js\""},
                          Expect{"/demo.css", "text/css; charset=utf-8", "badge"}}) {
    const std::string path = e.path;
    CAPTURE(path);
    auto r = h.request("GET", e.path);
    CHECK(r.status == 200);
    CHECK(r.headers["content-type"] == e.type);
    CHECK(r.headers["cache-control"] == "no-cache");
    CHECK(r.body.find(e.contains) != std::string::npos);
    auto head = h.request("HEAD", e.path);
    CHECK(head.status == 200);
    CHECK(head.headers["content-type"] == e.type);
    CHECK(head.headers["content-length"] == std::to_string(r.body.size()));
    CHECK(head.body.empty());
  }
  // A page of the server's own origin may use the API; another origin may not.
  CHECK(h.request("GET", "/users/alice/unread-count", "",
                  {{"Origin", "http://127.0.0.1:" + std::to_string(s.port())},
                   {"Host", "127.0.0.1:" + std::to_string(s.port())}})
            .status == 200);
  CHECK(h.request("GET", "/", "", {{"Host", "evil.example"}}).status == 421);
  auto post = h.request("POST", "/herald.js", "{}");
  CHECK(post.status == 405);
  CHECK(post.headers["allow"] == "GET, HEAD");
  auto missing = h.request("GET", "/nope.js");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body)["error"]["code"] == "not_found");
  CHECK(s.stop() == 0);
}
