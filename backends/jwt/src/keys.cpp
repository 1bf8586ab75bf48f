// Reading PEM and JWKS files into OpenSSL public keys, and the RS256/ES256 signature check
// with them (keys.hpp). The keys are parsed once, when the files are read: libjwt takes a
// key as PEM text on every call, and decoding PEM with OpenSSL 3 cost ~400 us per token.

#include "keys.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

namespace herald::jwt {

namespace {

using json = nlohmann::json;

struct Free {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(std::string(what) + " '" + path + "': cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// RS256 for an RSA key (2048 bits or more), ES256 for a P-256 key; else throws.
Alg alg_of(EVP_PKEY* key, const std::string& where) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < 2048)
      throw Error(where + ": the RSA key has fewer than 2048 bits; use a longer one");
    return Alg::rs256;
  }
  char group[64] = {};
  if (EVP_PKEY_is_a(key, "EC") &&
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     nullptr) == 1 &&
      std::string(group) == "prime256v1")
    return Alg::es256;
  throw Error(where + ": the key is neither RSA (RS256) nor EC P-256 (ES256)");
}

PublicKey read_pem(const std::string& path) {
  const std::string text = read_file(path, "--jwt-public-key");
  Owned<BIO> in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  Owned<EVP_PKEY> key(in ? PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr) : nullptr);
  const std::string where = "public key file '" + path + "'";
  if (!key)
    throw Error(where + ": no PEM public key in it (expected -----BEGIN PUBLIC KEY-----; "
                        "`openssl pkey -pubout` writes one)");
  const Alg alg = alg_of(key.get(), where);
  return {std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free), alg};
}

// A JWK member holding a base64url big-endian number.
std::string member(const json& jwk, const char* name, const std::string& where) {
  auto it = jwk.find(name);
  std::optional<std::string> bytes;
  if (it != jwk.end() && it->is_string()) bytes = base64url_decode(it->get<std::string>());
  if (!bytes || bytes->empty())
    throw Error(where + ": '" + name + "' is missing or not base64url");
  return *bytes;
}

Owned<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* build, const std::string& where) {
  Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(build));
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    throw Error(where + ": not a valid " + type + " public key");
  Owned<EVP_PKEY> owned(key);
  Owned<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    throw Error(where + ": not a valid " + type + " public key");
  return owned;
}

Owned<EVP_PKEY> rsa_key(const json& jwk, const std::string& where) {
  const std::string n = member(jwk, "n", where), e = member(jwk, "e", where);
  auto bn = [](const std::string& b) {
    return Owned<BIGNUM>(BN_bin2bn(reinterpret_cast<const unsigned char*>(b.data()),
                                   static_cast<int>(b.size()), nullptr));
  };
  Owned<BIGNUM> bn_n = bn(n), bn_e = bn(e);
  Owned<OSSL_PARAM_BLD> build(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !build ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    throw Error(where + ": cannot build the RSA key");
  return from_params("RSA", build.get(), where);
}

Owned<EVP_PKEY> ec_key(const json& jwk, const std::string& where) {
  if (jwk.value("crv", "") != "P-256") throw Error(where + ": only the EC curve P-256 is supported");
  const std::string x = member(jwk, "x", where), y = member(jwk, "y", where);
  if (x.size() != 32 || y.size() != 32) throw Error(where + ": x and y must be 32 bytes each");
  const std::string point = std::string(1, '\x04') + x + y;  // uncompressed SEC1 point
  Owned<OSSL_PARAM_BLD> build(OSSL_PARAM_BLD_new());
  if (!build ||
      OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1)
    throw Error(where + ": cannot build the EC key");
  return from_params("EC", build.get(), where);
}

// Keys for encryption ("use":"enc") or of algorithms herald does not accept are skipped.
bool usable(const json& jwk) {
  if (jwk.value("use", "sig") != "sig") return false;
  const std::string alg = jwk.value("alg", "");
  return alg.empty() || alg == "RS256" || alg == "ES256";
}

void read_jwks(const std::string& path, JwtVerifier::Keys& keys) {
  const json set = json::parse(read_file(path, "--jwt-jwks"), nullptr, false);
  const std::string file = "JWKS file '" + path + "'";
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array())
    throw Error(file + ": expected a JSON object {\"keys\":[…]}");
  for (std::size_t i = 0; i < set["keys"].size(); ++i) {
    const json& jwk = set["keys"][i];
    const std::string where = file + " key " + std::to_string(i);
    if (!jwk.is_object() || !usable(jwk)) continue;
    if (!jwk.contains("kid") || !jwk["kid"].is_string() || jwk["kid"].get<std::string>().empty())
      throw Error(where + ": every key needs a \"kid\"");
    const std::string kty = jwk.value("kty", "");
    Owned<EVP_PKEY> key;
    if (kty == "RSA") key = rsa_key(jwk, where);
    else if (kty == "EC") key = ec_key(jwk, where);
    else continue;  // e.g. "oct": never published in a JWKS of public keys
    const Alg alg = alg_of(key.get(), where);
    keys.by_kid[jwk["kid"].get<std::string>()] = {
        std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free), alg};
  }
  if (keys.by_kid.empty()) throw Error(file + ": no RS256 or ES256 signing key in it");
}

// An ES256 signature (R || S, 32 bytes each) in the DER form OpenSSL verifies; "" if it is
// not 64 bytes.
std::string ecdsa_der(std::string_view raw) {
  if (raw.size() != 64) return {};
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  Owned<ECDSA_SIG> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {  // set0 owns r, s on success
    BN_free(r);
    BN_free(s);
    return {};
  }
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return {};
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(sig.get(), &out) == size ? der : std::string();
}

}  // namespace

bool signature_verifies(const PublicKey& key, std::string_view input, std::string_view signature) {
  std::string der;
  if (key.alg == Alg::es256) {
    der = ecdsa_der(signature);
    if (der.empty()) return false;
    signature = der;
  }
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx && key.key &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.key.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  if (!ok) ERR_clear_error();  // a forged token must not grow this thread's error queue
  return ok;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  if (count >= 6) return std::nullopt;  // a lone trailing character encodes no byte
  return out;
}

std::shared_ptr<const JwtVerifier::Keys> read_keys(const JwtOptions& options) {
  auto keys = std::make_shared<JwtVerifier::Keys>();
  if (!options.public_key_file.empty()) keys->pem_key = read_pem(options.public_key_file);
  if (!options.jwks_file.empty()) {
    keys->has_jwks = true;
    read_jwks(options.jwks_file, *keys);
  }
  return keys;
}

}  // namespace herald::jwt
