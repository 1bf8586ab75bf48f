#pragma once
// Test keys and tokens for herald::jwt's tests: keys generated with OpenSSL at test time,
// written as PEM and JWK into a temporary directory; tokens signed with libjwt's encoder.

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace herald::jwt::test {

using json = nlohmann::json;

inline std::string b64url(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) out.push_back(alphabet[(bits >> (count -= 6)) & 63]);
  }
  if (count > 0) out.push_back(alphabet[(bits << (6 - count)) & 63]);
  return out;
}

/// The bytes of base64url text without padding (RFC 7515), decoded by OpenSSL.
inline std::string b64url_decode(std::string text) {
  for (char& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  const std::size_t padding = (4 - text.size() % 4) % 4;
  text.append(padding, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n) - padding);  // DecodeBlock keeps pad bytes
  return out;
}

/// A generated key pair: PEM texts, and the public half as a JWK (without kid).
struct KeyPair {
  std::string private_pem;
  std::string public_pem;
  json jwk;
};

inline std::string bio_text(BIO* bio) {
  std::string s(BIO_ctrl_pending(bio), '\0');
  BIO_read(bio, s.data(), static_cast<int>(s.size()));
  return s;
}

inline std::string bn_param(EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string bytes(pad > 0 ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  if (pad > 0) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), pad);
  else BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return b64url(bytes);
}

/// "RSA" (2048 bits) or "EC" (P-256).
inline KeyPair generate(const std::string& type) {
  EVP_PKEY* key = type == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                                : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  KeyPair out;
  std::unique_ptr<BIO, decltype(&BIO_free)> priv(BIO_new(BIO_s_mem()), &BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> pub(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(priv.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub.get(), key);
  out.private_pem = bio_text(priv.get());
  out.public_pem = bio_text(pub.get());
  if (type == "RSA")
    out.jwk = {{"kty", "RSA"}, {"n", bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0)},
               {"e", bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0)}};
  else
    out.jwk = {{"kty", "EC"}, {"crv", "P-256"}, {"x", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)},
               {"y", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)}};
  EVP_PKEY_free(key);
  return out;
}

/// A token with `claims`, signed by libjwt with `alg` and `key` (a secret or a private PEM).
inline std::string sign(jwt_alg_t alg, const std::string& key, const json& claims,
                        const std::string& kid = "") {
  jwt_t* j = nullptr;
  jwt_new(&j);
  jwt_add_grants_json(j, claims.dump().c_str());
  if (!kid.empty()) jwt_add_header(j, "kid", kid.c_str());
  jwt_set_alg(j, alg, reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
  char* text = jwt_encode_str(j);
  std::string out = text ? text : "";
  std::free(text);
  jwt_free(j);
  return out;
}

/// A directory removed with its files at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/herald-jwt-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path + "/" + name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
};

inline long now_s() { return static_cast<long>(std::time(nullptr)); }

}  // namespace herald::jwt::test
