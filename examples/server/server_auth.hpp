#pragma once
// herald-server's authentication flags (docs/security.md) and what they build: the REST
// policy (rest_auth.hpp) and the WebSocket Authenticator.

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "herald/auth.hpp"

#include "herald/engine.hpp"
#include "rest_auth.hpp"

namespace herald::server {

struct AuthConfig {
  bool dev_auth = false;                 // --dev-auth / HERALD_AUTH=development
  std::vector<std::string> api_keys;     // --api-key NAME=SECRET | SECRET (repeatable)
  std::string api_key_file;              // --api-key-file PATH
  std::vector<std::string> metrics_keys; // --metrics-key
  std::vector<std::string> cors_origins;     // --cors-origin: REST callers from these pages
  std::vector<std::string> allowed_origins;  // --allowed-origins: WebSocket pages, besides those
  // User tokens (JWT; docs/security.md). Rejected at startup unless built with HERALD_WITH_JWT.
  std::string jwt_secret;       // --jwt-secret / HERALD_JWT_SECRET: HS256
  std::string jwt_public_key;   // --jwt-public-key FILE: PEM, RS256 or ES256
  std::string jwt_jwks;         // --jwt-jwks FILE: keys chosen by kid
  std::string jwt_issuer;       // --jwt-issuer
  std::string jwt_audience;     // --jwt-audience
  double jwt_leeway = 30;       // --jwt-leeway S

  bool jwt_configured() const {
    return !jwt_secret.empty() || !jwt_public_key.empty() || !jwt_jwks.empty();
  }
};

/// Declares the flags (each with its environment variable).
void add_auth_flags(CLI::App& app, AuthConfig& c);

/// What the flags configure. Throws herald::Error with what to set when the server would
/// run with no authentication at all (neither --dev-auth nor any credential), or when a
/// key is unusable.
struct ServerAuth {
  RestAuth rest;
  Authenticator websocket;  // checks the page's Origin first, in every mode
  std::vector<std::string> cors_origins;  // RestOptions::cors_origins
  std::string mode;                       // "development", "keys", "jwt" or "keys+jwt"
  /// Re-reads the JWT key files (SIGHUP); empty when no user tokens are configured. Returns
  /// "" on success, else what is wrong (the old keys stay).
  std::function<std::string()> reload_keys;
  /// herald_auth_token_refusals_total by reason, in Prometheus text; empty without JWT.
  std::function<std::string()> token_metrics;
};
ServerAuth make_server_auth(const AuthConfig& c);

}  // namespace herald::server
