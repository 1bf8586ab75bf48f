#pragma once
// Verification keys of herald::jwt: PEM and JWKS files read into OpenSSL keys, parsed once
// when the files are read (keys.cpp), and the RS256/ES256 signature check with them.
// Internal.

#include <openssl/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "herald/jwt/jwt.hpp"

namespace herald::jwt {

/// The JWS algorithms herald accepts.
enum class Alg { hs256, rs256, es256 };

/// A public key and the one algorithm it verifies (RS256: RSA of 2048 bits or more, ES256:
/// EC P-256). Immutable once read, so any number of threads verify with it at once.
struct PublicKey {
  std::shared_ptr<EVP_PKEY> key;
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

/// Whether `signature` (the decoded third part of a JWS) signs `input` ("<header>.<payload>"
/// as sent) with `key` by its algorithm: RSASSA-PKCS1-v1_5 with SHA-256 (RS256), or ECDSA
/// P-256 with SHA-256 with the signature as the 64 bytes R || S (ES256, RFC 7518 §3.4).
bool signature_verifies(const PublicKey& key, std::string_view input, std::string_view signature);

}  // namespace herald::jwt
