// REST contracts a client or a browser relies on: JSON content type on every POST (CSRF),
// the Host check (DNS rebinding), HEAD and OPTIONS, items without a sender, far expiries.

#include "rest_fixture.hpp"

using namespace herald;
using namespace herald::server;
using namespace herald::server::test;

namespace {

json to_alice(std::string type) {
  return {{"to", {{"users", {"alice"}}}}, {"type", std::move(type)}};
}

HttpRequest with_header(HttpRequest r, const std::string& name, const std::string& value) {
  r.headers[name] = value;
  return r;
}

}  // namespace

TEST_CASE("a POST without Content-Type: application/json is 415 and stores nothing") {
  Api a;
  const std::string body = to_alice("t").dump();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", "application/jsonx", ""}) {
    CAPTURE(type);
    HttpRequest r = make_request("POST", "/notify", body);
    if (*type)
      r.headers["content-type"] = type;
    else
      r.headers.erase("content-type");
    Reply reply = call(a.w, a.api, r);
    CHECK(reply.status() == 415);
    CHECK(reply.code() == "unsupported_media_type");
    CHECK(reply.field() == "Content-Type");
  }
  // An empty-bodied POST (mark all read) is refused too: a cross-site fetch can send one.
  HttpRequest mark = make_request("POST", "/users/alice/notifications/read");
  mark.headers.erase("content-type");
  CHECK(call(a.w, a.api, mark).status() == 415);
  CHECK(a("GET", "/users/alice/notifications").body["items"].empty());

  for (const char* ok : {"application/json", "Application/JSON; charset=utf-8", " application/json "}) {
    CAPTURE(ok);
    Reply reply = call(a.w, a.api, with_header(make_request("POST", "/notify", body),
                                               "content-type", ok));
    CHECK(reply.status() == 202);
  }
  CHECK(a("GET", "/users/alice/unread-count").body["unread"] == 3);
}

TEST_CASE("with the host check on, only IP literals, localhost and allowed hosts are answered") {
  RestOptions rest;
  rest.check_host = true;
  rest.allowed_hosts = {"Notify.Example.com"};
  Api a(World::defaults(), rest);
  auto get = [&](const std::string& host) {
    return call(a.w, a.api, with_header(make_request("GET", "/healthz"), "host", host));
  };
  for (const char* ok : {"127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "localhost:8080",
                         "LOCALHOST", "10.1.2.3:80", "notify.example.com", "notify.example.COM:443"}) {
    CAPTURE(ok);
    CHECK(get(ok).status() == 200);
  }
  for (const char* bad : {"evil.example:8080", "attacker.test", "localhost.evil.example"}) {
    CAPTURE(bad);
    Reply r = get(bad);
    CHECK(r.status() == 421);
    CHECK(r.code() == "misdirected_request");
  }
  Reply publish = call(a.w, a.api, with_header(make_request("POST", "/notify", to_alice("t").dump()),
                                               "host", "rebound.example:8080"));
  CHECK(publish.status() == 421);
  CHECK(a("GET", "/users/alice/unread-count").body["unread"] == 0);

  Api open;  // check_host off (a public bind without --allowed-hosts): any Host
  CHECK(call(open.w, open.api, with_header(make_request("GET", "/healthz"), "host", "x.test"))
            .status() == 200);
}

TEST_CASE("HEAD answers like GET, OPTIONS answers Allow, both per route") {
  Api a;
  a.post("/notify", to_alice("t"));
  Reply head = a("HEAD", "/users/alice/unread-count");
  CHECK(head.status() == 200);
  CHECK(head.body["unread"] == 1);  // the transport drops the body of a HEAD answer
  CHECK(a("HEAD", "/notify").status() == 405);

  Reply options = a("OPTIONS", "/users/alice/notifications");
  CHECK(options.status() == 204);
  CHECK(options.raw.body.empty());
  CHECK(options.header("Allow") == "GET, HEAD, OPTIONS");
  CHECK(a("OPTIONS", "/notify").header("Allow") == "POST, OPTIONS");
  CHECK(a("OPTIONS", "/users/alice/subscriptions/t").header("Allow") == "PUT, DELETE, OPTIONS");
  CHECK(a("OPTIONS", "/nowhere").status() == 404);
}

TEST_CASE("REST items omit sender when there is none, as WebSocket frames do") {
  Api a;
  a.post("/notify", to_alice("anonymous"));
  json with = to_alice("signed");
  with["sender"] = "bob";
  a.post("/notify", with);
  json items = a("GET", "/users/alice/notifications").body["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["sender"] == "bob");
  CHECK_FALSE(items[1].contains("sender"));
}

TEST_CASE("an expiresAt past the clock's range is stored as far in the future, not wrapped") {
  Api a;
  json far = to_alice("t");
  far["expiresAt"] = "9999-12-31T23:59:59Z";
  CHECK(a.post("/notify", far).status() == 202);
  json huge = to_alice("t");
  huge["expiresAt"] = 10'000'000'000'000;  // 2286 in Unix ms
  CHECK(a.post("/notify", huge).status() == 202);
  json items = a("GET", "/users/alice/notifications").body["items"];
  REQUIRE(items.size() == 2);
  for (const json& item : items) CHECK(item["expiresAt"] == kMaxUnixMs);
  json feb30 = to_alice("t");
  feb30["expiresAt"] = "2099-02-30T00:00:00Z";
  Reply bad = a.post("/notify", feb30);
  CHECK(bad.status() == 400);
  CHECK(bad.field() == "expiresAt");
}

TEST_CASE("CORS: an allowed origin gets its headers and preflight, another one 403") {
  RestOptions rest;
  rest.cors_origins = {"https://app.example"};
  Api a(World::defaults(), rest);
  auto from = [&](const std::string& method, const std::string& origin, std::string body = {}) {
    HttpRequest r = make_request(method, "/notify", std::move(body));
    r.headers["origin"] = origin;
    r.headers["host"] = "api.example";
    if (method == "OPTIONS") {
      r.headers["access-control-request-method"] = "POST";
      r.headers["access-control-request-headers"] = "authorization, content-type";
    }
    return call(a.w, a.api, r);
  };
  Reply preflight = from("OPTIONS", "https://app.example");
  CHECK(preflight.status() == 204);
  CHECK(preflight.header("Access-Control-Allow-Origin") == "https://app.example");
  CHECK(preflight.header("Access-Control-Allow-Methods") == "POST, OPTIONS");
  CHECK(preflight.header("Access-Control-Allow-Headers").find("Authorization") != std::string::npos);
  CHECK(preflight.header("Access-Control-Allow-Credentials").empty());
  Reply posted = from("POST", "https://app.example", to_alice("t").dump());
  CHECK(posted.status() == 202);
  CHECK(posted.header("Access-Control-Allow-Origin") == "https://app.example");
  CHECK(posted.header("Vary") == "Origin");

  Reply refused_preflight = from("OPTIONS", "https://evil.example");
  CHECK(refused_preflight.status() == 403);
  CHECK(refused_preflight.field() == "Origin");
  CHECK(refused_preflight.header("Access-Control-Allow-Origin").empty());
  CHECK(from("POST", "https://evil.example", to_alice("t").dump()).status() == 403);
  CHECK(a("GET", "/users/alice/unread-count").body["unread"] == 1);

  // The server's own pages (Origin = http(s):// + Host) need no listing.
  HttpRequest own = make_request("GET", "/healthz");
  own.headers["origin"] = "http://api.example";
  own.headers["host"] = "api.example";
  CHECK(call(a.w, a.api, own).status() == 200);
}
