// JwtVerifier and jwt_authenticator (herald/jwt/jwt.hpp). The algorithm and key are chosen
// here first (never by the token alone); then libjwt checks an HS256 signature, and an RS256
// or ES256 one is checked with the key parsed when it was read (keys.hpp: libjwt would decode
// the PEM text again for every token); the claims are checked here after.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <jwt.h>
#include <nlohmann/json.hpp>

#include "herald/jwt/jwt.hpp"
#include "keys.hpp"

namespace herald::jwt {

namespace {

using json = nlohmann::json;
constexpr std::size_t kMinSecretBytes = 32;  // RFC 7518 3.2: at least the hash's size

const char* const kRefusalNames[] = {"malformed", "algorithm", "unknown_key",
                                     "signature", "expired",   "not_yet_valid",
                                     "issuer",    "audience",  "subject"};
static_assert(sizeof kRefusalNames / sizeof *kRefusalNames ==
              static_cast<std::size_t>(Refusal::count_));

const char* name_of(Alg a) { return a == Alg::hs256 ? "HS256" : a == Alg::rs256 ? "RS256" : "ES256"; }

// Part `index` of a token (0: the JOSE header, 1: the claims) as JSON; null if it is not
// base64url JSON. Precondition: three_parts(token).
json json_part(std::string_view token, int index) {
  for (int i = 0; i < index; ++i) token.remove_prefix(token.find('.') + 1);
  const std::optional<std::string> text = base64url_decode(token.substr(0, token.find('.')));
  return text ? json::parse(*text, nullptr, false) : json(nullptr);
}

bool three_parts(std::string_view token) {
  const std::size_t a = token.find('.');
  const std::size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  return b != std::string_view::npos && token.find('.', b + 1) == std::string_view::npos &&
         a > 0 && b > a + 1 && b + 1 < token.size();
}

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};

// Whether libjwt verifies the token as HS256 with `secret`.
bool hmac_verifies(std::string_view token, const std::string& secret) {
  jwt_t* raw = nullptr;
  const std::string text(token);
  const int rc =
      jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                 static_cast<int>(secret.size()));
  std::unique_ptr<jwt_t, JwtFree> decoded(raw);
  return rc == 0 && decoded && jwt_get_alg(decoded.get()) == JWT_ALG_HS256;
}

// A NumericDate claim in whole seconds; nullopt if absent; throws if it is no number. Saturated
// to the seconds a TimePoint holds (1677..2262), as from_unix_ms does, so that a far "exp"
// (a year 9999 sentinel) means "the latest time" and the arithmetic on it cannot overflow.
std::optional<std::int64_t> seconds_claim(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()))
    throw std::invalid_argument(std::string("'") + name + "' is not a number");
  constexpr double kMin = kMinUnixMs / 1000, kMax = kMaxUnixMs / 1000;
  return static_cast<std::int64_t>(std::clamp(std::floor(it->get<double>()), kMin, kMax));
}

bool audience_matches(const json& aud, const std::string& wanted) {
  if (aud.is_string()) return aud.get<std::string>() == wanted;
  if (!aud.is_array()) return false;
  for (const json& a : aud)
    if (a.is_string() && a.get<std::string>() == wanted) return true;
  return false;
}

struct Refused {
  Refusal reason;
  std::string why;
};

// exp, nbf, iat, iss, aud, sub and the topics claim of a token whose signature verified.
std::optional<Refused> check_claims(const json& claims, const JwtOptions& options, Claims& out) {
  std::optional<std::int64_t> exp, nbf, iat;
  try {
    exp = seconds_claim(claims, "exp");
    nbf = seconds_claim(claims, "nbf");
    iat = seconds_claim(claims, "iat");
  } catch (const std::invalid_argument& e) {
    return Refused{Refusal::malformed, e.what()};
  }
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  const std::int64_t leeway = options.leeway.count();
  if (exp && now >= *exp + leeway) return Refused{Refusal::expired, "token expired"};
  if (nbf && now + leeway < *nbf) return Refused{Refusal::not_yet_valid, "token not yet valid"};
  if (iat && now + leeway < *iat) return Refused{Refusal::not_yet_valid, "token issued in the future"};
  if (!options.issuer.empty() &&
      !(claims.contains("iss") && claims["iss"] == options.issuer))
    return Refused{Refusal::issuer, "wrong issuer"};
  if (!options.audience.empty() &&
      !(claims.contains("aud") && audience_matches(claims["aud"], options.audience)))
    return Refused{Refusal::audience, "wrong audience"};
  if (!claims.contains("sub") || !claims["sub"].is_string() ||
      !valid_name(claims["sub"].get<std::string>()))
    return Refused{Refusal::subject, "missing or invalid sub"};
  out.user = claims["sub"].get<std::string>();
  if (exp) out.expires_at = from_unix_ms(*exp * 1000);
  auto topics = claims.find(options.topics_claim);
  if (topics == claims.end()) return std::nullopt;
  if (!topics->is_array()) return Refused{Refusal::malformed, "the topics claim is not an array"};
  out.topics.emplace();
  for (const json& t : *topics) {
    if (!t.is_string() || t.get<std::string>().empty())
      return Refused{Refusal::malformed, "the topics claim holds a non-string"};
    out.topics->push_back(t.get<std::string>());
  }
  return std::nullopt;
}

}  // namespace

const char* to_string(Refusal reason) noexcept {
  const auto i = static_cast<std::size_t>(reason);
  return i < static_cast<std::size_t>(Refusal::count_) ? kRefusalNames[i] : "unknown";
}

JwtVerifier::JwtVerifier(JwtOptions options) : options_(std::move(options)) {}
JwtVerifier::~JwtVerifier() = default;

std::shared_ptr<JwtVerifier> JwtVerifier::create(JwtOptions options) {
  if (options.hmac_secret.empty() && options.public_key_file.empty() && options.jwks_file.empty())
    throw Error("JWT verification needs a key: an HMAC secret (--jwt-secret), a PEM public key "
                "(--jwt-public-key) or a JWKS file (--jwt-jwks)");
  if (!options.hmac_secret.empty() && options.hmac_secret.size() < kMinSecretBytes)
    throw Error("the JWT HMAC secret must be at least 32 bytes (e.g. `openssl rand -hex 32`)");
  if (options.leeway.count() < 0) throw Error("the JWT leeway must not be negative");
  std::shared_ptr<JwtVerifier> v(new JwtVerifier(std::move(options)));
  v->keys_ = read_keys(v->options_);
  return v;
}

Status JwtVerifier::reload() {
  try {
    std::shared_ptr<const Keys> fresh = read_keys(options_);
    std::lock_guard<std::mutex> lock(mutex_);
    keys_ = std::move(fresh);
    return {};
  } catch (const std::exception& e) {
    return Status(Errc::invalid_argument, std::string(e.what()) + " (the old keys stay in use)");
  }
}

std::vector<std::pair<std::string, std::uint64_t>> JwtVerifier::refusal_counts() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (std::size_t i = 0; i < refusals_.size(); ++i)
    out.emplace_back(kRefusalNames[i], refusals_[i].load(std::memory_order_relaxed));
  return out;
}

Status JwtVerifier::refuse(Refusal reason, std::string why) const {
  refusals_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  return Status(Errc::unauthorized, std::move(why));
}

Result<Claims> JwtVerifier::verify(std::string_view token) const {
  const json header = three_parts(token) ? json_part(token, 0) : json(nullptr);
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string())
    return refuse(Refusal::malformed, "malformed token");
  const std::string alg = header["alg"].get<std::string>();
  if (alg != "HS256" && alg != "RS256" && alg != "ES256")
    return refuse(Refusal::algorithm, "algorithm '" + alg + "' is not accepted");
  std::shared_ptr<const Keys> keys;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    keys = keys_;
  }
  if (alg == "HS256") {
    if (options_.hmac_secret.empty())
      return refuse(Refusal::algorithm, "HS256 tokens are not accepted here");
    if (!hmac_verifies(token, options_.hmac_secret))
      return refuse(Refusal::signature, "bad signature");
  } else {
    const PublicKey* key = nullptr;
    const bool has_kid = header.contains("kid") && header["kid"].is_string();
    if (has_kid && keys->has_jwks) {
      auto it = keys->by_kid.find(header["kid"].get<std::string>());
      if (it == keys->by_kid.end()) return refuse(Refusal::unknown_key, "unknown key id");
      key = &it->second;
    } else if (keys->pem_key) {
      key = &*keys->pem_key;
    } else {
      return refuse(Refusal::unknown_key, "the token names no key (kid)");
    }
    if (alg != name_of(key->alg))
      return refuse(Refusal::algorithm, "algorithm '" + alg + "' does not match the key");
    const std::size_t last = token.rfind('.');
    const std::optional<std::string> signature = base64url_decode(token.substr(last + 1));
    if (!signature || !signature_verifies(*key, token.substr(0, last), *signature))
      return refuse(Refusal::signature, "bad signature");
  }
  const json claims = json_part(token, 1);
  if (!claims.is_object()) return refuse(Refusal::malformed, "the claims are not a JSON object");
  Claims out;
  if (std::optional<Refused> no = check_claims(claims, options_, out))
    return refuse(no->reason, std::move(no->why));
  return out;
}

std::string token_of(const Handshake& h) {
  auto auth = h.headers.find("authorization");
  if (auth != h.headers.end() && auth->second.size() > 7) {
    std::string scheme = auth->second.substr(0, 7);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "bearer ") {
      const std::size_t start = auth->second.find_first_not_of(' ', 7);
      if (start != std::string::npos) return auth->second.substr(start);
    }
  }
  auto query = h.query.find("token");
  if (query != h.query.end() && !query->second.empty()) return query->second;
  auto protocols = h.headers.find("sec-websocket-protocol");
  if (protocols == h.headers.end()) return {};
  // "herald.token, <token>": the offered subprotocol after herald.token is the token.
  std::vector<std::string> offered;
  std::string item;
  for (char c : protocols->second + ",") {
    if (c == ',') {
      offered.push_back(item);
      item.clear();
    } else if (c != ' ' && c != '\t') {
      item.push_back(c);
    }
  }
  for (std::size_t i = 0; i + 1 < offered.size(); ++i)
    if (offered[i] == "herald.token") return offered[i + 1];
  return {};
}

Authenticator jwt_authenticator(JwtOptions options) {
  return jwt_authenticator(std::shared_ptr<const JwtVerifier>(JwtVerifier::create(std::move(options))));
}

Authenticator jwt_authenticator(std::shared_ptr<const JwtVerifier> verifier) {
  return [verifier = std::move(verifier)](const Handshake& h, std::function<void(AuthResult)> answer) {
    const std::string token = token_of(h);
    if (token.empty())
      return answer(AuthResult::refuse(
          "no token: send Authorization: Bearer <token>, ?token=, or the subprotocols "
          "herald.token, <token>"));
    Result<Claims> claims = verifier->verify(token);
    if (!claims.ok()) return answer(AuthResult::refuse("invalid token: " + claims.status().message()));
    AuthResult r = AuthResult::allow(claims->user);
    r.expires_at = claims->expires_at;
    r.topics = std::move(claims->topics);
    answer(std::move(r));
  };
}

}  // namespace herald::jwt
