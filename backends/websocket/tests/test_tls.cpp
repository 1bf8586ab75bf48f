// HTTPS and WSS: handshake and verification, refused versions, certificate reload with
// live sessions, plain and TLS listeners side by side. Certificates are made per run
// (tls_client.hpp: a test CA and two server certificates).

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tls_client.hpp"
#include "ws_fixture.hpp"

namespace herald::websocket::test {
namespace {

HttpHandler health_handler() {
  return [](HttpRequest r, std::function<void(HttpResponse)> respond) {
    HttpResponse out;
    if (r.path == "/healthz") {
      out.body = R"({"ok":true})";
    } else if (r.path == "/big") {  // several TLS records, more than one socket write
      out.content_type = "text/plain";
      for (int i = 0; out.body.size() < 300 * 1024; ++i) out.body += std::to_string(i) + ",";
    } else {
      out.status = 404;
    }
    respond(std::move(out));
  };
}

/// A directory of its own holding cert.pem and key.pem (rotated in place by the tests).
struct CertDir {
  CertDir() {
    const TestPki& pki = TestPki::get();
    REQUIRE_MESSAGE(pki.ok, "the openssl command could not make the test certificates");
    dir = pki.dir + "/run-" + std::to_string(++count());
    std::filesystem::create_directories(dir);
    REQUIRE(TestPki::copy(pki.cert1, cert()));
    REQUIRE(TestPki::copy(pki.key1, key()));
  }
  std::string cert() const { return dir + "/cert.pem"; }
  std::string key() const { return dir + "/key.pem"; }
  static int& count() {
    static int n = 0;
    return n;
  }
  std::string dir;
};

ServerOptions tls_options(const CertDir& certs) {
  ServerOptions o = test_server_options();
  o.tls.cert_file = certs.cert();
  o.tls.key_file = certs.key();
  return o;
}

TlsClient::Options trusting(const std::string& ca) {
  TlsClient::Options o;
  o.ca_file = ca;
  return o;
}

std::unique_ptr<TlsClient> connect_wss(std::uint16_t port, const std::string& user) {
  auto c = std::make_unique<TlsClient>(port, trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(c->ok(), c->error());
  REQUIRE(c->upgrade("/ws?userId=" + user));
  REQUIRE(!c->next_op("welcome").is_null());
  return c;
}

}  // namespace

TEST_CASE("tls: HTTPS GET and a WSS session that gets a notification") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  CHECK(w.server->tls_port() == w.port());

  TlsClient http(w.port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(http.ok(), http.error());
  CHECK(http.peer_cn() == "herald-test-1");
  CHECK(http.version() == "TLSv1.3");
  auto r = http.request("GET", "/healthz");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"ok":true})");
  // Keep-alive: a second request, then a large answer in many records.
  CHECK(http.request("GET", "/nope").status == 404);
  auto big = http.request("GET", "/big");
  CHECK(big.status == 200);
  CHECK(big.body.size() >= 300 * 1024);
  CHECK(big.body.rfind("0,1,2,3,", 0) == 0);

  // The host name works as well as the address.
  TlsClient::Options by_name = trusting(TestPki::get().ca_cert);
  by_name.host = "localhost";
  TlsClient named(w.port(), by_name);
  CHECK_MESSAGE(named.ok(), named.error());

  auto alice = connect_wss(w.port(), "alice");
  REQUIRE(w.notify({"alice"}, R"({"n":1})").ok());
  json n = alice->next_op("notification");
  REQUIRE(!n.is_null());
  CHECK(n.dump().find(R"("n":1)") != std::string::npos);
  alice->send_text(R"({"op":"ping"})");
  CHECK(!alice->next_op("pong").is_null());
}

TEST_CASE("tls: pipelined requests in one record are all answered") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  TlsClient c(w.port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(c.ok(), c.error());
  std::string burst;
  for (int i = 0; i < 40; ++i) burst += "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  REQUIRE(c.write(burst));
  for (int i = 0; i < 40; ++i) {
    auto r = c.read_reply();
    REQUIRE_MESSAGE(r.status == 200, "reply " << i);
    CHECK(r.body == R"({"ok":true})");
  }
}

TEST_CASE("tls: large messages both ways span many records") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  auto alice = connect_wss(w.port(), "alice");
  // 60 KB in: several records, maybe several socket reads, for one frame.
  const std::string pad(60 * 1024, 'p');
  REQUIRE(alice->send_text(R"({"op":"ping","rid":"big","pad":")" + pad + R"("})"));
  REQUIRE(alice->next_text().has_value());  // answered (pong or error), session open
  // 40 KB out, 20 times.
  const std::string data = R"({"blob":")" + std::string(40 * 1024, 'n') + R"("})";
  for (int i = 0; i < 20; ++i) REQUIRE(w.notify({"alice"}, data).ok());
  for (int i = 0; i < 20; ++i) {
    json n = alice->next_op("notification");
    REQUIRE_MESSAGE(!n.is_null(), "notification " << i);
    CHECK(n["data"]["blob"].get<std::string>().size() == 40 * 1024);
  }
}

TEST_CASE("tls: a client that never reads is cut off while another keeps receiving") {
  CertDir certs;
  ServerOptions o = tls_options(certs);
  o.socket_send_buffer = 4096;
  o.send_timeout = Millis(300);
  o.close_timeout = Millis(300);
  EngineOptions e = test_engine_options();
  e.max_session_queue_bytes = 64 * 1024;
  WsWorld w(o, e, health_handler());
  REQUIRE(w.start_status.ok());
  TlsClient::Options small = trusting(TestPki::get().ca_cert);
  small.receive_buffer = 4096;
  TlsClient stalled(w.port(), small);
  REQUIRE_MESSAGE(stalled.ok(), stalled.error());
  REQUIRE(stalled.upgrade("/ws?userId=slow"));
  auto fast = connect_wss(w.port(), "fast");
  const std::string data = R"({"blob":")" + std::string(4000, 's') + R"("})";
  for (int i = 0; i < 100; ++i) {
    REQUIRE(w.notify({"slow", "fast"}, data).ok());
    REQUIRE_MESSAGE(!fast->next_op("notification").is_null(), "notification " << i);
  }
  CHECK(eventually([&] { return w.server->connections() == 1; }));
  CHECK(eventually([&] { return w.server->stats().buffered_bytes == 0; }));
  REQUIRE(w.notify({"fast"}, R"({"last":true})").ok());
  CHECK(!fast->next_op("notification").is_null());
}

TEST_CASE("tls: a client that trusts another CA fails verification") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  TlsClient c(w.port(), trusting(TestPki::get().other_ca_cert));
  CHECK(!c.ok());
  CHECK(c.verify_result() != X509_V_OK);
  // The server goes on serving trusting clients.
  TlsClient good(w.port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(good.ok(), good.error());
  CHECK(good.request("GET", "/healthz").status == 200);
  CHECK(eventually([&] { return w.server->connections() == 1; }));
}

TEST_CASE("tls: TLS 1.1 is refused, TLS 1.2 accepted") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  TlsClient::Options old = trusting(TestPki::get().ca_cert);
  old.version = TLS1_1_VERSION;
  TlsClient refused(w.port(), old);
  CHECK(!refused.ok());

  TlsClient::Options v12 = trusting(TestPki::get().ca_cert);
  v12.version = TLS1_2_VERSION;
  TlsClient accepted(w.port(), v12);
  REQUIRE_MESSAGE(accepted.ok(), accepted.error());
  CHECK(accepted.version() == "TLSv1.2");
  CHECK(accepted.request("GET", "/healthz").status == 200);
}

TEST_CASE("tls: a plain client on the TLS port is closed") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  HttpClient plain(w.port());
  auto r = plain.request("GET", "/healthz", "", {}, Millis(3000));
  CHECK(r.status == 0);
  CHECK(eventually([&] { return w.server->connections() == 0; }));
}

TEST_CASE("tls: a certificate reload keeps live sessions - new handshakes see the new one") {
  CertDir certs;
  WsWorld w(tls_options(certs), test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  auto alice = connect_wss(w.port(), "alice");
  CHECK(alice->peer_cn() == "herald-test-1");

  // An unusable file: the reload fails and the current certificate stays.
  {
    std::ofstream broken(certs.dir + "/key.pem");
    broken << "not a key\n";
  }
  Status failed = w.server->reload_tls();
  CHECK(!failed.ok());
  CHECK(failed.message().find("key") != std::string::npos);
  {
    TlsClient still(w.port(), trusting(TestPki::get().ca_cert));
    REQUIRE_MESSAGE(still.ok(), still.error());
    CHECK(still.peer_cn() == "herald-test-1");
  }

  REQUIRE(TestPki::copy(TestPki::get().cert2, certs.cert()));
  REQUIRE(TestPki::copy(TestPki::get().key2, certs.key()));
  REQUIRE(w.server->reload_tls().ok());

  REQUIRE(w.notify({"alice"}, R"({"after":"reload"})").ok());
  json n = alice->next_op("notification");
  REQUIRE(!n.is_null());
  CHECK(n.dump().find("reload") != std::string::npos);

  auto bob = connect_wss(w.port(), "bob");
  CHECK(bob->peer_cn() == "herald-test-2");
  REQUIRE(w.broadcast(R"({"to":"all"})").ok());
  CHECK(!alice->next_op("notification").is_null());
  CHECK(!bob->next_op("notification").is_null());
  CHECK(w.server->connections() == 2);
}

TEST_CASE("tls: plain and TLS listeners side by side") {
  CertDir certs;
  ServerOptions o = tls_options(certs);
  o.tls.port = 0;  // TLS on an ephemeral port of its own; `port` stays plain
  WsWorld w(o, test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  REQUIRE(w.server->tls_port() != 0);
  CHECK(w.server->tls_port() != w.port());

  HttpClient plain_http(w.port());
  CHECK(plain_http.request("GET", "/healthz").status == 200);
  TlsClient https(w.server->tls_port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(https.ok(), https.error());
  CHECK(https.request("GET", "/healthz").status == 200);

  auto plain = connect_user(w, "alice");
  auto secure = connect_wss(w.server->tls_port(), "bob");
  REQUIRE(w.notify({"alice", "bob"}, R"({"both":true})").ok());
  CHECK(!plain->next_op("notification").is_null());
  CHECK(!secure->next_op("notification").is_null());
}

TEST_CASE("tls: over max_connections a TLS client gets 503 after the handshake") {
  CertDir certs;
  ServerOptions o = tls_options(certs);
  o.max_connections = 1;
  WsWorld w(o, test_engine_options(), health_handler());
  REQUIRE(w.start_status.ok());
  auto alice = connect_wss(w.port(), "alice");
  TlsClient second(w.port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(second.ok(), second.error());
  CHECK(second.read_reply().status == 503);
  CHECK(second.wait_end());
}

TEST_CASE("tls: bad TLS options are refused") {
  CertDir certs;
  ServerOptions o = tls_options(certs);
  o.tls.key_file.clear();
  asio::io_context io;
  CHECK_THROWS_AS(Server::create(io, o, nullptr), Error);
  o = tls_options(certs);
  o.tls.cert_file = certs.dir + "/missing.pem";
  CHECK_THROWS_AS(Server::create(io, o, nullptr), Error);
  o = tls_options(certs);
  o.tls.key_file = TestPki::get().key2;  // not the certificate's key
  CHECK_THROWS_AS(Server::create(io, o, nullptr), Error);
  ServerOptions plain = test_server_options();
  auto server = Server::create(io, plain, nullptr);
  CHECK(!server->reload_tls().ok());
  CHECK(server->tls_port() == 0);
}

TEST_CASE("tls: a connection that never completes its TLS handshake is closed at "
          "handshake_timeout, without an answer") {
  CertDir certs;
  ServerOptions o = tls_options(certs);
  o.handshake_timeout = Millis(300);
  WsWorld w(o, test_engine_options(), health_handler());
  TestSocket raw;  // TCP only: no ClientHello ever comes
  REQUIRE(raw.connect(w.port()));
  std::string in;
  while (!raw.eof() && raw.read_some(in, kWait)) {
  }
  CHECK(raw.eof());
  CHECK(in.empty());
  CHECK(w.server->stats().handshake_timeouts == 1);
  // A real client is served meanwhile.
  TlsClient http(w.port(), trusting(TestPki::get().ca_cert));
  REQUIRE_MESSAGE(http.ok(), http.error());
  CHECK(http.request("GET", "/healthz").status == 200);
}

}  // namespace herald::websocket::test
