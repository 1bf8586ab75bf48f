// herald::jwt: what JwtVerifier accepts and refuses, JWKS key choice and reload, and the
// token sources of jwt_authenticator.

#include <doctest/doctest.h>

#include "herald/jwt/jwt.hpp"
#include "jwt_keys.hpp"

using namespace herald;
using namespace herald::jwt;
using namespace herald::jwt::test;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test";

json claims(const std::string& sub = "alice") {
  return {{"sub", sub}, {"exp", now_s() + 600}, {"iat", now_s()}};
}

std::shared_ptr<JwtVerifier> hmac_verifier(JwtOptions o = {}) {
  o.hmac_secret = kSecret;
  return JwtVerifier::create(o);
}

// The refusal's reason, "" when accepted.
std::string refused(const JwtVerifier& v, const std::string& token) {
  Result<Claims> r = v.verify(token);
  if (r.ok()) return "";
  CHECK(r.status().code() == Errc::unauthorized);
  return r.status().message();
}

std::uint64_t count(const JwtVerifier& v, const std::string& label) {
  for (const auto& [name, n] : v.refusal_counts())
    if (name == label) return n;
  return 0;
}

}  // namespace

TEST_CASE("HS256: a valid token yields sub, exp and the topics claim") {
  auto v = hmac_verifier();
  json c = claims();
  c["topics"] = {"room:1", "team:*"};
  Result<Claims> r = v->verify(sign(JWT_ALG_HS256, kSecret, c));
  REQUIRE(r.ok());
  CHECK(r->user == "alice");
  REQUIRE(r->expires_at);
  CHECK(*r->expires_at == TimePoint(std::chrono::seconds(c["exp"].get<long>())));
  REQUIRE(r->topics);
  CHECK(*r->topics == std::vector<std::string>{"room:1", "team:*"});

  Result<Claims> bare = v->verify(sign(JWT_ALG_HS256, kSecret, {{"sub", "bob"}}));
  REQUIRE(bare.ok());
  CHECK(!bare->expires_at);
  CHECK(!bare->topics);
}

TEST_CASE("refused: forged signature, alg none, malformed, missing or bad sub") {
  auto v = hmac_verifier();
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret + "x", claims())) == "bad signature");
  const std::string good = sign(JWT_ALG_HS256, kSecret, claims());
  std::string tampered = good;
  tampered[good.find('.') + 3] ^= 1;  // a payload character
  CHECK(!refused(*v, tampered).empty());
  const std::string none = b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims().dump()) + ".";
  CHECK(refused(*v, none) == "malformed token");  // no signature part at all
  CHECK(refused(*v, b64url(R"({"alg":"none"})") + "." + b64url(claims().dump()) + ".c2ln")
            .find("not accepted") != std::string::npos);
  CHECK(count(*v, "algorithm") == 1);
  CHECK(refused(*v, "") == "malformed token");
  CHECK(refused(*v, "abc") == "malformed token");
  CHECK(refused(*v, "a.b.c.d") == "malformed token");
  CHECK(refused(*v, "!!!." + b64url(claims().dump()) + ".sig") == "malformed token");
  CHECK(refused(*v, b64url("[1]") + "." + b64url(claims().dump()) + ".sig") == "malformed token");
  CHECK(count(*v, "malformed") == 6);
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, {{"exp", now_s() + 60}})) == "missing or invalid sub");
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, {{"sub", "has space"}})) == "missing or invalid sub");
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, {{"sub", 7}})) == "missing or invalid sub");
  CHECK(count(*v, "subject") == 3);
  json bad_topics = claims();
  bad_topics["topics"] = "room:1";
  CHECK(!refused(*v, sign(JWT_ALG_HS256, kSecret, bad_topics)).empty());
  CHECK(count(*v, "signature") >= 1);
}

TEST_CASE("time claims: exp, nbf and iat with leeway") {
  JwtOptions o;
  o.leeway = std::chrono::seconds(30);
  auto v = hmac_verifier(o);
  auto with = [](json extra) {
    json c = {{"sub", "alice"}};
    c.update(extra);
    return sign(JWT_ALG_HS256, kSecret, c);
  };
  CHECK(refused(*v, with({{"exp", now_s() - 31}})) == "token expired");
  CHECK(refused(*v, with({{"exp", now_s() - 10}})).empty());  // within leeway
  CHECK(refused(*v, with({{"nbf", now_s() + 60}})) == "token not yet valid");
  CHECK(refused(*v, with({{"nbf", now_s() + 10}})).empty());
  CHECK(refused(*v, with({{"iat", now_s() + 60}})) == "token issued in the future");
  CHECK(refused(*v, with({{"iat", now_s() + 10}})).empty());
  CHECK(refused(*v, with({{"exp", "tomorrow"}})) == "'exp' is not a number");
  CHECK(count(*v, "expired") == 1);
  CHECK(count(*v, "not_yet_valid") == 2);
}

// Found by tests/fuzz/jwt.cpp: an exp past 2262 overflowed the TimePoint it became (UB).
TEST_CASE("time claims beyond the clock's range saturate: a far exp means the latest time") {
  auto v = hmac_verifier();
  for (const json& far : {json(19000100000), json(1e300), json(9223372036854775807LL)}) {
    Result<Claims> r = v->verify(sign(JWT_ALG_HS256, kSecret, {{"sub", "alice"}, {"exp", far}}));
    REQUIRE(r.ok());
    CHECK(to_unix_ms(*r->expires_at) == kMaxUnixMs / 1000 * 1000);
  }
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, {{"sub", "alice"}, {"exp", -1e300}})) ==
        "token expired");
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, {{"sub", "alice"}, {"nbf", 1e300}})) ==
        "token not yet valid");
}

TEST_CASE("issuer and audience, when configured - aud a string or an array") {
  JwtOptions o;
  o.issuer = "https://id.example";
  o.audience = "herald";
  auto v = hmac_verifier(o);
  json c = claims();
  c["iss"] = "https://id.example";
  c["aud"] = "herald";
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, c)).empty());
  c["aud"] = {"other", "herald"};
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, c)).empty());
  c["aud"] = {"other"};
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, c)) == "wrong audience");
  c.erase("aud");
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, c)) == "wrong audience");
  c["aud"] = "herald";
  c["iss"] = "https://evil.example";
  CHECK(refused(*v, sign(JWT_ALG_HS256, kSecret, c)) == "wrong issuer");
  CHECK(count(*v, "audience") == 2);
  CHECK(count(*v, "issuer") == 1);
}

TEST_CASE("RS256 and ES256 with PEM keys - algorithm confusion is refused") {
  TempDir dir;
  const KeyPair rsa = generate("RSA"), ec = generate("EC"), other = generate("RSA");
  JwtOptions ro;
  ro.public_key_file = dir.write("rsa.pem", rsa.public_pem);
  auto rv = JwtVerifier::create(ro);
  CHECK(refused(*rv, sign(JWT_ALG_RS256, rsa.private_pem, claims())).empty());
  CHECK(refused(*rv, sign(JWT_ALG_RS256, other.private_pem, claims())) == "bad signature");
  // HS/RS confusion: an HS256 token whose "secret" is the RSA public key text.
  CHECK(refused(*rv, sign(JWT_ALG_HS256, rsa.public_pem, claims())) ==
        "HS256 tokens are not accepted here");
  // Even with an HMAC secret configured, the public key text is not that secret.
  ro.hmac_secret = kSecret;
  CHECK(refused(*JwtVerifier::create(ro), sign(JWT_ALG_HS256, rsa.public_pem, claims())) ==
        "bad signature");
  CHECK(refused(*rv, sign(JWT_ALG_ES256, ec.private_pem, claims())).find("does not match") !=
        std::string::npos);

  JwtOptions eo;
  eo.public_key_file = dir.write("ec.pem", ec.public_pem);
  auto ev = JwtVerifier::create(eo);
  CHECK(refused(*ev, sign(JWT_ALG_ES256, ec.private_pem, claims())).empty());
  CHECK(refused(*ev, sign(JWT_ALG_ES256, generate("EC").private_pem, claims())) == "bad signature");
  CHECK(refused(*ev, sign(JWT_ALG_RS256, rsa.private_pem, claims())).find("does not match") !=
        std::string::npos);
}

// RS256 and ES256 signatures are checked with OpenSSL and the key parsed at load (not by
// libjwt): only the exact JWS forms verify, whatever else the third part holds.
TEST_CASE("RS256 and ES256: a signature of another size or shape is refused") {
  TempDir dir;
  const KeyPair rsa = generate("RSA"), ec = generate("EC");
  JwtOptions ro, eo;
  ro.public_key_file = dir.write("rsa.pem", rsa.public_pem);
  eo.public_key_file = dir.write("ec.pem", ec.public_pem);
  auto rv = JwtVerifier::create(ro), ev = JwtVerifier::create(eo);
  auto with_signature = [](const std::string& token, const std::string& signature) {
    return token.substr(0, token.rfind('.') + 1) + signature;
  };
  auto signature_of = [](const std::string& token) {
    return b64url_decode(token.substr(token.rfind('.') + 1));
  };
  const std::string rs = sign(JWT_ALG_RS256, rsa.private_pem, claims());
  const std::string es = sign(JWT_ALG_ES256, ec.private_pem, claims());
  REQUIRE(refused(*rv, rs).empty());
  REQUIRE(refused(*ev, es).empty());
  const std::string raw = signature_of(es);
  REQUIRE(raw.size() == 64);  // R || S
  std::string flipped = signature_of(rs);
  flipped[10] = static_cast<char>(flipped[10] ^ 1);
  for (const std::string& bad :
       {with_signature(rs, b64url(flipped)), with_signature(rs, b64url(signature_of(rs) + "x")),
        with_signature(rs, "*")}) {
    CAPTURE(bad);
    CHECK(refused(*rv, bad) == "bad signature");
  }
  CHECK(refused(*rv, with_signature(rs, "")) == "malformed token");
  // R and S as a DER SEQUENCE (OpenSSL's own form) are not the JWS form.
  std::string der = "\x30\x44\x02\x20" + raw.substr(0, 32) + "\x02\x20" + raw.substr(32);
  for (const std::string& bad :
       {with_signature(es, b64url(raw.substr(0, 63))), with_signature(es, b64url(raw + raw)),
        with_signature(es, b64url(std::string(64, '\0'))), with_signature(es, b64url(der))}) {
    CAPTURE(bad);
    CHECK(refused(*ev, bad) == "bad signature");
  }
  CHECK(count(*ev, "signature") == 4);
}

TEST_CASE("JWKS: the kid picks the key - unknown kid refused - reload adds a key") {
  TempDir dir;
  const KeyPair k1 = generate("RSA"), k2 = generate("EC"), k3 = generate("RSA");
  json j1 = k1.jwk, j2 = k2.jwk, j3 = k3.jwk;
  j1["kid"] = "one";
  j2["kid"] = "two";
  j3["kid"] = "three";
  JwtOptions o;
  o.jwks_file = dir.write("jwks.json", json{{"keys", {j1, j2}}}.dump());
  auto v = JwtVerifier::create(o);
  CHECK(refused(*v, sign(JWT_ALG_RS256, k1.private_pem, claims(), "one")).empty());
  CHECK(refused(*v, sign(JWT_ALG_ES256, k2.private_pem, claims(), "two")).empty());
  CHECK(refused(*v, sign(JWT_ALG_RS256, k1.private_pem, claims(), "two")).find("does not match") !=
        std::string::npos);
  CHECK(refused(*v, sign(JWT_ALG_RS256, k3.private_pem, claims(), "one")) == "bad signature");
  CHECK(refused(*v, sign(JWT_ALG_RS256, k3.private_pem, claims(), "three")) == "unknown key id");
  CHECK(refused(*v, sign(JWT_ALG_RS256, k1.private_pem, claims())) ==
        "the token names no key (kid)");
  CHECK(count(*v, "unknown_key") == 2);

  // A broken file keeps the old keys; a good one with a third key adds it.
  dir.write("jwks.json", "{not json");
  Status bad = v->reload();
  CHECK(!bad.ok());
  CHECK(bad.message().find("jwks.json") != std::string::npos);
  CHECK(refused(*v, sign(JWT_ALG_RS256, k1.private_pem, claims(), "one")).empty());
  dir.write("jwks.json", json{{"keys", {j1, j2, j3}}}.dump());
  CHECK(v->reload().ok());
  CHECK(refused(*v, sign(JWT_ALG_RS256, k3.private_pem, claims(), "three")).empty());
}

TEST_CASE("create() says what to fix when keys are unusable") {
  TempDir dir;
  auto message = [](JwtOptions o) {
    try {
      JwtVerifier::create(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message({}).find("--jwt-secret") != std::string::npos);
  JwtOptions short_secret;
  short_secret.hmac_secret = "short";
  CHECK(message(short_secret).find("at least 32 bytes") != std::string::npos);
  JwtOptions missing;
  missing.public_key_file = dir.path + "/nope.pem";
  CHECK(message(missing).find("cannot be read") != std::string::npos);
  JwtOptions not_pem;
  not_pem.public_key_file = dir.write("bad.pem", "hello");
  CHECK(message(not_pem).find("BEGIN PUBLIC KEY") != std::string::npos);
  JwtOptions private_only;
  private_only.public_key_file = dir.write("priv.pem", generate("EC").private_pem);
  CHECK(!message(private_only).empty());
  JwtOptions no_kid;
  no_kid.jwks_file = dir.write("jwks.json", json{{"keys", {generate("RSA").jwk}}}.dump());
  CHECK(message(no_kid).find("kid") != std::string::npos);
  JwtOptions bad_ec;
  json broken = generate("EC").jwk;
  broken["kid"] = "k";
  broken["x"] = broken["y"];  // not a point of the curve
  bad_ec.jwks_file = dir.write("ec.json", json{{"keys", {broken}}}.dump());
  CHECK(message(bad_ec).find("not a valid EC public key") != std::string::npos);
}

TEST_CASE("jwt_authenticator: Authorization, ?token=, Sec-WebSocket-Protocol") {
  auto v = hmac_verifier();
  json c = claims("carol");
  c["topics"] = {"room:*"};
  const std::string token = sign(JWT_ALG_HS256, kSecret, c);
  Authenticator auth = jwt_authenticator(v);
  auto run = [&](const Handshake& h) {
    AuthResult out;
    auth(h, [&](AuthResult r) { out = std::move(r); });
    return out;
  };
  Handshake bearer;
  bearer.headers["authorization"] = "Bearer " + token;
  AuthResult a = run(bearer);
  CHECK(a.ok);
  CHECK(a.user == "carol");
  CHECK(a.expires_at);
  REQUIRE(a.topics);
  CHECK(*a.topics == std::vector<std::string>{"room:*"});
  Handshake query;
  query.query["token"] = token;
  CHECK(run(query).ok);
  Handshake protocol;
  protocol.headers["sec-websocket-protocol"] = "herald.token, " + token;
  CHECK(run(protocol).ok);
  CHECK(token_of(protocol) == token);
  // Made from options directly, for hosts that need no reload.
  JwtOptions from_options;
  from_options.hmac_secret = kSecret;
  AuthResult direct;
  jwt_authenticator(from_options)(bearer, [&](AuthResult r) { direct = std::move(r); });
  CHECK(direct.ok);
  CHECK(direct.user == "carol");
  Handshake none;
  AuthResult n = run(none);
  CHECK(!n.ok);
  CHECK(n.reason.find("no token") != std::string::npos);
  Handshake forged;
  forged.headers["authorization"] = "bearer " + sign(JWT_ALG_HS256, kSecret + "!", c);
  AuthResult f = run(forged);
  CHECK(!f.ok);
  CHECK(f.reason == "invalid token: bad signature");
}
