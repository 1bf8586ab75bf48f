#pragma once
// Users' tokens for the end-to-end tests: HS256 JSON Web Tokens signed with libjwt.

#include <jwt.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "e2e_helpers.hpp"

namespace herald::server::test {

inline long now_s() {
  return static_cast<long>(std::time(nullptr));
}

/// The credentials herald-server gets in the token tests: a server key (NAME=SECRET, sent
/// as its SECRET) and the HMAC secret users' tokens are signed with.
inline const std::string kKey = "backend=0123456789abcdef0123";
inline const std::string kKeySecret = "0123456789abcdef0123";
inline const std::string kSecret = "jwt-secret-0123456789abcdef-0123456789";

/// The header that presents `token`.
inline HttpClient::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// `claims` signed with `key` by `alg` (an HMAC secret, or a private key in PEM).
inline std::string sign_jwt(const json& claims, jwt_alg_t alg, const std::string& key) {
  jwt_t* j = nullptr;
  jwt_new(&j);
  jwt_add_grants_json(j, claims.dump().c_str());
  jwt_set_alg(j, alg, reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* text = jwt_encode_str(j);
  std::string out = text ? text : "";
  std::free(text);
  jwt_free(j);
  return out;
}

/// `claims` signed with `secret` (HS256).
inline std::string sign_hs256(const json& claims, const std::string& secret = kSecret) {
  return sign_jwt(claims, JWT_ALG_HS256, secret);
}

}  // namespace herald::server::test
