#pragma once
// herald::websocket — one public port serving WebSocket (the herald protocol) and HTTP/1.1
// with keep-alive (handed to the host's HttpHandler). websocketpp and http-parser stay
// inside the backend: this header includes neither.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "herald/transport.hpp"

namespace asio {
class io_context;
}

namespace herald::websocket {

/// One HTTP request (not a WebSocket upgrade).
struct HttpRequest {
  std::string method;                          // "GET", "POST", …
  std::string target;                          // as received: "/users/a/notifications?limit=5"
  std::string path;                            // percent-decoded path: "/users/a/notifications"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string remote;                          // peer address
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
};

/// The host's HTTP routes. Called on an io thread; must not block. `respond` must be called
/// exactly once, from any thread; responses on one connection go out in request order
/// (pipelining-safe), and the connection stays open (keep-alive) unless the client asked
/// to close.
using HttpHandler =
    std::function<void(HttpRequest request, std::function<void(HttpResponse)> respond)>;

struct ServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;               // 0: an ephemeral port (see Server::port())
  std::string websocket_path = "/ws";      // upgrades on other paths get 404
  std::size_t max_connections = 100'000;   // beyond: HTTP 503 / WebSocket refused, then closed
  std::size_t max_frame_bytes = 64 * 1024; // larger client frames close the session (1009)
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1 << 20;    // larger HTTP bodies get 413
  std::chrono::milliseconds ping_interval{25'000};  // server pings idle WebSocket sessions
  std::chrono::milliseconds idle_timeout{60'000};   // no frame or pong for this long: close 4009
  std::chrono::milliseconds http_idle_timeout{30'000};  // idle keep-alive connections close
};

/// The listening server. It is a herald::Transport (give it to the Engine in Backends) and
/// serves HTTP through `http`.
/// Threading: the io_context may be run by any number of threads; each connection is
/// serialized on its own strand.
class Server : public Transport {
 public:
  /// Throws herald::Error if the options are invalid. Listening starts in Transport::start
  /// (address in use etc. are reported there).
  static std::unique_ptr<Server> create(asio::io_context& io, ServerOptions options,
                                        HttpHandler http);
  /// The bound port, once started (useful with port 0).
  virtual std::uint16_t port() const = 0;
  /// Number of open connections (HTTP and WebSocket).
  virtual std::size_t connections() const = 0;
  /// Closes every connection now (after the engine closed its sessions) and stops.
  virtual void close_all() = 0;
};

}  // namespace herald::websocket
