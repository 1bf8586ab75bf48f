// End to end: users' JSON Web Tokens on the real herald-server (--jwt-*, docs/security.md).
// Tokens are signed here with libjwt (HS256).

#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "e2e_helpers.hpp"
#include "server_process.hpp"

using namespace herald::server::test;

#ifdef HERALD_SERVER_WITH_JWT
#include "jwt_tokens.hpp"

namespace {

json user(const std::string& sub, long ttl = 600) {
  return {{"sub", sub}, {"aud", "herald"}, {"exp", now_s() + ttl}};
}

std::unique_ptr<WsClient> with_bearer(std::uint16_t port, const std::string& token) {
  WsClient::Options o;
  o.headers = {{"Authorization", "Bearer " + token}};
  return std::make_unique<WsClient>(port, "/ws", o);
}

// The handshake is refused: upgraded, then closed with 4001.
void refused(std::uint16_t port, const std::string& token) {
  auto c = std::make_unique<WsClient>(port, "/ws?token=" + token);
  REQUIRE(c->ok());
  CHECK(c->wait_closed());
  CHECK(c->close_code() == 4001);
}

}  // namespace

TEST_CASE("JWT: tokens by header and ?token= connect and receive - bad tokens get 4001, counted") {
  ServerProcess s({"--api-key", kKey, "--jwt-secret", kSecret, "--jwt-audience", "herald"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("auth=keys+jwt") != std::string::npos);
  auto alice = with_bearer(s.port(), sign_hs256(user("alice")));
  REQUIRE(alice->ok());
  CHECK(alice->next_op("welcome")["user"] == "alice");
  auto bob = session(s.port(), "token=" + sign_hs256(user("bob")), nullptr);
  HttpClient h(s.port());
  const json note = {{"to", {{"users", {"alice", "bob"}}}}, {"type", "t"}, {"data", 1}};
  CHECK(h.request("POST", "/notify", note.dump(), bearer(kKeySecret)).status == 202);
  CHECK(notes(*alice, "inbox:alice", 1).size() == 1);
  CHECK(notes(*bob, "inbox:bob", 1).size() == 1);

  refused(s.port(), sign_hs256(user("eve"), kSecret + "-forged"));
  refused(s.port(), sign_hs256(user("eve", -3600)));
  json wrong_aud = user("eve");
  wrong_aud["aud"] = "elsewhere";
  refused(s.port(), sign_hs256(wrong_aud));
  WsClient none(s.port(), "/ws?userId=eve");  // no token at all
  REQUIRE(none.ok());
  CHECK(none.wait_closed());
  CHECK(none.close_code() == 4001);
  const std::string metrics = h.request("GET", "/metrics").body;
  CHECK(metrics.find("herald_auth_token_refusals_total{reason=\"signature\"} 1\n") != std::string::npos);
  CHECK(metrics.find("herald_auth_token_refusals_total{reason=\"expired\"} 1\n") != std::string::npos);
  CHECK(metrics.find("herald_auth_token_refusals_total{reason=\"audience\"} 1\n") != std::string::npos);
  CHECK(s.stop() == 0);
}

TEST_CASE("JWT: a user's token reaches only that user's data and the topics it grants") {
  ServerProcess s({"--jwt-secret", kSecret});  // user tokens only: server routes need a key
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("auth=jwt") != std::string::npos);
  json claims = user("alice");
  claims["topics"] = {"room:*"};
  const std::string token = sign_hs256(claims);
  HttpClient h(s.port());
  CHECK(h.request("GET", "/users/alice/unread-count", "", bearer(token)).status == 200);
  CHECK(h.request("GET", "/users/bob/unread-count", "", bearer(token)).status == 403);
  CHECK(h.request("GET", "/users/bob/notifications", "", bearer(token)).status == 403);
  CHECK(h.request("PUT", "/users/alice/subscriptions/room:1", "", bearer(token)).status == 200);
  CHECK(h.request("PUT", "/users/alice/subscriptions/team:1", "", bearer(token)).status == 403);
  CHECK(h.request("POST", "/notify", user("x").dump(), bearer(token)).status == 403);

  auto alice = with_bearer(s.port(), token);
  REQUIRE(alice->ok());
  REQUIRE(alice->next_op("welcome").is_object());
  alice->send_text(R"({"op":"subscribe","topic":"team:1","rid":"t"})");
  json error = alice->next_op("error");
  CHECK(error["rid"] == "t");
  CHECK(error["code"] == "forbidden");
  alice->send_text(R"({"op":"subscribe","topic":"room:2","rid":"r"})");
  // The stored subscription to room:1 is announced by a `subscribed` without rid, whenever
  // the user's subscriptions were read: skip it.
  json subscribed = alice->next_op("subscribed");
  if (subscribed.is_object() && !subscribed.contains("rid")) subscribed = alice->next_op("subscribed");
  CHECK(subscribed["rid"] == "r");  // the session stayed open
  CHECK(!alice->closed());
  CHECK(s.stop() == 0);
}

TEST_CASE("JWT: refresh keeps a session past its token's exp - without it the session gets 4011") {
  ServerProcess s({"--api-key", kKey, "--jwt-secret", kSecret, "--jwt-leeway", "0",
                   "--token-grace", "1"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  const json short_lived = {{"sub", "kim"}, {"exp", now_s() + 2}};
  auto kept = with_bearer(s.port(), sign_hs256(short_lived));
  auto dropped = with_bearer(s.port(), sign_hs256(short_lived));
  REQUIRE(kept->ok());
  REQUIRE(dropped->ok());
  REQUIRE(kept->next_op("welcome").is_object());
  REQUIRE(dropped->next_op("welcome").is_object());

  // Another user's token is refused and changes nothing.
  kept->send_text(json{{"op", "refresh"}, {"token", sign_hs256(user("lee"))}, {"rid", "x"}}.dump());
  json error = kept->next_op("error");
  CHECK(error["rid"] == "x");
  CHECK(error["code"] == "unauthorized");
  const long exp = now_s() + 600;
  kept->send_text(json{{"op", "refresh"}, {"token", sign_hs256({{"sub", "kim"}, {"exp", exp}})},
                       {"rid", "r"}}.dump());
  json refreshed = kept->next_op("refreshed");
  CHECK(refreshed["rid"] == "r");
  CHECK(refreshed["expiresAt"] == exp * 1000);

  // Waiting for the expiry is the point here: exp (<= 2 s) + grace (1 s), bounded.
  CHECK(dropped->wait_closed(Millis(8000)));
  CHECK(dropped->close_code() == 4011);
  HttpClient h(s.port());
  const json note = {{"to", {{"users", {"kim"}}}}, {"type", "t"}};
  CHECK(h.request("POST", "/notify", note.dump(), bearer(kKeySecret)).status == 202);
  CHECK(notes(*kept, "inbox:kim", 1).size() == 1);
  CHECK(!kept->closed());
  CHECK(s.stop() == 0);
}

// A P-256 key pair made by the openssl CLI in `dir`: <name>.pem (private), <name>.pub.pem.
std::string ec_key(const std::string& dir, const std::string& name) {
  const std::string priv = dir + "/" + name + ".pem";
  const std::string cmd = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                          priv + " 2>/dev/null && openssl pkey -in " + priv + " -pubout -out " +
                          dir + "/" + name + ".pub.pem 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(priv);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string sign_es256(const json& claims, const std::string& private_pem) {
  return sign_jwt(claims, JWT_ALG_ES256, private_pem);
}

TEST_CASE("JWT: SIGHUP re-reads the public key - an unusable file keeps the old one") {
  char tmpl[] = "/tmp/herald-e2e-jwt-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string old_key = ec_key(dir, "old"), new_key = ec_key(dir, "new");
  const std::string pub = dir + "/server.pub.pem";
  std::filesystem::copy_file(dir + "/old.pub.pem", pub);
  ServerProcess s({"--jwt-public-key", pub});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  const std::string old_token = sign_es256(user("mia"), old_key);
  const std::string new_token = sign_es256(user("mia"), new_key);
  CHECK(session(s.port(), "token=" + old_token, nullptr)->ok());
  refused(s.port(), new_token);

  std::filesystem::copy_file(dir + "/new.pub.pem", pub,
                             std::filesystem::copy_options::overwrite_existing);
  s.signal(SIGHUP);
  CHECK(s.wait_log("event=keys_reloaded"));
  CHECK(session(s.port(), "token=" + new_token, nullptr)->ok());
  refused(s.port(), old_token);

  std::ofstream(pub) << "not a key";
  s.signal(SIGHUP);
  CHECK(s.wait_log("event=keys_reload_failed"));
  CHECK(session(s.port(), "token=" + new_token, nullptr)->ok());
  CHECK(s.stop() == 0);
  std::filesystem::remove_all(dir);
}

#else

TEST_CASE("JWT flags of a herald-server built without HERALD_WITH_JWT are refused, saying so") {
  ServerProcess s({"--jwt-secret", "jwt-secret-0123456789abcdef-0123456789"}, false);
  CHECK(s.wait(Millis(5000)) == 2);
  CHECK(s.log().find("built without JWT support") != std::string::npos);
}

#endif
