#pragma once
// Verification keys of herald::jwt: PEM and JWKS files read into PEM text that libjwt
// verifies with (keys.cpp, on OpenSSL). Internal.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "herald/jwt/jwt.hpp"

namespace herald::jwt {

/// The JWS algorithms herald accepts.
enum class Alg { hs256, rs256, es256 };

/// A public key as PEM text and the one algorithm it verifies.
struct PublicKey {
  std::string pem;
  Alg alg = Alg::rs256;
};

struct JwtVerifier::Keys {
  std::optional<PublicKey> pem_key;          // JwtOptions::public_key_file
  std::map<std::string, PublicKey> by_kid;   // JwtOptions::jwks_file
  bool has_jwks = false;                     // a JWKS file is configured
};

/// Reads the PEM and JWKS files of `options`. Throws herald::Error naming the file and what
/// to fix.
std::shared_ptr<const JwtVerifier::Keys> read_keys(const JwtOptions& options);

/// base64url without padding (RFC 7515); nullopt on a character outside the alphabet.
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace herald::jwt
