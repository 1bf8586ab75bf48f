// Hostile clients: request deadlines (slowloris), header count.

#include <memory>
#include <string>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

namespace {

HttpHandler ok_handler() {
  return [](HttpRequest, std::function<void(HttpResponse)> respond) {
    HttpResponse r;
    r.body = R"({"ok":true})";
    respond(std::move(r));
  };
}

}  // namespace

TEST_CASE("slowloris: 2000 connections dripping their headers get 408 and are closed at "
          "header_timeout - a normal client is served meanwhile") {
  ServerOptions o = test_server_options();
  o.header_timeout = 1000ms;
  WsWorld w(o, test_engine_options(), ok_handler());
  constexpr int kSlow = 2000;
  std::vector<std::unique_ptr<TestSocket>> slow;
  for (int i = 0; i < kSlow; ++i) {
    auto s = std::make_unique<TestSocket>();
    REQUIRE(s->connect(w.port()));
    REQUIRE(s->write("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    slow.push_back(std::move(s));
  }
  // Each sends one more header line: not idle, never complete.
  for (auto& s : slow) s->write("X-Drip: 1\r\n");
  HttpClient normal(w.port());
  auto reply = normal.request("GET", "/healthz");
  CHECK(reply.status == 200);
  // Every slow one reads a 408 and the end of the connection.
  int closed = 0;
  int timed_out = 0;
  for (auto& s : slow) {
    std::string in;
    const auto until = std::chrono::steady_clock::now() + 5000ms;
    while (!s->eof() && std::chrono::steady_clock::now() < until)
      s->read_some(in, std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now()));
    closed += s->eof() ? 1 : 0;
    timed_out += in.rfind("HTTP/1.1 408", 0) == 0 ? 1 : 0;
  }
  CHECK(closed == kSlow);
  // Cut by header_timeout (a 408 naming it), not by the idle timeout (30 s, no answer): each
  // sent a byte within the last second, so only the request deadline can have closed it.
  CHECK(timed_out == kSlow);
  CHECK(w.server->stats().request_timeouts == static_cast<std::uint64_t>(kSlow));
  // Still serving.
  CHECK(normal.request("GET", "/healthz").status == 200);
}

TEST_CASE("a body that does not arrive within body_timeout gets 408 - more than "
          "max_header_count headers get 431") {
  ServerOptions o = test_server_options();
  o.body_timeout = 300ms;
  o.max_header_count = 8;
  WsWorld w(o, test_engine_options(), ok_handler());
  TestSocket s;
  REQUIRE(s.connect(w.port()));
  REQUIRE(s.write("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n12345"));
  std::string in;
  while (!s.eof() && s.read_some(in, 3000ms)) {
  }
  CHECK(in.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(s.eof());

  HttpClient h(w.port());
  HttpClient::Headers many;
  for (int i = 0; i < 9; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  CHECK(h.request("GET", "/x", "", many).status == 431);
  HttpClient fine(w.port());
  many.pop_back();
  many.pop_back();  // 7 + Host = 8
  CHECK(fine.request("GET", "/x", "", many).status == 200);
}
