// HTTP/1.1 on the same port: keep-alive, pipelining, limits, Connection handling, 503.

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

namespace {

/// Echoes the request: {"method":…,"path":…,"target":…,"host":…,"body":…,"q":{…}}.
HttpHandler echo_handler() {
  return [](HttpRequest r, std::function<void(HttpResponse)> respond) {
    json echo;
    echo["method"] = r.method;
    echo["path"] = r.path;
    echo["target"] = r.target;
    echo["host"] = r.headers.count("host") ? r.headers.at("host") : "";
    echo["body"] = r.body;
    echo["q"] = r.query;
    echo["remote"] = r.remote;
    HttpResponse out;
    out.body = echo.dump();
    respond(std::move(out));
  };
}

/// Answers every request with 4 KiB, like herald-server's /metrics.
constexpr std::size_t kAnswerBytes = 4096;
HttpHandler metrics_like_handler() {
  return [](HttpRequest, std::function<void(HttpResponse)> respond) {
    HttpResponse out;
    out.content_type = "text/plain";
    out.body.assign(kAnswerBytes, 'm');
    respond(std::move(out));
  };
}

std::string error_code(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "<no error body>";
  return j["error"].value("code", "<no code>");
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
  CHECK(error_code(r.body) == "payload_too_large");
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
  CHECK(error_code(r.body) == "invalid_argument");
  CHECK(h.wait_eof());
}

TEST_CASE("a malformed request gets 400 and the connection closes") {
  WsWorld w(small_limits(), test_engine_options(), echo_handler());
  HttpClient h(w.port());
  REQUIRE(h.send_raw("THIS IS NOT HTTP\r\n\r\n"));
  auto r = h.read_reply();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(error_code(r->body) == "invalid_argument");
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
  auto r = b.request("GET", "/anything");
  CHECK(r.status == 404);
  CHECK(error_code(r.body) == "not_found");
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
  CHECK(error_code(r.body) == "unavailable");
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
  CHECK(error_code(c.response_body()) == "not_found");
  HttpClient h(w.port());
  CHECK(h.request("GET", "/ok").status == 200);
}

TEST_CASE("a request line without a version gets 400 and another HTTP version 505") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  HttpClient v09(w.port());
  REQUIRE(v09.send_raw("GET /healthz\r\n"));  // HTTP/0.9: answered at the end of the line
  auto r = v09.read_reply();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(error_code(r->body) == "invalid_argument");
  CHECK(v09.wait_eof());

  for (const char* version : {"HTTP/2.0", "HTTP/3.1", "HTTP/0.9"}) {
    CAPTURE(version);
    HttpClient h(w.port());
    REQUIRE(h.send_raw(std::string("GET /healthz ") + version + "\r\nHost: x\r\n\r\n"));
    auto answer = h.read_reply();
    REQUIRE(answer);
    if (std::string(version) == "HTTP/0.9") {  // not a version HTTP/1 syntax allows
      CHECK(answer->status == 400);
    } else {
      CHECK(answer->status == 505);
      CHECK(error_code(answer->body) == "http_version_not_supported");
    }
    CHECK(answer->headers["connection"] == "close");
    CHECK(h.wait_eof());
  }
  CHECK(w.server->stats().http_requests == 0);
  CHECK(w.server->stats().http_errors == 4);
  HttpClient ok(w.port());
  CHECK(ok.request("GET", "/healthz").status == 200);
}

TEST_CASE("an absolute-form target is routed by its path and its authority is the Host") {
  WsWorld w(test_server_options(), test_engine_options(), echo_handler());
  const std::string origin = "http://127.0.0.1:" + std::to_string(w.port());
  HttpClient h(w.port());
  auto r = h.request("GET", origin + "/items/a%20b?x=1&y=z", "", {{"Host", "other.example"}});
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["path"] == "/items/a b");
  CHECK(j["target"] == "/items/a%20b?x=1&y=z");
  CHECK(j["q"]["x"] == "1");
  CHECK(j["host"] == "127.0.0.1:" + std::to_string(w.port()));

  auto root = h.request("POST", "HTTP://localhost?k=v", "{}");  // no path: "/"
  REQUIRE(root.status == 200);
  json k = json::parse(root.body);
  CHECK(k["path"] == "/");
  CHECK(k["target"] == "/?k=v");
  CHECK(k["host"] == "localhost");
  CHECK(h.connects() == 1);

  // userinfo in a request's authority only serves to deceive (RFC 9110 §4.2.4)
  auto deceit = h.request("GET", "http://admin@127.0.0.1/items");
  CHECK(deceit.status == 400);
  CHECK(error_code(deceit.body) == "invalid_argument");

  // The WebSocket endpoint is reached in absolute form too.
  WsClient ws(w.port(), origin + "/ws?userId=abs");
  REQUIRE(ws.ok());
  json welcome = ws.next_op("welcome");
  REQUIRE(!welcome.is_null());
  CHECK(welcome["user"] == "abs");
}

TEST_CASE("a client that pipelines requests and never reads the answers cannot grow the server") {
  ServerOptions o = test_server_options();
  o.send_timeout = 1000ms;
  WsWorld w(o, test_engine_options(), metrics_like_handler());
  HttpClient other(w.port());
  REQUIRE(other.request("GET", "/metrics").status == 200);  // warm-up

  constexpr int kRequests = 100'000;
  std::string burst;
  for (int i = 0; i < kRequests; ++i) burst += "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::size_t rss_before = rss_bytes();
  TestSocket attacker;
  REQUIRE(attacker.connect(w.port(), 4096));  // a tiny receive window, and it never reads
  std::thread writer([&] { attacker.write(burst, 30s); });  // ends when the server cuts it

  // Past max_buffered_bytes the server reads no more of it; others are served meanwhile.
  std::size_t peak_buffered = 0, peak_rss = 0;
  auto sample = [&] {
    peak_buffered = std::max<std::size_t>(peak_buffered, w.server->stats().buffered_bytes);
    peak_rss = std::max(peak_rss, rss_bytes());
  };
  auto at_bound = [&] {
    sample();
    return w.server->stats().buffered_bytes >= o.max_buffered_bytes;
  };
  CHECK(eventually(at_bound, 10s));
  CHECK(other.request("GET", "/during").status == 200);
  // It read nothing for send_timeout: cut.
  auto cut = [&] {
    sample();
    return w.server->stats().stalled_closes == 1;
  };
  CHECK(eventually(cut, 10s));
  writer.join();
  sample();

  const std::size_t served = w.server->stats().http_requests;
  const double growth_mb = (double(peak_rss) - double(rss_before)) / (1 << 20);
  MESSAGE("pipelined: " << served << " of " << kRequests << " requests read; peak buffered "
                        << peak_buffered << " B; RSS growth " << growth_mb << " MiB");
  CHECK(served < kRequests / 10);
  // The bound, plus the answers to the requests read ahead when reading stopped.
  CHECK(peak_buffered <= o.max_buffered_bytes + 17 * (kAnswerBytes + 128));
  if (!kSanitized) CHECK(growth_mb < 8.0);
  CHECK(eventually([&] { return w.server->stats().buffered_bytes == 0; }));
  CHECK(other.request("GET", "/after").status == 200);
  CHECK(eventually([&] { return w.server->connections() == 1; }));
}

TEST_CASE("pipelined answers over the bound pause reading until the client read them") {
  ServerOptions o = test_server_options();
  o.max_buffered_bytes = 64 * 1024;  // reached and left again many times below
  HttpHandler padded = [](HttpRequest r, std::function<void(HttpResponse)> respond) {
    HttpResponse out;
    out.body = json{{"path", r.path}, {"pad", std::string(kAnswerBytes, 'p')}}.dump();
    respond(std::move(out));
  };
  WsWorld w(o, test_engine_options(), padded);
  HttpClient h(w.port());
  constexpr int kRequests = 500;  // 20 KB of requests, 2 MB of answers
  std::string burst;
  for (int i = 0; i < kRequests; ++i)
    burst += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(h.send_raw(burst));
  for (int i = 0; i < kRequests; ++i) {
    auto r = h.read_reply();
    REQUIRE_MESSAGE(r, "no answer " << i);
    REQUIRE(json::parse(r->body)["path"] == "/p" + std::to_string(i));
  }
  CHECK(h.connects() == 1);
  CHECK(w.server->stats().http_requests == kRequests);
  CHECK(w.server->stats().stalled_closes == 0);
  CHECK(eventually([&] { return w.server->stats().buffered_bytes == 0; }));
}
