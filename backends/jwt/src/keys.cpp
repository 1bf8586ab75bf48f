// Reading PEM and JWKS files into PEM public keys (keys.hpp). OpenSSL builds the keys from
// the JWK parameters and writes them as PEM; nothing here verifies a signature.

#include "keys.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace herald::jwt {

namespace {

using json = nlohmann::json;

struct Free {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
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

std::string pem_of(EVP_PKEY* key) {
  Owned<BIO> out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key) != 1) throw Error("cannot write a PEM key");
  std::string pem(BIO_ctrl_pending(out.get()), '\0');
  if (BIO_read(out.get(), pem.data(), static_cast<int>(pem.size())) != static_cast<int>(pem.size()))
    throw Error("cannot write a PEM key");
  return pem;
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
  return {pem_of(key.get()), alg_of(key.get(), where)};
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
    keys.by_kid[jwk["kid"].get<std::string>()] = {pem_of(key.get()), alg_of(key.get(), where)};
  }
  if (keys.by_kid.empty()) throw Error(file + ": no RS256 or ES256 signing key in it");
}

}  // namespace

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
