// REST authorization (rest_auth.hpp).

#include "rest_auth.hpp"

#include "http_util.hpp"

namespace herald::server {

namespace {

// The peer's address without the port, so that all connections of a client are one
// principal: "127.0.0.1:5000" -> "127.0.0.1", "[::1]:5000" -> "::1"; a bare IPv6 address
// is kept whole.
std::string address_of(const std::string& remote) {
  std::string_view host(remote);
  if (!host.empty() && host.front() == '[') return std::string(host.substr(1, host.find(']') - 1));
  if (host.find(':') == host.rfind(':')) host = host.substr(0, host.rfind(':'));
  return std::string(host);
}

// "Authorization: Bearer <t>" (scheme in any case) or "X-Api-Key: <t>"; "" if none.
std::string presented_token(const websocket::HttpRequest& r, bool& bearer) {
  const std::string& auth = header(r, "authorization");
  bearer = auth.size() > 7 && lower(std::string_view(auth).substr(0, 7)) == "bearer ";
  if (!bearer) return header(r, "x-api-key");
  const std::size_t start = auth.find_first_not_of(' ', 7);
  return start == std::string::npos ? std::string() : auth.substr(start);
}

Problem unauthorized(AuthStats& stats, std::string message) {
  stats.unauthorized.fetch_add(1, std::memory_order_relaxed);
  return {401, "unauthorized", {}, std::move(message), {{"WWW-Authenticate", "Bearer realm=\"herald\""}}};
}

Problem forbidden(AuthStats& stats, std::string message) {
  stats.forbidden.fetch_add(1, std::memory_order_relaxed);
  return {403, "forbidden", {}, std::move(message), {}};
}

std::optional<Problem> authorize_metrics(const RestAuth& auth, const std::string& token,
                                         AuthStats& stats) {
  if (!auth.metrics_keys || auth.metrics_keys->empty() || auth.metrics_keys->match(token))
    return std::nullopt;
  return unauthorized(stats, "/metrics needs the metrics key (Authorization: Bearer <key>)");
}

}  // namespace

std::optional<Problem> authorize(const RestAuth& auth, Access access,
                                 const websocket::HttpRequest& request, const PathSubjects& path,
                                 AuthStats& stats, Principal& principal) {
  principal = "addr:" + address_of(request.remote);
  if (auth.development || access == Access::open) return std::nullopt;
  bool bearer = false;
  const std::string token = presented_token(request, bearer);
  if (access == Access::metrics) return authorize_metrics(auth, token, stats);
  if (token.empty())
    return unauthorized(stats, access == Access::server
                                   ? "send an API key (Authorization: Bearer <key> or X-Api-Key)"
                                   : "send an API key or the user's token "
                                     "(Authorization: Bearer <token>)");
  if (auth.api_keys)
    if (const std::string* name = auth.api_keys->match(token)) {
      principal = "key:" + *name;
      return std::nullopt;
    }
  std::string why;
  const std::optional<UserClaims> claims =
      bearer && auth.verify_user ? auth.verify_user(token, why) : std::nullopt;
  if (!claims)
    return unauthorized(stats, why.empty() ? "unknown API key" : "invalid token: " + why);
  if (access == Access::server)
    return forbidden(stats, "a user's token cannot call this route; it needs an API key");
  // 403, not 404: the caller named the other user itself, so the answer reveals nothing.
  if (claims->user != path.user)
    return forbidden(stats, "this token is for user '" + claims->user + "'; it cannot reach '" +
                                path.user + "'");
  if (access == Access::user_topic && claims->topics && !topic_allowed(*claims->topics, path.topic))
    return forbidden(stats, "this token does not grant topic '" + path.topic + "'");
  principal = "user:" + claims->user;
  return std::nullopt;
}

}  // namespace herald::server
