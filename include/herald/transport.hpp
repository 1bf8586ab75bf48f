#pragma once
// Transport: client connections. Accepts, hands the handshake to the engine, carries text
// frames both ways, closes.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "herald/executor.hpp"
#include "herald/export.hpp"

namespace herald {

/// What a client presented when connecting: for WebSocket, the upgrade request.
struct Handshake {
  std::string path;                           // e.g. "/ws"
  std::map<std::string, std::string> query;   // decoded query parameters
  std::map<std::string, std::string> headers; // header names in lower case
  std::string remote;                         // peer address, for logs
};

/// Close codes (WebSocket numbering; in-process transports carry them as is).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,      // server shutting down: reconnect elsewhere and resume
  protocol_error = 1002,  // unreadable frames or handshake parameters
  try_again_later = 1013, // a backend is unavailable: reconnect later and resume
  unauthorized = 4001,    // authenticator rejected the handshake
  slow_consumer = 4008,   // outbound queue over its bound: reconnect and resume by cursor
  idle_timeout = 4009,    // no frame within the idle timeout
  disconnected = 4010,    // closed by the host (Engine::disconnect, herald-server's admin API)
  token_expired = 4011,   // the session's credential expired and no fresh one came in time
};

/// A text frame to send: `head` followed by `*body`. The body is framed once and shared by
/// every recipient of a notification; the head holds what differs per recipient.
struct Frame {
  /// Spare capacity a sender leaves in `head` (beyond its size) so that a transport can put
  /// its own framing in front of it without allocating: the engine's per-recipient heads do
  /// (a WebSocket header takes at most 10 bytes). Optional: a head without it still works.
  static constexpr std::size_t kHeadroom = 16;

  std::string head;
  std::shared_ptr<const std::string> body;

  std::size_t size() const { return head.size() + (body ? body->size() : 0); }
  std::string text() const { return body ? head + *body : head; }
};

/// One client connection, implemented by a transport.
/// Contract: methods are thread-safe and never block; after close() further sends are
/// dropped. Frames are written in send() order.
class HERALD_API Connection {
 public:
  virtual ~Connection() = default;
  /// Queues a frame. The transport reports its size to ConnectionHandler::on_written once
  /// the bytes left the process (or reached the in-process client).
  virtual void send(Frame frame) = 0;
  /// Closes with a code and a short reason; the handler then gets on_closed().
  virtual void close(CloseCode code, std::string reason) = 0;
  /// The handshake this connection was opened with.
  virtual const Handshake& handshake() const = 0;
};

/// Implemented by the engine. A transport may call these from any thread; the engine moves
/// the work onto its executor. Per connection the calls arrive in order: on_open first,
/// on_closed last (exactly once, also after close()).
class HERALD_API ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(std::shared_ptr<Connection> connection) = 0;
  virtual void on_message(const std::shared_ptr<Connection>& connection, std::string text) = 0;
  virtual void on_written(const std::shared_ptr<Connection>& connection, std::size_t bytes) = 0;
  virtual void on_closed(const std::shared_ptr<Connection>& connection, CloseCode code,
                         std::string reason) = 0;
};

/// A source of client connections.
class HERALD_API Transport {
 public:
  virtual ~Transport() = default;
  /// Starts accepting and reporting connections to `handler`, which outlives the transport's
  /// use. `done` reports e.g. a port already in use.
  virtual void start(ConnectionHandler& handler, Done done) = 0;
  /// Stops accepting new connections; open ones stay until the engine closes them.
  virtual void stop_accepting(Done done) = 0;
};

}  // namespace herald
