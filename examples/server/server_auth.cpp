// herald-server's authentication flags (server_auth.hpp).

#include "server_auth.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "herald/error.hpp"
#ifdef HERALD_SERVER_WITH_JWT
#include "herald/jwt/jwt.hpp"
#endif

namespace herald::server {

void add_auth_flags(CLI::App& app, AuthConfig& c) {
  app.add_flag("--dev-auth", c.dev_auth,
               "Development authentication: WebSocket clients are trusted by ?userId= and the "
               "REST API is open (also HERALD_AUTH=development). Never on untrusted networks");
  app.add_option("--api-key", c.api_keys,
                 "Server-side API key, NAME=SECRET or SECRET (16+ bytes; repeatable; env: "
                 "comma-separated)")
      ->envname("HERALD_API_KEYS")
      ->delimiter(',');
  app.add_option("--api-key-file", c.api_key_file,
                 "File of API keys, one NAME=SECRET or SECRET per line, # comments")
      ->envname("HERALD_API_KEY_FILE");
  app.add_option("--metrics-key", c.metrics_keys,
                 "Key that /metrics requires (repeatable); default: /metrics is open")
      ->envname("HERALD_METRICS_KEYS")
      ->delimiter(',');
  app.add_option("--cors-origin", c.cors_origins,
                 "Browser origins (https://app.example) that may call the REST API cross-site, "
                 "or * (development); others get 403")
      ->envname("HERALD_CORS_ORIGINS")
      ->delimiter(',');
  app.add_option("--allowed-origins", c.allowed_origins,
                 "Browser origins whose pages may open WebSocket sessions, besides the server's "
                 "own and --cors-origin; others are refused (4001)")
      ->envname("HERALD_ALLOWED_ORIGINS")
      ->delimiter(',');
  app.add_option("--jwt-secret", c.jwt_secret,
                 "HMAC secret (32+ bytes) of users' HS256 tokens; prefer the environment")
      ->envname("HERALD_JWT_SECRET");
  app.add_option("--jwt-public-key", c.jwt_public_key,
                 "PEM public key (RSA or EC P-256) of users' RS256/ES256 tokens; SIGHUP re-reads")
      ->envname("HERALD_JWT_PUBLIC_KEY");
  app.add_option("--jwt-jwks", c.jwt_jwks,
                 "JWKS file of users' token keys, chosen by kid; SIGHUP re-reads")
      ->envname("HERALD_JWT_JWKS");
  app.add_option("--jwt-issuer", c.jwt_issuer, "Required iss of users' tokens")
      ->envname("HERALD_JWT_ISSUER");
  app.add_option("--jwt-audience", c.jwt_audience, "Required aud of users' tokens")
      ->envname("HERALD_JWT_AUDIENCE");
  app.add_option("--jwt-leeway", c.jwt_leeway, "Seconds of clock skew allowed on exp/nbf/iat")
      ->envname("HERALD_JWT_LEEWAY")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
}

namespace {

// HERALD_AUTH=development is --dev-auth; any other non-empty value is a mistake to report.
bool development(const AuthConfig& c) {
  const char* env = std::getenv("HERALD_AUTH");
  if (!env || !*env) return c.dev_auth;
  const std::string mode = env;
  if (mode == "development") return true;
  if (mode == "production") return c.dev_auth;
  throw Error("HERALD_AUTH='" + mode + "': use 'development' (same as --dev-auth) or unset it");
}

std::shared_ptr<ApiKeys> keys_of(const std::vector<std::string>& entries, const std::string& file) {
  auto keys = std::make_shared<ApiKeys>();
  for (const std::string& e : entries) keys->add_entry(e);
  if (!file.empty()) keys->add_file(file);
  return keys;
}

// Until user tokens are configured (JWT), no WebSocket client can prove who it is.
Authenticator refuse_all() {
  return [](const Handshake&, std::function<void(AuthResult)> answer) {
    answer(AuthResult::refuse("no user authentication is configured on this server"));
  };
}

// Cross-site WebSocket hijacking: a page of any site may open a WebSocket to us, with the
// user's cookies and from the user's network. The browser names the page in Origin.
Authenticator origin_checked(Authenticator inner, std::vector<std::string> allowed) {
  return [inner = std::move(inner), allowed = std::move(allowed)](
             const Handshake& h, std::function<void(AuthResult)> answer) {
    auto origin = h.headers.find("origin");
    auto host = h.headers.find("host");
    if (origin != h.headers.end() &&
        !origin_allowed(origin->second, host == h.headers.end() ? "" : host->second, allowed))
      return answer(AuthResult::refuse("origin '" + origin->second +
                                       "' is not allowed; add it to --allowed-origins"));
    inner(h, std::move(answer));
  };
}

#ifdef HERALD_SERVER_WITH_JWT
// User tokens: the WebSocket authenticator, RestAuth::verify_user, SIGHUP and /metrics.
void use_jwt(const AuthConfig& c, ServerAuth& out) {
  jwt::JwtOptions o;
  o.hmac_secret = c.jwt_secret;
  o.public_key_file = c.jwt_public_key;
  o.jwks_file = c.jwt_jwks;
  o.issuer = c.jwt_issuer;
  o.audience = c.jwt_audience;
  o.leeway = std::chrono::seconds(static_cast<std::int64_t>(c.jwt_leeway));
  std::shared_ptr<jwt::JwtVerifier> verifier = jwt::JwtVerifier::create(std::move(o));
  out.websocket = jwt::jwt_authenticator(verifier);
  out.rest.verify_user = [verifier](const std::string& token, std::string& why)
      -> std::optional<UserClaims> {
    Result<jwt::Claims> r = verifier->verify(token);
    if (!r.ok()) {
      why = r.status().message();
      return std::nullopt;
    }
    return UserClaims{r->user, r->topics};
  };
  out.reload_keys = [verifier] { return verifier->reload().message(); };
  out.token_metrics = [verifier] {
    std::string text =
        "# HELP herald_auth_token_refusals_total User tokens refused, by reason.\n"
        "# TYPE herald_auth_token_refusals_total counter\n";
    for (const auto& [reason, n] : verifier->refusal_counts())
      text += "herald_auth_token_refusals_total{reason=\"" + reason + "\"} " +
              std::to_string(n) + "\n";
    return text;
  };
}
#else
[[noreturn]] void use_jwt(const AuthConfig&, ServerAuth&) {
  throw Error("--jwt-*: this herald-server was built without JWT support; rebuild with "
              "-DHERALD_WITH_JWT=ON (needs libjwt-dev, libssl-dev) or drop the --jwt flags");
}
#endif

ServerAuth make_auth(const AuthConfig& c) {
  ServerAuth out;
  if (development(c)) {
    out.rest.development = true;
    out.websocket = dev_authenticator();
    out.mode = "development";
    return out;
  }
  out.rest.development = false;
  out.rest.api_keys = keys_of(c.api_keys, c.api_key_file);
  out.rest.metrics_keys = keys_of(c.metrics_keys, {});
  if (out.rest.api_keys->empty() && !c.jwt_configured())
    throw Error(
        "no authentication is configured: give server callers an API key (--api-key NAME=SECRET, "
        "HERALD_API_KEYS or --api-key-file) and users tokens (--jwt-secret, --jwt-public-key or "
        "--jwt-jwks), or run with --dev-auth (HERALD_AUTH=development) for local development "
        "only");
  out.websocket = refuse_all();
  out.mode = "keys";
  if (!c.jwt_configured()) return out;
  use_jwt(c, out);
  out.mode = out.rest.api_keys->empty() ? "jwt" : "keys+jwt";
  return out;
}

}  // namespace

ServerAuth make_server_auth(const AuthConfig& c) {
  ServerAuth out = make_auth(c);
  std::vector<std::string> ws_origins = c.allowed_origins;
  ws_origins.insert(ws_origins.end(), c.cors_origins.begin(), c.cors_origins.end());
  out.websocket = origin_checked(std::move(out.websocket), std::move(ws_origins));
  out.cors_origins = c.cors_origins;
  return out;
}

}  // namespace herald::server
