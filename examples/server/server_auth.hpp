#pragma once
// herald-server's authentication flags (docs/security.md) and what they build: the REST
// policy (rest_auth.hpp) and the WebSocket Authenticator.

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
  std::string mode;                       // "development" or "keys", for the log
};
ServerAuth make_server_auth(const AuthConfig& c);

}  // namespace herald::server
