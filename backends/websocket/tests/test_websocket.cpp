// WebSocket sessions over real sockets: an Engine on the in-memory backends with the
// websocket::Server as its transport, clients from ws_client.hpp.

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "ws_fixture.hpp"

using namespace herald;
using namespace herald::websocket;
using namespace herald::websocket::test;
using namespace std::chrono_literals;

TEST_CASE("welcome then a live notification then a clean client close") {
  WsWorld w;
  auto alice = connect_user(w, "alice");
  REQUIRE(eventually([&] { return w.sessions() == 1; }));

  REQUIRE(w.notify({"alice"}, R"({"text":"hello"})").ok());
  json n = alice->next_op("notification");
  REQUIRE(!n.is_null());
  CHECK(n["stream"] == "inbox:alice");
  CHECK(n["seq"] == 1);
  CHECK(n["data"]["text"] == "hello");

  alice->send_text(R"({"op":"ack","seq":1})");
  alice->send_text(R"({"op":"ping","rid":"p1"})");
  json pong = alice->next_op("pong");
  CHECK(pong["rid"] == "p1");

  alice->close(1000, "bye");
  CHECK(alice->close_code() == 1000);
  CHECK(eventually([&] { return w.sessions() == 0; }));
  CHECK(eventually([&] { return w.server->connections() == 0; }));
  CHECK(w.server->stats().websocket_sessions == 1);
}

TEST_CASE("the handshake reaches the authenticator with its decoded query and headers") {
  WsWorld w;
  WsClient::Options o;
  o.headers = {{"X-Trace", "abc"}};
  WsClient c(w.port(), "/ws?userId=bob%2B1&since=0", o);
  REQUIRE(c.ok());
  json welcome = c.next_op("welcome");
  REQUIRE(!welcome.is_null());
  CHECK(welcome["user"] == "bob+1");
}

TEST_CASE("a browser's token subprotocol is answered - other subprotocols are not") {
  WsWorld w;
  auto upgrade = [&](const std::string& protocols) {
    HttpClient h(w.port());
    h.send_raw("GET /ws?userId=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Protocol: " + protocols + "\r\n\r\n");
    return h.read_reply();
  };
  auto with_token = upgrade("herald.token, eyJ0b2tlbiI6MX0");
  REQUIRE(with_token);
  CHECK(with_token->status == 101);
  CHECK(with_token->headers["sec-websocket-protocol"] == "herald.token");
  auto other = upgrade("chat");
  REQUIRE(other);
  CHECK(other->status == 101);
  CHECK(other->headers.count("sec-websocket-protocol") == 0);
}

TEST_CASE("an upgrade on another path gets 404 and a failed handshake opens no session") {
  WsWorld w;
  WsClient wrong(w.port(), "/nope?userId=a");
  CHECK(wrong.status() == 404);
  CHECK(json::parse(wrong.response_body())["error"]["code"] == "not_found");

  // Each refusal is a 400 with herald's error body, and the connection closes.
  struct Case {
    const char* what;
    const char* headers;  // after the request line
    bool names_versions;  // the answer lists the versions spoken
  };
  const Case cases[] = {
      {"no Sec-WebSocket-Key",
       "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
       false},
      {"an empty Sec-WebSocket-Key",
       "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Key: \r\n",
       false},
      {"no Host",
       "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
       false},
      {"no Sec-WebSocket-Version (websocketpp answered 500)",
       "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
       true},
      {"a version not spoken",
       "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 14\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
       true},
      {"a version that is not a number",
       "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13x\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
       true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    HttpClient h(w.port());
    h.send_raw(std::string("GET /ws?userId=a HTTP/1.1\r\n") + c.headers + "\r\n");
    auto reply = h.read_reply();
    REQUIRE(reply);
    CHECK(reply->status == 400);
    CHECK(json::parse(reply->body)["error"]["code"] == "bad_handshake");
    CHECK((reply->headers["sec-websocket-version"] == "13, 8, 7") == c.names_versions);
    CHECK(h.wait_eof());
    h.disconnect();
  }
  CHECK(w.server->stats().websocket_sessions == 0);
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE("the handshake's answer is RFC 6455's - drafts 8 and 7 are answered as 13") {
  WsWorld w;
  for (const char* version : {"13", "8", "7", " 13 "}) {
    CAPTURE(version);
    HttpClient h(w.port());
    // RFC 6455 §1.3's example key and the accept value it gives.
    h.send_raw(std::string("GET /ws?userId=a HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n"
                           "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: ") +
               version + "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    auto reply = h.read_reply();
    REQUIRE(reply);
    CHECK(reply->status == 101);
    CHECK(reply->headers["upgrade"] == "websocket");
    CHECK(reply->headers["connection"] == "Upgrade");
    CHECK(reply->headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(reply->headers.count("sec-websocket-protocol") == 0);
  }
  CHECK(eventually([&] { return w.server->stats().websocket_sessions == 4; }));
}

TEST_CASE("a binary frame is answered with an error frame and the session stays open") {
  WsWorld w;
  auto c = connect_user(w, "carol");
  c->send_binary(std::string("\x01\x02\x03", 3));
  json e = c->next_op("error");
  REQUIRE(!e.is_null());
  CHECK(e["code"] == "invalid_argument");
  CHECK(e["message"] == "binary frames are not supported");
  c->send_text(R"({"op":"ping"})");
  CHECK(!c->next_op("pong").is_null());
  CHECK_FALSE(c->closed());
}

TEST_CASE("a frame over max_frame_bytes closes that session with 1009 while others go on") {
  ServerOptions o = test_server_options();
  o.max_frame_bytes = 1024;
  WsWorld w(o);
  auto big = connect_user(w, "big");
  auto other = connect_user(w, "other");
  REQUIRE(eventually([&] { return w.sessions() == 2; }));

  big->send_text(std::string(4096, 'x'));
  CHECK(big->wait_closed());
  CHECK(big->close_code() == 1009);
  CHECK(eventually([&] { return w.sessions() == 1; }));

  REQUIRE(w.notify({"other"}).ok());
  CHECK(!other->next_op("notification").is_null());
  auto again = connect_user(w, "big");  // the server keeps accepting
  CHECK(again->ok());
}

TEST_CASE("a client that vanishes is removed also in the middle of a send") {
  WsWorld w;
  auto quiet = connect_user(w, "quiet");
  auto busy = connect_user(w, "busy");
  REQUIRE(eventually([&] { return w.sessions() == 2; }));

  quiet->drop();  // socket closed, no close frame
  CHECK(eventually([&] { return w.sessions() == 1; }));

  // A burst towards `busy`, which resets its connection while frames are on the way.
  for (int i = 0; i < 20; ++i)
    REQUIRE(w.notify({"busy"}, R"({"pad":")" + std::string(8000, 'p') + "\"}").ok());
  busy->drop(true);
  for (int i = 0; i < 20; ++i) REQUIRE(w.notify({"busy"}, R"({"n":1})").ok());
  CHECK(eventually([&] { return w.sessions() == 0; }));
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE("a client that never reads is closed at the engine's bound while others keep receiving") {
  ServerOptions so = test_server_options();
  so.socket_send_buffer = 4096;  // small kernel buffers: the bound is reached quickly
  so.max_buffered_bytes = 2 * 64 * 1024 + 64 * 1024;
  EngineOptions eo = test_engine_options();
  eo.max_session_queue_bytes = 64 * 1024;
  WsWorld w(so, eo);
  WsClient::Options small;
  small.receive_buffer = 4096;
  auto slow = connect_user(w, "slow", small);
  auto fast = connect_user(w, "fast");
  REQUIRE(eventually([&] { return w.sessions() == 2; }));

  const std::string pad = R"({"pad":")" + std::string(8000, 'p') + "\"}";
  int sent = 0;
  while (w.engine->metrics().slow_consumers.value() == 0 && sent < 400) {
    REQUIRE(w.broadcast(pad).ok());
    ++sent;
    json n = fast->next_op("notification");
    REQUIRE_MESSAGE(!n.is_null(), "fast client missed broadcast " << sent);
    CHECK(n["seq"] == sent);
  }
  CHECK(w.engine->metrics().slow_consumers.value() == 1);
  CHECK(sent < 400);
  CHECK(eventually([&] { return w.sessions() == 1; }));

  REQUIRE(w.broadcast(R"({"after":true})").ok());
  json n = fast->next_op("notification");
  REQUIRE(!n.is_null());
  CHECK(n["data"]["after"] == true);

  // The slow client finally reads: what was sent, then the close frame.
  CHECK(slow->wait_closed(10s));
  CHECK(slow->close_code() == 4008);
  CHECK(w.server->stats().overflow_closes == 0);  // the engine's bound acted, not the net
}

TEST_CASE("a stalled client gets the 4008 close frame when it reads again and then resumes") {
  Millis close_timeout{0}, stall{0};
  SUBCASE("stalled for 2 s, the default close_timeout") {
    close_timeout = ServerOptions{}.close_timeout;
    stall = 2s;
  }
  SUBCASE("stalled for three times close_timeout") {
    close_timeout = 500ms;
    stall = 1500ms;
  }
  ServerOptions so = test_server_options();
  so.close_timeout = close_timeout;
  so.socket_send_buffer = 4096;  // small kernel buffers: most of the backlog waits in the server
  so.max_buffered_bytes = 2 * 64 * 1024 + 64 * 1024;
  EngineOptions eo = test_engine_options();
  eo.max_session_queue_bytes = 64 * 1024;
  WsWorld w(so, eo);
  WsClient::Options small;
  small.receive_buffer = 4096;
  auto slow = connect_user(w, "slow", small);
  auto fast = connect_user(w, "fast");
  REQUIRE(eventually([&] { return w.sessions() == 2; }));

  const std::string pad = R"({"pad":")" + std::string(8000, 'p') + "\"}";
  int sent = 0;
  while (w.engine->metrics().slow_consumers.value() == 0 && sent < 400) {
    REQUIRE(w.notify({"slow", "fast"}, pad).ok());
    ++sent;
    json n = fast->next_op("notification");
    REQUIRE(!n.is_null());
    fast->send_text(R"({"op":"ack","seq":)" + std::to_string(n["seq"].get<int>()) + "}");
  }
  REQUIRE(w.engine->metrics().slow_consumers.value() == 1);

  // The stall itself (the scenario, not a synchronisation): the client reads nothing.
  std::this_thread::sleep_for(stall);

  // It reads again: whole notifications from seq 1 on, then the close frame, 4008.
  int last = 0;
  while (auto f = slow->next_frame(5s)) {
    json n = json::parse(f->payload, nullptr, false);
    REQUIRE(n.is_object());
    if (n["op"] != "notification") continue;
    REQUIRE(n["seq"] == last + 1);
    last = n["seq"].get<int>();
  }
  CHECK(slow->close_code() == 4008);
  CHECK(slow->close_reason().find("reconnect and resume") != std::string::npos);
  CHECK(last < sent);  // what waited in the server was dropped, not sent
  CHECK(eventually([&] { return w.sessions() == 1; }));

  // It resumes by cursor: the rest of its inbox, in order, nothing lost.
  auto again = connect_user(w, "slow&since=" + std::to_string(last));
  for (int seq = last + 1; seq <= sent; ++seq) {
    json n = again->next_op("notification");
    REQUIRE_MESSAGE(!n.is_null(), "missing seq " << seq);
    CHECK(n["seq"] == seq);
  }
  CHECK(w.server->stats().overflow_closes == 0);  // the engine's bound acted
}

TEST_CASE("a flood of pings from a client that never reads is bounded then closed and cut") {
  ServerOptions o = test_server_options();
  o.send_timeout = 1000ms;
  WsWorld w(o);
  auto other = connect_user(w, "other");
  WsClient::Options small;
  small.receive_buffer = 4096;
  auto flood = connect_user(w, "flood", small);  // reads its welcome, then never again
  REQUIRE(eventually([&] { return w.sessions() == 2; }));

  constexpr int kPings = 200'000;  // 20 MB of pongs if each were queued
  const std::string one = WsClient::encode(kPing, std::string(100, 'p'));
  std::string pings;
  pings.reserve(one.size() * kPings);
  for (int i = 0; i < kPings; ++i) pings += one;
  const std::size_t rss_before = rss_bytes();
  std::thread writer([&] { flood->send_raw(pings); });

  std::size_t peak_buffered = 0, peak_rss = 0;
  auto sample = [&] {
    peak_buffered = std::max<std::size_t>(peak_buffered, w.server->stats().buffered_bytes);
    peak_rss = std::max(peak_rss, rss_bytes());
  };
  // Its pongs reach max_buffered_bytes: closed as a slow consumer, others go on.
  auto closed = [&] {
    sample();
    return w.server->stats().overflow_closes == 1;
  };
  CHECK(eventually(closed, 20s));
  REQUIRE(w.notify({"other"}).ok());
  CHECK(!other->next_op("notification").is_null());
  // Its close frame cannot go out either: cut after send_timeout.
  auto cut = [&] {
    sample();
    return w.server->stats().stalled_closes == 1;
  };
  CHECK(eventually(cut, 20s));
  writer.join();
  sample();

  const double growth_mb = (double(peak_rss) - double(rss_before)) / (1 << 20);
  MESSAGE("pings: peak buffered " << peak_buffered << " B; RSS growth " << growth_mb << " MiB");
  CHECK(peak_buffered <= o.max_buffered_bytes + 256);
  if (!kSanitized) CHECK(growth_mb < 8.0);
  CHECK(eventually([&] { return w.sessions() == 1; }));
  CHECK(eventually([&] { return w.server->stats().buffered_bytes == 0; }));
  REQUIRE(w.notify({"other"}).ok());
  CHECK(!other->next_op("notification").is_null());
}

TEST_CASE("a payload length that is not minimally encoded closes the session with 1002") {
  WsWorld w;
  auto c = connect_user(w, "lengthy");
  // A text frame "{}" with its length in the 16-bit form (126, then 2), masked.
  std::string frame = WsClient::encode(kText, "{}");
  frame[1] = static_cast<char>(0x80 | 126);
  frame.insert(2, std::string("\x00\x02", 2));
  REQUIRE(c->send_raw(frame));
  CHECK(c->wait_closed());
  CHECK(c->close_code() == 1002);
  CHECK(eventually([&] { return w.sessions() == 0; }));
}

// Found by tests/fuzz/ws_frames.cpp: websocketpp checks that a text message ends on a whole
// UTF-8 character only when it is one frame; fragmented, a cut character went through.
TEST_CASE("a fragmented text message that ends inside a UTF-8 character closes with 1007") {
  WsWorld w;
  auto c = connect_user(w, "cut");
  REQUIRE(c->send_frame(kText, R"({"op":"ping","rid":")", false));
  REQUIRE(c->send_frame(0x0, "\xC3\xA9\xF0\x9F", true));  // é, then half of an emoji
  CHECK(c->wait_closed());
  CHECK(c->close_code() == 1007);
  CHECK(eventually([&] { return w.sessions() == 0; }));
}

TEST_CASE("idle_timeout closes a session that answers nothing with 4009") {
  ServerOptions o = test_server_options();
  o.ping_interval = 100ms;
  o.idle_timeout = 400ms;
  WsWorld w(o);
  WsClient::Options mute;
  mute.auto_pong = false;
  auto c = connect_user(w, "mute", mute);
  CHECK(c->wait_closed(5s));
  CHECK(c->close_code() == 4009);
  CHECK(c->close_reason() == "idle timeout");
  CHECK(c->pings() >= 2);
  CHECK(w.server->stats().idle_closes == 1);
  CHECK(eventually([&] { return w.sessions() == 0; }));
}

TEST_CASE("pings keep a quiet but live client open past idle_timeout") {
  ServerOptions o = test_server_options();
  o.ping_interval = 100ms;
  o.idle_timeout = 1s;  // a pong may be late by 900 ms (a loaded sanitizer run) and still count
  WsWorld w(o);
  auto c = connect_user(w, "quiet");   // answers pings, sends nothing else
  CHECK_FALSE(c->next_frame(2500ms));  // time passes while it reads (and pongs)
  CHECK_FALSE(c->closed());
  CHECK(c->pings() >= 3);
  REQUIRE(w.notify({"quiet"}).ok());
  CHECK(!c->next_op("notification").is_null());
  CHECK(w.server->stats().idle_closes == 0);
}

TEST_CASE("a broadcast to N sessions is framed once and sent to each as a prepared message") {
  constexpr int kSessions = 6;
  WsWorld w;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kSessions; ++i) clients.push_back(connect_user(w, "u" + std::to_string(i)));
  REQUIRE(eventually([&] { return w.sessions() == kSessions; }));

  const ServerStats before = w.server->stats();
  REQUIRE(w.broadcast(R"({"to":"all"})").ok());
  for (auto& c : clients) {
    json n = c->next_op("notification");
    REQUIRE(!n.is_null());
    CHECK(n["stream"] == "topic:$broadcast");
    CHECK(n["data"]["to"] == "all");
  }
  const ServerStats after = w.server->stats();
  CHECK(after.framed_messages - before.framed_messages == 1);
  CHECK(after.prepared_reuses - before.prepared_reuses == kSessions - 1);

  // Inbox frames differ per recipient by their head: one message each.
  REQUIRE(w.notify({"u0", "u1"}).ok());
  CHECK(!clients[0]->next_op("notification").is_null());
  CHECK(!clients[1]->next_op("notification").is_null());
  CHECK(w.server->stats().framed_messages - after.framed_messages == 2);
}

TEST_CASE("engine shutdown closes sessions with 1001 and close_all closes the rest") {
  WsWorld w;
  auto a = connect_user(w, "a");
  HttpClient idle(w.port());
  REQUIRE(idle.send_raw(""));  // an idle keep-alive connection
  REQUIRE(eventually([&] { return w.server->connections() == 2; }));
  w.stop();
  CHECK(a->wait_closed());
  CHECK(a->close_code() == 1001);
  CHECK(idle.wait_eof());
  CHECK(w.server->connections() == 0);
}

TEST_CASE("stop_accepting refuses new connections while open sessions stay") {
  WsWorld w;
  auto a = connect_user(w, "a");
  auto stopped = await<Result<void>>([&](auto done) {
    w.server->stop_accepting(Done(w.executor, [done](Result<void> r) { done(r); }));
  });
  REQUIRE(stopped);
  CHECK(stopped->ok());
  TestSocket s;
  CHECK_FALSE(s.connect(w.port()));
  REQUIRE(w.notify({"a"}).ok());
  CHECK(!a->next_op("notification").is_null());
}

TEST_CASE("a port in use is reported by start as unavailable") {
  WsWorld first;
  ServerOptions o = test_server_options();
  o.port = first.port();
  WsWorld second(o);
  CHECK(second.start_status.code() == Errc::unavailable);
  CHECK(second.start_status.message() ==
        "cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": Address already in use");
}

TEST_CASE("options are checked by create") {
  asio::io_context io;
  ServerOptions o;
  o.websocket_path = "ws";
  CHECK_THROWS_AS(Server::create(io, o, nullptr), herald::Error);
  o = ServerOptions{};
  o.ping_interval = 10s;
  o.idle_timeout = 5s;
  CHECK_THROWS_AS(Server::create(io, o, nullptr), herald::Error);
  o = ServerOptions{};
  CHECK(Server::create(io, o, nullptr) != nullptr);
}
