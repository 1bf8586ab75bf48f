#pragma once
// STOMP 1.2 over WebSocket (docs/stomp.md): a frame codec, and a Transport decorator that
// maps STOMP sessions onto the engine's native protocol, so Spring/STOMP clients
// (@stomp/stompjs, Spring's WebSocketStompClient) connect unchanged.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/transport.hpp"

namespace herald::stomp {

// ---- frames ---------------------------------------------------------------------------

/// One STOMP frame. Headers keep their order; a header given twice keeps both, and
/// header() answers the first (STOMP 1.2: the first one wins).
struct StompFrame {
  std::string command;  // "CONNECT", "MESSAGE", …
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first header named `name` (case-sensitive, as in STOMP), or nullptr.
  const std::string* header(std::string_view name) const;
};

/// Bounds of what the decoder accepts from a client.
struct FrameLimits {
  std::size_t max_command_bytes = 32;
  std::size_t max_headers = 64;             // header lines per frame
  std::size_t max_header_bytes = 8 * 1024;  // one header line, as received
  std::size_t max_body_bytes = 64 * 1024;
  std::size_t max_frames = 64;  // frames in one decode() call (one WebSocket message)
  /// Bytes an incomplete frame may occupy: beyond it the input is refused.
  std::size_t max_frame_bytes() const {
    return max_command_bytes + max_headers * (max_header_bytes + 2) + max_body_bytes + 8;
  }
};

/// What decode() found in a run of bytes.
struct Decoded {
  std::vector<StompFrame> frames;  // complete frames, in order
  std::size_t heartbeats = 0;      // EOLs between frames (heart-beats)
  /// Bytes used by `frames` and heart-beats. The rest is the start of a frame that is not
  /// complete yet: give it again, followed by more bytes.
  std::size_t consumed = 0;
  /// Empty, or why the input is not STOMP; decoding stopped there (`frames` before it are
  /// valid). The connection should get an ERROR frame and be closed.
  std::string error;
};

/// Decodes STOMP 1.2 frames: command line, headers (escapes \\ \n \c \r decoded, except in
/// CONNECT, STOMP and CONNECTED frames; an undefined escape is an error), blank line, body
/// up to NUL or `content-length` bytes then NUL. Lines end with LF or CRLF. EOLs before a
/// frame are heart-beats. A pure function of its input: no I/O, no state, never throws
/// (except std::bad_alloc).
HERALD_API Decoded decode(std::string_view bytes, const FrameLimits& limits = {});

/// Encodes a frame: headers escaped (except for CONNECT, STOMP and CONNECTED), a
/// `content-length` added when the body is not empty and the frame has none, then the body
/// and the NUL.
HERALD_API std::string encode(const StompFrame& frame);

/// Header escaping of STOMP 1.2: backslash, LF, CR and ':' as \\ \n \r \c.
HERALD_API std::string escape(std::string_view value);
/// The same, appended to `out` (a frame written piece by piece).
HERALD_API void append_escaped(std::string& out, std::string_view value);

// ---- the Transport decorator ----------------------------------------------------------

struct StompOptions {
  /// Connections whose handshake path is this one speak STOMP; others go to the engine as
  /// they are. The transport must accept WebSocket upgrades on it (herald::websocket:
  /// ServerOptions::stomp_path).
  std::string path = "/stomp";
  /// What the server offers in CONNECTED's heart-beat header, both ways (0: none). The
  /// server then sends a heart-beat ("\n") every max(this, the client's wish) and closes a
  /// client silent for twice max(its promise, this).
  std::chrono::milliseconds heartbeat{10'000};
  /// A connection that sent no CONNECT within this is closed.
  std::chrono::milliseconds connect_timeout{10'000};
  /// Inbox MESSAGEs held until the client subscribes to the inbox destination; past it the
  /// oldest are dropped (unacknowledged, the engine delivers them again after its ack
  /// timeout).
  std::size_t max_pending_messages = 256;
  /// Client frames received between CONNECT and CONNECTED (authentication) that wait.
  std::size_t max_early_frames = 64;
  /// Subscriptions per session (inbox and topics). The engine's own limit
  /// (EngineOptions::max_session_topics) also applies.
  std::size_t max_subscriptions = 256;
  FrameLimits limits;
};

/// Wraps `inner`: the returned Transport starts `inner` with a router that hands
/// connections on StompOptions::path to a STOMP adapter and every other connection
/// straight to the engine. Give the returned Transport (not `inner`) to the engine.
///
/// The adapter presents each STOMP connection to the engine as a Connection speaking the
/// native protocol (docs/protocol.md); the engine's on_open follows the client's CONNECT,
/// with a copy of the handshake carrying the CONNECT's credentials (`Authorization: Bearer`
/// or `passcode` as the bearer token, `login` as the `userId` query parameter).
///
/// Threading: the adapter's state lives on `executor` (tasks run one at a time), so the
/// Connection methods and the router's ConnectionHandler methods may be called from any
/// thread: they post onto it. Every STOMP session shares that executor: give it one of its
/// own (e.g. make_asio_executor(io), a strand) rather than the engine's.
///
/// Lifetime: the returned Transport must outlive `inner`'s use of it (until its connections
/// closed); `inner` and the engine's handler must outlive the returned Transport's use.
HERALD_API std::unique_ptr<Transport> wrap(Transport& inner, std::shared_ptr<Executor> executor,
                                           StompOptions options = {});

}  // namespace herald::stomp
