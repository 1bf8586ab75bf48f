#pragma once
// Server-side WebSocket frames, built by the backend itself (RFC 6455 §5.2: a server frame
// is an unmasked 2-10 byte header and the payload). Text frames shared by many sessions are
// framed once: header and payload in one immutable buffer that every session writes as is.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "herald/transport.hpp"

namespace herald::websocket::detail {

using SharedBytes = std::shared_ptr<const std::string>;

/// Opcodes of the frames the server sends.
enum class Opcode : std::uint8_t { text = 0x1, close = 0x8, ping = 0x9, pong = 0xA };

/// A frame ready for the socket: `prefix` then `*tail` (if any).
struct WireFrame {
  std::string prefix;
  SharedBytes tail;
  std::size_t wire() const { return prefix.size() + (tail ? tail->size() : 0); }
};

/// The longest header of a frame the server sends (no mask, a 64-bit length).
constexpr std::size_t kMaxHeaderBytes = 10;
static_assert(kMaxHeaderBytes <= Frame::kHeadroom, "a head with headroom takes the header");

/// Writes the header of a final, unmasked frame with `length` payload bytes; its size.
std::size_t write_header(char (&out)[kMaxHeaderBytes], Opcode opcode, std::size_t length);
/// Appends that header to `out`.
void append_header(std::string& out, Opcode opcode, std::size_t length);
/// A whole control frame; `payload` is cut to the 125 bytes a control frame may carry.
std::string control_frame(Opcode opcode, const std::string& payload);
/// A close frame with `code` and `reason` (cut to 123 bytes at a UTF-8 boundary).
std::string close_frame(std::uint16_t code, const std::string& reason);

/// The code and reason that answer a client's close frame `payload` (RFC 6455 §5.5.1): its
/// own, echoed; 1000 and no reason if it had no code; 1002 "invalid close frame" if its code
/// or reason is invalid.
struct CloseEcho {
  std::uint16_t code = 1000;
  std::string reason;
};
CloseEcho echo_close(const std::string& payload);

/// True if `text` does not end inside a UTF-8 sequence. websocketpp 0.8.2 validates a text
/// message's bytes as they arrive but checks that the last character is whole only for an
/// unfragmented message (it looks at the opcode of the last frame, which is a continuation
/// otherwise); a text message it hands over is valid UTF-8 once this holds too. Looks at
/// the last 4 bytes only.
bool ends_on_whole_utf8(const std::string& text);

/// Turns Frames into WireFrames, framing a shared body once.
///
/// A frame with an empty head is a complete frame text shared by many sessions (a fan-out):
/// the engine sends the same body to every recipient in a row. A small cache keyed by the
/// body's address, validated by a weak_ptr to the body (so a freed and reused address never
/// matches), returns the buffer framed for the first recipient to all the others.
/// A frame with a head gets a header and head of its own, followed by the shared body
/// (never copied).
/// Thread-safe: called from whichever thread sends (the engine's executor).
class FrameCache {
 public:
  /// The frame to write for `frame` (its head and body are moved into `out`); false if its
  /// text is not valid UTF-8.
  bool wire_for(Frame&& frame, WireFrame& out);
  /// A frame of its own for `text` (server-generated frames, e.g. errors).
  WireFrame wire_for(const std::string& text);

  /// Frames built so far (a fan-out to N sessions counts once).
  std::uint64_t framed() const { return framed_.load(std::memory_order_relaxed); }
  /// Frames sent with a buffer framed earlier for another session.
  std::uint64_t reused() const { return reused_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    const std::string* key = nullptr;
    std::weak_ptr<const std::string> body;
    SharedBytes wire;
  };
  static constexpr std::size_t kEntries = 8;

  SharedBytes shared_wire(const SharedBytes& body);
  SharedBytes cached(const SharedBytes& body);

  std::mutex mutex_;
  std::array<Entry, kEntries> entries_;  // guarded by mutex_
  std::size_t next_ = 0;                 // round-robin victim, guarded by mutex_
  std::atomic<std::uint64_t> framed_{0};
  std::atomic<std::uint64_t> reused_{0};
};

}  // namespace herald::websocket::detail
