// What a user token adds to each WebSocket handshake: the CPU of JwtVerifier::verify for
// HS256, RS256 and ES256 tokens (keys made here, tokens signed with libjwt), against the
// development authenticator's query lookup. Prints figures; asserts nothing; bounded loops.
// Usage: herald_jwt_bench [verifications per algorithm]
#include <chrono>
#include <cstdio>
#include <string>

#include "herald/jwt/jwt.hpp"
#include "jwt_keys.hpp"  // backends/jwt/tests: key generation and signing

namespace {

using Clock = std::chrono::steady_clock;

// Runs `verify` n times; prints verifications per second and microseconds each.
template <class Verify>
void measure(const char* name, std::size_t n, Verify verify) {
  std::size_t ok = 0;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) ok += verify();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%-10s %8zu verified (%zu ok) in %.3f s = %9.0f/s, %7.2f us each\n", name, n, ok,
              secs, static_cast<double>(n) / secs, 1e6 * secs / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 20'000;
  const herald::jwt::test::json claims = {{"sub", "alice"}, {"exp", herald::jwt::test::now_s() + 3600}};
  herald::jwt::test::TempDir dir;

  const std::string secret(32, 's');
  herald::jwt::JwtOptions hs;
  hs.hmac_secret = secret;
  auto hs_verifier = herald::jwt::JwtVerifier::create(hs);
  const std::string hs_token = herald::jwt::test::sign(JWT_ALG_HS256, secret, claims);

  auto verifier_for = [&](const herald::jwt::test::KeyPair& key, const char* file) {
    herald::jwt::JwtOptions o;
    o.public_key_file = dir.write(file, key.public_pem);
    return herald::jwt::JwtVerifier::create(o);
  };
  const auto rsa = herald::jwt::test::generate("RSA");
  const auto ec = herald::jwt::test::generate("EC");
  auto rs_verifier = verifier_for(rsa, "rsa.pem");
  auto es_verifier = verifier_for(ec, "ec.pem");
  const std::string rs_token = herald::jwt::test::sign(JWT_ALG_RS256, rsa.private_pem, claims);
  const std::string es_token = herald::jwt::test::sign(JWT_ALG_ES256, ec.private_pem, claims);

  herald::Handshake dev;
  dev.query["userId"] = "alice";
  const herald::Authenticator dev_auth = herald::dev_authenticator();
  measure("dev-auth", n, [&] {
    bool ok = false;
    dev_auth(dev, [&ok](herald::AuthResult r) { ok = r.ok; });
    return ok;
  });
  measure("HS256", n, [&] { return hs_verifier->verify(hs_token).ok(); });
  measure("RS256", n, [&] { return rs_verifier->verify(rs_token).ok(); });
  measure("ES256", n, [&] { return es_verifier->verify(es_token).ok(); });
}
