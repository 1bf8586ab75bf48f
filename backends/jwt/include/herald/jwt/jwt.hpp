#pragma once
// herald::jwt — verifies users' JSON Web Tokens (HS256, RS256, ES256) and turns them into
// herald's AuthResult. Built with HERALD_WITH_JWT (libjwt checks HS256, OpenSSL RS256 and
// ES256 with keys parsed once; both private: this header includes neither). Policy and
// conventions: docs/security.md.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/engine.hpp"
#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/model.hpp"
#include "herald/time.hpp"

namespace herald::jwt {

/// Where the verification keys come from and what a token must say. At least one of
/// hmac_secret, public_key_file and jwks_file must be set.
struct JwtOptions {
  /// Shared secret for HS256 tokens (at least 32 bytes); empty: HS256 is refused.
  std::string hmac_secret;
  /// A PEM public key ("-----BEGIN PUBLIC KEY-----"), RSA (RS256 tokens) or EC P-256
  /// (ES256 tokens); used for tokens without a `kid`, or whose kid no JWKS key has.
  std::string public_key_file;
  /// A JSON Web Key Set file ({"keys":[{"kty":"RSA","kid":…,"n":…,"e":…},
  /// {"kty":"EC","crv":"P-256","kid":…,"x":…,"y":…}]}); a token's `kid` picks its key.
  std::string jwks_file;
  /// Required `iss` when set; empty: not checked.
  std::string issuer;
  /// Required `aud` (a string, or an array that must contain it) when set; empty: not checked.
  std::string audience;
  /// Clock skew tolerated on exp, nbf and iat.
  std::chrono::seconds leeway{30};
  /// The claim holding the topics a token grants: an array of topic names and `prefix*`
  /// patterns (herald::topic_allowed). Absent from a token: no limit.
  std::string topics_claim = "topics";
};

/// What a valid token says.
struct Claims {
  UserId user;                                         // `sub`, a valid herald user id
  std::optional<TimePoint> expires_at;                 // `exp`; nullopt: the token has none
  std::optional<std::vector<std::string>> topics;      // the topics claim; nullopt: absent
};

/// Why tokens were refused, one counter each (labels of refusal_counts()).
enum class Refusal : std::uint8_t {
  malformed,      // not three base64url parts of JSON, or a claim of the wrong type
  algorithm,      // alg none, or an algorithm no configured key is for
  unknown_key,    // a kid no key has
  signature,      // the signature does not verify
  expired,        // exp + leeway is past
  not_yet_valid,  // nbf - leeway (or iat - leeway) is in the future
  issuer,         // iss differs from JwtOptions::issuer
  audience,       // aud does not name JwtOptions::audience
  subject,        // sub missing or not a valid user id
  count_
};

/// Verifies tokens with the keys of a JwtOptions. Thread-safe: verify() and reload() may be
/// called from any number of threads at once.
class HERALD_API JwtVerifier {
 public:
  /// Reads the keys. Throws herald::Error saying what to fix when none is configured or a
  /// key is unusable (a short secret, an unreadable file, a key of an unsupported type).
  static std::shared_ptr<JwtVerifier> create(JwtOptions options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  /// The claims of a valid token, or Errc::unauthorized with a short reason (never a key)
  /// and the matching refusal counted.
  Result<Claims> verify(std::string_view token) const;

  /// Re-reads public_key_file and jwks_file and swaps the keys in at once. On failure the
  /// old keys stay and the Status says what is wrong.
  Status reload();

  /// (label, count) of every Refusal, e.g. ("expired", 3); labels are the enum's names.
  std::vector<std::pair<std::string, std::uint64_t>> refusal_counts() const;

  struct Keys;  // defined in the implementation

 private:
  explicit JwtVerifier(JwtOptions options);
  Status refuse(Refusal reason, std::string why) const;

  JwtOptions options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Keys> keys_;  // guarded by mutex_; swapped whole by reload()
  mutable std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Refusal::count_)>
      refusals_{};
};

/// The label of a refusal reason ("expired", …).
HERALD_API const char* to_string(Refusal reason) noexcept;

/// A herald::Authenticator on `verifier`. The token is taken from, in order:
/// `Authorization: Bearer <token>`; the `token` query parameter; the Sec-WebSocket-Protocol
/// header offering `herald.token, <token>` (browsers cannot set headers). Answers
/// AuthResult::allow(sub) with expires_at and topics from the token, or refuse(reason).
HERALD_API Authenticator jwt_authenticator(std::shared_ptr<const JwtVerifier> verifier);
/// The same on a verifier made from `options` (JwtVerifier::create: throws herald::Error
/// when the keys are unusable). Keep the verifier yourself to reload() it or read its
/// refusal counts.
HERALD_API Authenticator jwt_authenticator(JwtOptions options);

/// The token of a handshake by the rules above; empty if none.
HERALD_API std::string token_of(const Handshake& handshake);

}  // namespace herald::jwt
