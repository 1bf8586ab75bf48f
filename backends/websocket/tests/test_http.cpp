// HTTP/1.1 on the same port: keep-alive, pipelining, limits, Connection handling, 503.

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

namespace {

/// Echoes the method, path and body: {"method":…,"path":…,"body":…,"q":{…}}.
HttpHandler echo_handler() {
  return [](HttpRequest r, std::function<void(HttpResponse)> respond) {
    HttpResponse out;
    out.body = json{
        {"method", r.method},
        {"path", r.path},
        {"body", r.body},
        {"q", r.query},
        {"remote",
         r.remote}}.dump();
    respond(std::move(out));
  };
}

/// Holds every `respond` until the test answers them itself (from its own thread).
struct Deferred {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::function<void(HttpResponse)>>> pending;

  HttpHandler handler() {
    return [this](HttpRequest r, std::function<void(HttpResponse)> respond) {
      std::lock_guard<std::mutex> lock(mutex);
      pending.emplace_back(r.path, std::move(respond));
    };
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex);
    return pending.size();
  }
  void answer(std::size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = pending.at(i).first;
    pending.at(i).second(std::move(r));
  }
};

ServerOptions small_limits() {
  ServerOptions o = test_server_options();
  o.max_body_bytes = 1024;
  o.max_header_bytes = 2048;
  return o;
}

}  // namespace

TEST_CASE("200 requests over one keep-alive connection") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  for (int i = 0; i < 200; ++i) {
    auto r = h.request(i % 2 ? "POST" : "GET", "/items/" + std::to_string(i) + "?a=1&b=x+y",
                       i % 2 ? "body" + std::to_string(i) : "");
    REQUIRE(r.status == 200);
    json j = json::parse(r.body);
    CHECK(j["path"] == "/items/" + std::to_string(i));
    CHECK(j["q"]["b"] == "x y");
    if (i % 2) CHECK(j["body"] == "body" + std::to_string(i));
    CHECK(r.headers["content-type"] == "application/json");
    CHECK(r.headers.count("connection") == 0);
  }
  CHECK(h.connects() == 1);
  CHECK(w.server->connections() == 1);
  CHECK(w.server->stats().accepted == 1);
  CHECK(w.server->stats().http_requests == 200);
}

TEST_CASE("pipelined requests are answered in request order whatever order the host answers in") {
  Deferred deferred;
  WsWorld w(test_server_options(), test_engine_options(), deferred.handler());
  HttpClient h(w.port());
  REQUIRE(
      h.send_raw("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                 "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  REQUIRE(eventually([&] { return deferred.size() == 3; }));
  deferred.answer(2);
  deferred.answer(1);
  CHECK_FALSE(h.read_reply(100ms));  // /a is not answered yet: nothing may go out
  deferred.answer(0);
  for (const char* path : {"/a", "/b", "/c"}) {
    auto r = h.read_reply();
    REQUIRE(r);
    CHECK(r->body == path);
  }
  CHECK(h.connects() == 1);

  // More than the read-ahead limit (16) in one write: parsing pauses and resumes.
  WsWorld e(test_server_options(), test_engine_options(), echo_handler());
  HttpClient many(e.port());
  std::string burst;
  for (int i = 0; i < 50; ++i)
    burst += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(many.send_raw(burst));
  for (int i = 0; i < 50; ++i) {
    auto r = many.read_reply();
    REQUIRE(r);
    CHECK(json::parse(r->body)["path"] == "/p" + std::to_string(i));
  }
  CHECK(many.connects() == 1);
}

TEST_CASE("an answer for a connection that is gone is dropped") {
  Deferred deferred;
  WsWorld w(test_server_options(), test_engine_options(), deferred.handler());
  {
    HttpClient h(w.port());
    REQUIRE(h.send_raw("GET /late HTTP/1.1\r\nHost: x\r\n\r\n"));
    REQUIRE(eventually([&] { return deferred.size() == 1; }));
  }                    // the client closes
  deferred.answer(0);  // must not crash; the connection then goes away
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE("a body over max_body_bytes gets 413 and the connection closes") {
  WsWorld w(small_limits(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  auto r = h.request("POST", "/upload", std::string(4096, 'b'));
  CHECK(r.status == 413);
  CHECK(json::parse(r.body)["code"] == "payload_too_large");
  CHECK(r.headers["connection"] == "close");
  CHECK(h.wait_eof());

  // Chunked: the size is only known while reading.
  HttpClient c(w.port());
  REQUIRE(
      c.send_raw("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "800\r\n" +
                 std::string(0x800, 'c') + "\r\n0\r\n\r\n"));
  auto rc = c.read_reply();
  REQUIRE(rc);
  CHECK(rc->status == 413);
  CHECK(c.wait_eof());
}

TEST_CASE("headers over max_header_bytes get 431 and the connection closes") {
  WsWorld w(small_limits(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  auto r = h.request("GET", "/", "", {{"X-Big", std::string(4096, 'h')}});
  CHECK(r.status == 431);
  CHECK(h.wait_eof());
}

TEST_CASE("a malformed request gets 400 and the connection closes") {
  WsWorld w(small_limits(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  REQUIRE(h.send_raw("THIS IS NOT HTTP\r\n\r\n"));
  auto r = h.read_reply();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(h.wait_eof());
  CHECK(w.server->stats().http_errors == 1);
}

TEST_CASE("Connection close and HTTP/1.0 close after the answer while 1.0 keep-alive stays") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  auto r = h.request("GET", "/one", "", {{"Connection", "close"}});
  CHECK(r.status == 200);
  CHECK(r.headers["connection"] == "close");
  CHECK(h.wait_eof());

  HttpClient old(w.port());
  REQUIRE(old.send_raw("GET /old HTTP/1.0\r\n\r\n"));
  auto r10 = old.read_reply();
  REQUIRE(r10);
  CHECK(r10->status == 200);
  CHECK(old.wait_eof());

  HttpClient kept(w.port());
  REQUIRE(kept.send_raw("GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto k1 = kept.read_reply();
  REQUIRE(k1);
  CHECK(k1->headers["connection"] == "keep-alive");
  REQUIRE(kept.send_raw("GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto k2 = kept.read_reply();
  REQUIRE(k2);
  CHECK(json::parse(k2->body)["path"] == "/k2");
  CHECK(kept.connects() == 1);
}

TEST_CASE("HEAD gets the headers without the body") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  auto head = h.request("HEAD", "/h");
  CHECK(head.status == 200);
  CHECK(std::stoul(head.headers["content-length"]) > 0);
  CHECK(head.body.empty());
  auto after = h.request("GET", "/after");  // nothing of a body was left in between
  CHECK(after.status == 200);
  CHECK(json::parse(after.body)["path"] == "/after");
  CHECK(h.connects() == 1);
}

TEST_CASE("a server without an HttpHandler answers 404") {
  WsWorld bare;
  HttpClient b(bare.port());
  CHECK(b.request("GET", "/anything").status == 404);
}

TEST_CASE("idle keep-alive connections are closed after http_idle_timeout") {
  ServerOptions o = test_server_options();
  o.http_idle_timeout = 300ms;
  WsWorld w(o, test_engine_options(), echo_handler());
  HttpClient h(w.port());
  CHECK(h.request("GET", "/").status == 200);
  CHECK(h.wait_eof(3s));
  CHECK(eventually([&] { return w.server->connections() == 0; }));
  CHECK(h.request("GET", "/").status == 200);  // the client reconnects
  CHECK(h.reconnects() == 1);
}

TEST_CASE("beyond max_connections new sockets get 503 and are closed (upgrades too)") {
  ServerOptions o = test_server_options();
  o.max_connections = 2;
  WsWorld w(o, test_engine_options(), echo_handler());
  auto a = connect_user(w, "a");
  HttpClient kept(w.port());
  CHECK(kept.request("GET", "/").status == 200);
  REQUIRE(w.server->connections() == 2);

  HttpClient h(w.port());
  auto r = h.request("GET", "/");
  CHECK(r.status == 503);
  CHECK(json::parse(r.body)["code"] == "unavailable");
  CHECK(h.wait_eof());

  WsClient refused(w.port(), "/ws?userId=b");
  CHECK(refused.status() == 503);
  CHECK(w.server->stats().rejected == 2);
  CHECK(w.server->connections() == 2);

  a->close();
  REQUIRE(eventually([&] { return w.server->connections() == 1; }));
  auto b = connect_user(w, "b");  // room again
  CHECK(b->ok());
}

TEST_CASE("Expect 100-continue gets an interim answer before the body is sent") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  REQUIRE(
      h.send_raw("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "Expect: 100-continue\r\n\r\n"));
  auto interim = h.read_reply();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(h.send_raw("hello"));
  auto r = h.read_reply();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["body"] == "hello");
}

TEST_CASE("client input that is not UTF-8 does not break the server's own answers") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  WsClient c(w.port(), "/%FF%FE");
  CHECK(c.status() == 404);
  CHECK(json::parse(c.response_body())["code"] == "not_found");
  HttpClient h(w.port());
  CHECK(h.request("GET", "/ok").status == 200);
}
