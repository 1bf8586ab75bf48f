#pragma once
// herald::websocket — one public port serving WebSocket (the herald protocol) and HTTP/1.1
// with keep-alive (handed to the host's HttpHandler). websocketpp and http-parser stay
// inside the backend: this header includes neither (nor OpenSSL).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/transport.hpp"

namespace asio {
class io_context;
}

namespace herald::websocket {

/// One HTTP request (not a WebSocket upgrade). An absolute-form target
/// ("http://host:8080/users/a?limit=5", RFC 9112 §3.2.2) arrives reduced to its origin form
/// ("/users/a?limit=5"), its authority in place of the Host header.
struct HttpRequest {
  std::string method;                          // "GET", "POST", …
  std::string target;                          // as received: "/users/a/notifications?limit=5"
  std::string path;                            // percent-decoded path: "/users/a/notifications"
  std::map<std::string, std::string> query;    // decoded query parameters (first one wins)
  std::map<std::string, std::string> headers;  // names in lower case; repeats joined by ", "
  std::string body;
  std::string remote;  // peer address, "ip:port"
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow
};

/// The host's HTTP routes. Called on an io thread; must not block. `respond` must be called
/// exactly once, from any thread; responses on one connection go out in request order
/// (pipelining-safe), and the connection stays open (keep-alive) unless the client asked
/// to close. A response for a connection that is gone is dropped silently. Until the host
/// responds, the connection is not closed as idle and reads at most 16 requests ahead; it
/// reads none while its unwritten answers are over ServerOptions::max_buffered_bytes.
/// An empty handler answers every request with 404.
using HttpHandler =
    std::function<void(HttpRequest request, std::function<void(HttpResponse)> respond)>;

/// HTTPS and WSS (TLS 1.2 and 1.3, OpenSSL). The files are read when the Server is created
/// and again by Server::reload_tls().
struct TlsOptions {
  std::string cert_file;  // PEM: the certificate, then its intermediates; empty: no TLS
  std::string key_file;   // PEM: the certificate's private key (unencrypted)
  /// Empty: ServerOptions::port serves TLS only. Set: ServerOptions::port stays plain and
  /// this port serves TLS next to it (0: an ephemeral port, see Server::tls_port()).
  std::optional<std::uint16_t> port;
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerOptions {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;                 // 0: an ephemeral port (see Server::port())
  std::string websocket_path = "/ws";        // upgrades on other paths get 404
  /// Server-Sent Events: `GET <sse_path>` opens a session whose frames arrive as events
  /// (docs/clients.md), its requests are POSTed to the path its first event names. Empty:
  /// no SSE (the path goes to the HttpHandler).
  std::string sse_path = "/sse";
  /// A second upgrade path, for STOMP (herald::stomp::wrap routes it); empty: none. Its
  /// handshake answers the subprotocol v12.stomp, else v11.stomp, else v10.stomp if offered.
  std::string stomp_path;
  std::size_t max_connections = 100'000;     // beyond: HTTP 503 (also to upgrades), then closed
  /// Open connections from one client address; beyond: HTTP 429, then closed. 0: no cap.
  /// Behind a reverse proxy every client has the proxy's address: raise it or set 0 there.
  std::size_t max_connections_per_address = 1'000;
  /// Connections not yet a WebSocket or SSE session (handshakes, REST clients, idle
  /// keep-alive ones); beyond: HTTP 503, then closed. Bounds what slow or idle clients hold.
  std::size_t max_http_connections = 10'000;
  std::size_t max_frame_bytes = 64 * 1024;   // larger client messages close the session (1009)
  std::size_t max_header_bytes = 16 * 1024;  // request line + headers; beyond: 431, closed
  std::size_t max_body_bytes = 1 << 20;      // larger HTTP bodies get 413, closed
  std::size_t max_header_count = 100;        // more header lines get 431, closed
  /// A request whose headers are not complete this long after its first byte (slowloris)
  /// gets 408 and the connection closes; a WebSocket handshake is such a request too.
  std::chrono::milliseconds header_timeout{10'000};
  /// The same for a body, counted from the end of the headers.
  std::chrono::milliseconds body_timeout{30'000};
  /// A connection must have sent its first complete request head (a WebSocket upgrade, an
  /// SSE GET or any request) this long after it was accepted, TLS handshake included; else
  /// 408 (plain) or the socket is closed (TLS not yet established). Connections that never
  /// send a byte are cut by it too.
  std::chrono::milliseconds handshake_timeout{10'000};
  /// A session that sent nothing for this long gets a ping (again every interval); 0: never.
  std::chrono::milliseconds ping_interval{25'000};
  /// A session that sent nothing (no frame, no pong) for this long is closed 4009; 0: never.
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds http_idle_timeout{30'000};  // idle keep-alive connections close
  /// Longest wait for the client's answer once our close frame is written (and for a
  /// closing connection to drain) before the socket is closed anyway.
  std::chrono::milliseconds close_timeout{5'000};
  /// A connection whose output has waited this long without the socket taking a byte (the
  /// client stopped reading) is cut. This also bounds how long a close frame may wait
  /// behind bytes already on their way to a client that stalled.
  std::chrono::milliseconds send_timeout{30'000};
  /// Bytes one connection may have waiting to be written: HTTP answers, frames, pongs, close
  /// frames all count. Past it an HTTP connection is not read (so it cannot make the server
  /// queue more) until its output drained below it; a WebSocket session is closed with 4008
  /// (slow consumer): what is queued and not yet on its way is dropped (the write in
  /// progress is finished, never cut mid-frame) and the close frame goes next. The engine
  /// bounds each session (EngineOptions::max_session_queue_bytes) from on_written reports;
  /// this bound is the safety net. Keep it at least 2 × the engine's bound + 64 KiB.
  std::size_t max_buffered_bytes = 2 * (1 << 20) + 64 * 1024;
  /// SO_SNDBUF of accepted sockets; 0 keeps the system's default (and its autotuning).
  std::size_t socket_send_buffer = 0;
  /// TLS (HTTPS and WSS); without a certificate the server speaks plain HTTP and WebSocket.
  TlsOptions tls;
  /// Threads of the Server's own, each running an event loop (an io_context) that owns a
  /// share of the connections: their sockets, timers and send queues are touched by that
  /// thread only, and a frame sent to many connections is handed to each loop once per
  /// batch. The host's io_context serves a share too, so run it on ONE thread: io_threads =
  /// cores − 1 uses every core with no two threads sharing a connection (herald-server's
  /// --threads N sets N − 1). A plain HTTP connection (not TLS; its first request line opens
  /// no session) moves to the host's share before its first request is read, so that a
  /// handler that hands requests to the host's thread (an engine) does so without crossing
  /// threads. 0: no threads of its own; every connection is on the host's
  /// io_context, spread over one strand per core, and the host may run it on any number of
  /// threads.
  unsigned io_threads = 0;
};

/// Counters of one server, readable from any thread.
struct ServerStats {
  std::uint64_t accepted = 0;            // TCP connections accepted, rejected ones included
  std::uint64_t rejected = 0;            // answered 503 because of max_connections
  std::uint64_t rejected_address = 0;    // answered 429 because of max_connections_per_address
  std::uint64_t rejected_http = 0;       // answered 503 because of max_http_connections
  std::uint64_t http_requests = 0;       // requests handed to the HttpHandler
  std::uint64_t http_errors = 0;         // 400, 404, 408, 413, 431, 505 answered by the server itself
  std::uint64_t request_timeouts = 0;    // 408: header_timeout, body_timeout or handshake_timeout
  std::uint64_t handshake_timeouts = 0;  // connections cut by handshake_timeout
  std::uint64_t websocket_sessions = 0;  // sessions opened (handshake completed)
  std::uint64_t sse_sessions = 0;        // event streams opened (GET sse_path)
  std::uint64_t framed_messages = 0;     // WebSocket messages framed; a fan-out counts once
  std::uint64_t prepared_reuses = 0;     // sends of a message framed for an earlier session
  std::uint64_t pings = 0;               // keep-alive pings sent
  std::uint64_t idle_closes = 0;         // sessions closed with 4009 (idle_timeout)
  std::uint64_t overflow_closes = 0;     // sessions closed by max_buffered_bytes
  std::uint64_t stalled_closes = 0;      // connections cut by send_timeout
  std::uint64_t buffered_bytes = 0;      // now: bytes waiting to be written, all connections
};

/// The listening server. It is a herald::Transport (give it to the Engine in Backends) and
/// serves HTTP through `http`.
///
/// Threading: connections are spread over lanes; a connection's work is serialized on its
/// lane's strand, and frames sent to many connections are handed to each lane in one batch.
/// With ServerOptions::io_threads = 0 the lanes are one strand per core on the host's
/// io_context, which may be run by any number of threads. With io_threads = N the lanes are
/// one on the host's io_context (run it on one thread) and one per own loop, each loop run
/// by its own thread (shared-nothing: no connection is served by two threads). Every method
/// is thread-safe.
///
/// WebSocket sessions: text frames go to ConnectionHandler::on_message. Binary frames are
/// answered with an error frame {"op":"error","code":"invalid_argument",…} and the session
/// stays open. on_written reports the sum of frame.size() of the frames completed by a
/// socket write (or by the writes of one batch of sends, reported together); frames dropped
/// by a close with 4008 (slow consumer, from the handler or from max_buffered_bytes) are
/// never written and never reported. A session whose socket fails or vanishes, or that
/// send_timeout cuts, reports on_closed with 1006 (abnormal closure), or with the code of
/// the close it was waiting on.
///
/// Lifetime: the ConnectionHandler given to start() must stay alive until close_all() has
/// run and the connections have closed (connections() == 0), or until the io_context is
/// stopped and stop_threads() returned. Destroying the Server closes everything, like
/// close_all(), and stops its threads.
class HERALD_API Server : public Transport {
 public:
  /// Throws herald::Error if the options are invalid (TLS: if the certificate or key cannot
  /// be loaded). Listening starts in Transport::start
  /// (address in use etc. are reported there as Errc::unavailable).
  static std::unique_ptr<Server> create(asio::io_context& io, ServerOptions options,
                                        HttpHandler http);
  /// The bound port, once started (useful with port 0): ServerOptions::port, which serves
  /// TLS unless TlsOptions::port puts TLS on a port of its own.
  virtual std::uint16_t port() const = 0;
  /// The bound port that serves TLS, once started; 0 without TLS.
  virtual std::uint16_t tls_port() const = 0;
  /// Reads the certificate and key files again (rotation, e.g. on SIGHUP). New handshakes
  /// use the new certificate; open connections keep theirs and are not interrupted. On
  /// failure (unreadable files, key not matching) the current certificate stays. Without
  /// TLS: Errc::invalid_argument.
  virtual Status reload_tls() = 0;
  /// Number of open connections (HTTP and WebSocket).
  virtual std::size_t connections() const = 0;
  virtual ServerStats stats() const = 0;
  /// Closes every connection now (after the engine closed its sessions) and stops
  /// accepting. Open sessions get on_closed (1001). Returns at once; connections() reaches
  /// 0 once the io_context ran the closes.
  virtual void close_all() = 0;
  /// Stops the Server's own threads (ServerOptions::io_threads) once each ran what was
  /// queued before the call (e.g. the closes of close_all()); after it returns none of them
  /// calls the ConnectionHandler again. Call it before the handler (the engine) is
  /// destroyed; the destructor calls it too. Not from a ConnectionHandler call. Connections
  /// still held by the engine stay valid (closed, sends dropped) until it lets them go.
  virtual void stop_threads() = 0;
};

}  // namespace herald::websocket
