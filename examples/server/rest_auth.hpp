#pragma once
// Who may call which REST route (docs/security.md). Two kinds of callers: servers with an
// API key, and users with their own token, scoped to their own /users/{id}/… paths.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herald/auth.hpp"
#include "herald/model.hpp"
#include "herald/websocket/server.hpp"
#include "publish_body.hpp"

namespace herald::server {

/// What a route needs from its caller.
enum class Access : std::uint8_t {
  open,     // anyone: health checks, the /ws hint
  metrics,  // anyone, or one of RestAuth::metrics_keys when some are set
  server,   // an API key
  user,     // an API key, or the token of the user the path names (its first `*` segment)
  user_topic,  // as user, and a token must grant the topic named by the second `*`
};

/// What a valid user token says.
struct UserClaims {
  UserId user;
  /// Topic patterns the user may subscribe to (herald::topic_allowed); nullopt: the token
  /// sets no limit.
  std::optional<std::vector<std::string>> topics;
};

/// Verifies a user's bearer token: its claims, or nullopt with `why` set. Any thread.
using UserTokenVerifier =
    std::function<std::optional<UserClaims>(const std::string& token, std::string& why)>;

struct RestAuth {
  /// Development: every route is open and callers are told apart by address only
  /// (herald-server --dev-auth). Off: each route's Access applies.
  bool development = true;
  std::shared_ptr<const ApiKeys> api_keys;      // server callers; null: none
  std::shared_ptr<const ApiKeys> metrics_keys;  // null or empty: /metrics is open
  UserTokenVerifier verify_user;                // empty: user routes need an API key too
};

/// Counters of refused calls, for /metrics. Thread-safe.
struct AuthStats {
  std::atomic<std::uint64_t> unauthorized{0};  // 401: no credentials, or unknown ones
  std::atomic<std::uint64_t> forbidden{0};     // 403: known caller, not its data
};

/// Who made an allowed call: "key:<name>" (an API key), "user:<id>" (a user's token) or
/// "addr:<ip>" (development, or an open route). Used to scope rate limits and
/// idempotency keys.
using Principal = std::string;

/// The `*` segments of the route: the user (Access::user*) and the topic (user_topic).
struct PathSubjects {
  std::string user;
  std::string topic;
};

/// Decides one call. Returns nullopt and sets `principal` when it may go on, else the
/// 401/403 Problem to answer. Never throws.
std::optional<Problem> authorize(const RestAuth& auth, Access access,
                                 const websocket::HttpRequest& request, const PathSubjects& path,
                                 AuthStats& stats, Principal& principal);

}  // namespace herald::server
