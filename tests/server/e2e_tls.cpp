// herald-server with --tls-cert/--tls-key: HTTPS and WSS on one port, certificate reload on
// SIGHUP without dropping sessions, and --tls-port for plain and TLS side by side.

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "tls_client.hpp"

namespace herald::server::test {
namespace {

using herald::websocket::test::TestPki;
using herald::websocket::test::TlsClient;

TlsClient::Options trusting_test_ca() {
  TlsClient::Options o;
  o.ca_file = TestPki::get().ca_cert;
  return o;
}

std::unique_ptr<TlsClient> wss_session(std::uint16_t port, const std::string& user) {
  auto c = std::make_unique<TlsClient>(port, trusting_test_ca());
  REQUIRE_MESSAGE(c->ok(), c->error());
  REQUIRE(c->upgrade("/ws?userId=" + user));
  REQUIRE(c->next_op("welcome").is_object());
  return c;
}

// POST /notify over a new HTTPS connection; returns the certificate's CN it saw.
std::string https_notify(std::uint16_t port, const std::string& to, const std::string& message) {
  TlsClient h(port, trusting_test_ca());
  REQUIRE_MESSAGE(h.ok(), h.error());
  auto r = h.request("POST", "/notify", seed003("ops", message, to, "private").dump());
  CHECK_MESSAGE(r.status == 202, r.status << " " << r.body);
  return h.peer_cn();
}

std::uint16_t logged_tls_port(const std::string& log) {
  const std::size_t at = log.find(" tls_port=");
  return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoul(log.substr(at + 10)));
}

// The test certificates copied where the server reads them (rotated in place).
struct ServedCert {
  ServedCert() {
    REQUIRE_MESSAGE(TestPki::get().ok, "the openssl command could not make test certificates");
    char tmpl[] = "/tmp/herald-e2e-tls-XXXXXX";
    dir = mkdtemp(tmpl);
    REQUIRE(TestPki::copy(TestPki::get().cert1, cert()));
    REQUIRE(TestPki::copy(TestPki::get().key1, key()));
  }
  ~ServedCert() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string cert() const { return dir + "/cert.pem"; }
  std::string key() const { return dir + "/key.pem"; }
  std::string dir;
};

}  // namespace

TEST_CASE(
    "TLS: a WSS session gets a notification published over HTTPS, and keeps it "
    "across a SIGHUP certificate reload") {
  ServedCert served;
  ServerProcess s({"--tls-cert", served.cert(), "--tls-key", served.key()});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(logged_tls_port(s.log()) == s.port());

  auto alice = wss_session(s.port(), "alice");
  CHECK(alice->peer_cn() == "herald-test-1");
  CHECK(https_notify(s.port(), "alice", "before") == "herald-test-1");
  json n = alice->next_op("notification");
  REQUIRE(n.is_object());
  CHECK(n["data"]["message"] == "before");

  REQUIRE(TestPki::copy(TestPki::get().cert2, served.cert()));
  REQUIRE(TestPki::copy(TestPki::get().key2, served.key()));
  s.signal(SIGHUP);
  REQUIRE(s.wait_log("event=tls_reloaded"));
  CHECK(https_notify(s.port(), "alice", "after") == "herald-test-2");
  n = alice->next_op("notification");
  REQUIRE(n.is_object());
  CHECK(n["data"]["message"] == "after");

  std::ofstream(served.key()) << "not a key";
  s.signal(SIGHUP);
  CHECK(s.wait_log("event=tls_reload_failed"));
  CHECK(https_notify(s.port(), "alice", "still") == "herald-test-2");
  CHECK(alice->next_op("notification")["data"]["message"] == "still");
  CHECK(s.stop() == 0);
}

TEST_CASE("TLS: --tls-port serves TLS next to the plain --port") {
  ServedCert served;
  ServerProcess s({"--tls-cert", served.cert(), "--tls-key", served.key(), "--tls-port", "0"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  const std::uint16_t tls_port = logged_tls_port(s.log());
  REQUIRE(tls_port != 0);
  CHECK(tls_port != s.port());

  auto plain = session(s.port(), "userId=bob", nullptr);
  auto secure = wss_session(tls_port, "bob");
  HttpClient h(s.port());
  post(h, "/notify", seed003("ops", "plain", "bob", "private"));
  CHECK(plain->next_op("notification")["data"]["message"] == "plain");
  CHECK(secure->next_op("notification")["data"]["message"] == "plain");
  https_notify(tls_port, "bob", "secure");
  CHECK(plain->next_op("notification")["data"]["message"] == "secure");
  CHECK(secure->next_op("notification")["data"]["message"] == "secure");
  CHECK(s.stop() == 0);
}

TEST_CASE("TLS: a certificate without its key is a configuration error (exit 2)") {
  ServedCert served;
  ServerProcess s({"--tls-cert", served.cert()});
  CHECK(s.port() == 0);
  CHECK(s.stop() == 2);
  CHECK(s.log().find("key") != std::string::npos);
}

}  // namespace herald::server::test
