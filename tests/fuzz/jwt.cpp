// Fuzz target: the JWT verifier (backends/jwt, herald::jwt::JwtVerifier) with an HS256
// secret. Two ways in:
// - the input is the token, any bytes (libjwt and the verifier parse it);
// - the input is a JOSE header and a claims set, JSON text separated by a NUL, which the
//   target signs with the secret, so that the claim checks (exp, nbf, iat, sub, the topics
//   claim) see arbitrary claims behind a valid signature.
// And token_of(): where a handshake carries the token (Authorization, ?token=, subprotocols).
//
// Invariants: verify() never throws; a valid token names a valid user id and only non-empty
// topics; every refusal is counted once.

#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "herald/jwt/jwt.hpp"
#include "check.hpp"

using namespace herald;

namespace {

const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-secret!";  // >= 32 bytes

const jwt::JwtVerifier& verifier() {
  static const std::shared_ptr<jwt::JwtVerifier> v = [] {
    jwt::JwtOptions options;
    options.hmac_secret = kSecret;
    return jwt::JwtVerifier::create(options);
  }();
  return *v;
}

std::string base64url(const std::string& bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) out += kAlphabet[(bits >> (count -= 6)) & 0x3F];
  }
  if (count > 0) out += kAlphabet[(bits << (6 - count)) & 0x3F];
  return out;
}

// header.claims.signature, HS256 with the verifier's secret.
std::string signed_token(const std::string& header, const std::string& claims) {
  const std::string input = base64url(header) + "." + base64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return input + "." + base64url(std::string(reinterpret_cast<char*>(mac), length));
}

std::uint64_t refusals() {
  std::uint64_t sum = 0;
  for (const auto& [label, count] : verifier().refusal_counts()) sum += count;
  return sum;
}

void verify(const std::string& token) {
  const std::uint64_t before = refusals();
  const Result<jwt::Claims> claims = verifier().verify(token);
  CHECK(refusals() == before + (claims.ok() ? 0 : 1));
  if (!claims.ok()) return;
  CHECK(valid_name(claims->user));
  if (claims->topics)
    for (const std::string& t : *claims->topics) CHECK(!t.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0:
      verify(in.ConsumeRemainingBytesAsString());
      break;
    case 1: {
      const std::string rest = in.ConsumeRemainingBytesAsString();
      const std::size_t nul = rest.find('\0');
      const std::string header = nul == std::string::npos ? R"({"alg":"HS256"})" : rest.substr(0, nul);
      verify(signed_token(header, nul == std::string::npos ? rest : rest.substr(nul + 1)));
      break;
    }
    default: {
      Handshake h;
      h.headers["authorization"] = in.ConsumeRandomLengthString(256);
      h.headers["sec-websocket-protocol"] = in.ConsumeRandomLengthString(256);
      if (in.ConsumeBool()) h.query["token"] = in.ConsumeRandomLengthString(256);
      const std::string token = jwt::token_of(h);
      CHECK(token.find(',') == std::string::npos || h.query.count("token") ||
            h.headers["authorization"].find(',') != std::string::npos);
      verify(token);
    }
  }
  return 0;
}
