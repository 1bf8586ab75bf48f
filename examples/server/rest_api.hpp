#pragma once
// RestApi: herald-server's HTTP routes (docs/protocol.md, "REST API") over an Engine.
// JSON in and out; every error is `{"error":{"code":…,"field":…,"message":…}}`.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/engine.hpp"
#include "herald/websocket/server.hpp"
#include "rest_auth.hpp"

namespace herald::server {

using websocket::HttpRequest;
using websocket::HttpResponse;
using Respond = std::function<void(HttpResponse)>;

/// Tells whether the service can take traffic: calls `answer` exactly once, from any
/// thread; `reason` explains a false.
using ReadinessProbe =
    std::function<void(std::function<void(bool ready, std::string reason)> answer)>;

/// The probe herald-server uses: ready when `running()` is true and a cheap store query
/// (the unread count of the reserved user id `$readyz`) answers ok within `timeout`,
/// measured on `timers` (the engine's executor). `running` is called from any thread.
ReadinessProbe store_probe(Engine& engine, std::shared_ptr<Executor> timers,
                           std::function<bool()> running,
                           Duration timeout = std::chrono::seconds(1));

/// A route the host adds to the built-in ones (e.g. herald-server's webhook listing):
/// `pattern` as the built-in routes ("admin/webhooks/failed/*/retry", `*` one segment),
/// checked by `access` like them (Access::server or open; not the user kinds). `handler`
/// gets the request and the `*` segments and calls `respond` exactly once; any thread.
struct ExtraRoute {
  std::string method;
  std::string pattern;
  Access access = Access::server;
  std::function<void(const HttpRequest&, const std::vector<std::string>& params, Respond)>
      handler;
};

struct RestOptions {
  std::size_t max_body_bytes = 1 << 20;  // larger bodies: 413 (the transport checks first)
  std::size_t max_batch = 1000;          // items of one batch POST /notify (a JSON array)
  /// Answer only requests whose Host is an IP literal, localhost or one of allowed_hosts
  /// (else 421): herald-server turns it on when bound to a loopback address, against DNS
  /// rebinding, or when --allowed-hosts is given.
  bool check_host = false;
  std::vector<std::string> allowed_hosts;  // host names without port, any case
  RestAuth auth;                           // who may call which route (rest_auth.hpp)
  /// Browser origins allowed to call cross-site (CORS), exact or "*". A request with an
  /// Origin that is neither the server's own nor listed is a 403.
  std::vector<std::string> cors_origins;
  /// Appended to /metrics (e.g. the transport's counters); Prometheus text. Any thread.
  std::function<std::string()> extra_metrics;
  /// Matched after the built-in routes.
  std::vector<ExtraRoute> extra_routes;
};

/// Responses by status class (1xx..5xx), for /metrics. Thread-safe.
struct HttpStats {
  std::atomic<std::uint64_t> by_class[5] = {};
  AuthStats auth;
  void count(int status) noexcept;
};

/// The HTTP routes. Holds a reference to the engine, which must outlive every request
/// handed to handle() (callbacks run on the engine's executor and capture no RestApi).
/// Thread-safe: handle() may be called from any number of threads at once.
class RestApi {
 public:
  explicit RestApi(Engine& engine, ReadinessProbe ready = {}, RestOptions options = {});

  /// The websocket::HttpHandler. Calls `respond` exactly once — now or later, from the
  /// engine's executor. Never throws: an unexpected exception becomes a 500.
  void handle(HttpRequest request, Respond respond);

  const RestOptions& options() const { return options_; }

  /// The routing context of one request (public for the route functions in rest_api.cpp).
  struct Call;

 private:
  Engine& engine_;
  ReadinessProbe ready_;
  RestOptions options_;
  std::shared_ptr<HttpStats> stats_;
};

}  // namespace herald::server
