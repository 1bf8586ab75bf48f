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
    // From four addresses, within max_connections_per_address (1000) each.
    REQUIRE(s->connect(w.port(), 0, kWait, "127.0.0." + std::to_string(2 + i % 4)));
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

namespace {

/// Reads until the peer closes (or `wait` passes); what arrived.
std::string read_to_end(TestSocket& s, Millis wait = 5000ms) {
  std::string in;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (!s.eof() && std::chrono::steady_clock::now() < until)
    s.read_some(in, std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now()));
  return in;
}

}  // namespace

TEST_CASE("max_connections_per_address: one address past its cap gets 429, another is served, "
          "a closed connection frees its place") {
  ServerOptions o = test_server_options();
  o.max_connections_per_address = 3;
  WsWorld w(o, test_engine_options(), ok_handler());
  std::vector<std::unique_ptr<TestSocket>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<TestSocket>());
    REQUIRE(held.back()->connect(w.port(), 0, kWait, "127.0.0.2"));
  }
  // A WebSocket session from the same address holds a place too: it is refused.
  REQUIRE(eventually([&] { return w.server->connections() == 3; }));
  TestSocket fourth;
  REQUIRE(fourth.connect(w.port(), 0, kWait, "127.0.0.2"));
  const std::string refused = read_to_end(fourth);
  CHECK(refused.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(refused.find("too_many_connections") != std::string::npos);
  CHECK(fourth.eof());
  CHECK(w.server->stats().rejected_address == 1);

  TestSocket other;  // another address is not affected
  REQUIRE(other.connect(w.port(), 0, kWait, "127.0.0.3"));
  REQUIRE(other.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string in;
  CHECK(other.read_some(in, kWait));
  CHECK(in.rfind("HTTP/1.1 200", 0) == 0);

  held.pop_back();  // closed by the client: the server releases its place
  REQUIRE(eventually([&] { return w.server->connections() == 3; }));  // 2 held + other
  TestSocket again;
  REQUIRE(again.connect(w.port(), 0, kWait, "127.0.0.2"));
  REQUIRE(again.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  in.clear();
  CHECK(again.read_some(in, kWait));
  CHECK(in.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("max_http_connections: connections still in HTTP are capped - a WebSocket session "
          "leaves the HTTP phase and frees its place") {
  ServerOptions o = test_server_options();
  o.max_http_connections = 2;
  WsWorld w(o, test_engine_options(), ok_handler());
  auto session = std::make_unique<WsClient>(w.port(), "/ws?userId=u1");
  REQUIRE(session->ok());
  TestSocket idle1, idle2;
  REQUIRE(idle1.connect(w.port()));
  REQUIRE(idle2.connect(w.port()));
  REQUIRE(eventually([&] { return w.server->connections() == 3; }));
  TestSocket third;  // two idle HTTP connections hold both places; the session holds none
  REQUIRE(third.connect(w.port()));
  const std::string refused = read_to_end(third);
  CHECK(refused.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(w.server->stats().rejected_http == 1);

  idle1.close();
  REQUIRE(eventually([&] { return w.server->connections() == 2; }));
  WsClient upgraded(w.port(), "/ws?userId=u2");  // takes the freed place, then leaves it
  REQUIRE(upgraded.ok());
  TestSocket fourth;
  REQUIRE(fourth.connect(w.port()));
  REQUIRE(fourth.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  std::string in;
  CHECK(fourth.read_some(in, kWait));
  CHECK(in.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("handshake_timeout: a connection that sends nothing gets 408 and is closed - a "
          "session that made its handshake in time outlives the deadline") {
  ServerOptions o = test_server_options();
  o.handshake_timeout = 300ms;
  WsWorld w(o, test_engine_options(), ok_handler());
  WsClient client(w.port(), "/ws?userId=u1");
  REQUIRE(client.ok());
  REQUIRE(client.next_op("welcome").is_object());
  TestSocket silent;  // accepted after the session: its deadline passes after the session's
  REQUIRE(silent.connect(w.port()));
  const std::string in = read_to_end(silent);
  CHECK(in.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(in.find("first request not complete within 300 ms") != std::string::npos);
  CHECK(silent.eof());
  CHECK(w.server->stats().handshake_timeouts == 1);
  // The session is still served.
  REQUIRE(client.send_frame(1, R"({"op":"ping","rid":"r1"})"));
  CHECK(client.next_op("pong").is_object());
  CHECK(client.close_code() == 0);
}
