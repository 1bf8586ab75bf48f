// Fuzz target: the JWT verifier (backends/jwt, herald::jwt::JwtVerifier) with an HS256
// secret and an EC P-256 public key (generated at start). Three ways in:
// - the input is the token, any bytes (libjwt and the verifier parse it);
// - the input is a JOSE header and a claims set, JSON text separated by a NUL, which the
//   target signs with the secret (HS256) or the EC key (ES256), so that the claim checks
//   (exp, nbf, iat, sub, the topics claim) see arbitrary claims behind a valid signature;
// - the input is the signature of an ES256 token: any bytes, which the verifier turns from
//   the JWS form (R || S) into OpenSSL's before checking.
// And token_of(): where a handshake carries the token (Authorization, ?token=, subprotocols).
//
// Invariants: verify() never throws; a valid token names a valid user id and only non-empty
// topics; every refusal is counted once; a signature the key did not make is refused.

#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "herald/jwt/jwt.hpp"
#include "check.hpp"

using namespace herald;

namespace {

const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-secret!";  // >= 32 bytes

// The EC P-256 key pair of the ES256 tokens, made once.
EVP_PKEY* ec_key() {
  static EVP_PKEY* const key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  return key;
}

// The public half as a PEM file the verifier reads (removed at once: it is read at create).
std::string write_public_pem() {
  char path[] = "/tmp/herald-fuzz-jwt-XXXXXX";
  const int fd = mkstemp(path);
  FILE* f = fd < 0 ? nullptr : fdopen(fd, "w");
  if (!f || PEM_write_PUBKEY(f, ec_key()) != 1) std::abort();
  std::fclose(f);
  return path;
}

const jwt::JwtVerifier& verifier() {
  static const std::shared_ptr<jwt::JwtVerifier> v = [] {
    jwt::JwtOptions options;
    options.hmac_secret = kSecret;
    options.public_key_file = write_public_pem();
    auto created = jwt::JwtVerifier::create(options);
    std::remove(options.public_key_file.c_str());
    return created;
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

// header.claims.signature, ES256 with the EC key: OpenSSL's DER signature as R || S.
std::string es256_token(const std::string& header, const std::string& claims) {
  const std::string input = base64url(header) + "." + base64url(claims);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char der[128];
  std::size_t length = sizeof der;
  if (!ctx || EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, ec_key()) != 1 ||
      EVP_DigestSign(ctx, der, &length, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    std::abort();
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(length));
  unsigned char raw[64];
  if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) != 32)
    std::abort();
  ECDSA_SIG_free(sig);
  return input + "." + base64url(std::string(reinterpret_cast<char*>(raw), sizeof raw));
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
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      verify(in.ConsumeRemainingBytesAsString());
      break;
    case 1: {
      const bool es256 = in.ConsumeBool();
      const std::string rest = in.ConsumeRemainingBytesAsString();
      const std::size_t nul = rest.find('\0');
      const std::string header = nul != std::string::npos ? rest.substr(0, nul)
                                 : es256                  ? R"({"alg":"ES256"})"
                                                          : R"({"alg":"HS256"})";
      const std::string claims = nul == std::string::npos ? rest : rest.substr(nul + 1);
      verify(es256 ? es256_token(header, claims) : signed_token(header, claims));
      break;
    }
    case 2: {
      const std::string signature = in.ConsumeRemainingBytesAsString();
      const std::string token = base64url(R"({"alg":"ES256"})") + "." +
                                base64url(R"({"sub":"u","exp":9999999999})") + "." +
                                base64url(signature);
      const Result<jwt::Claims> claims = verifier().verify(token);
      CHECK(!claims.ok());  // no input forges the key's signature
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
