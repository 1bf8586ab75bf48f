#pragma once
// Framing outgoing text messages once: a websocketpp message marked prepared carries its
// frame header and payload and is written as is by every connection it is sent to.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "herald/transport.hpp"
#include "wspp.hpp"

namespace herald::websocket::detail {

/// Builds a prepared (framed, unmasked, server-side) text message whose payload is
/// `head` followed by `body`. Returns null if the text is not valid UTF-8.
WsMessagePtr make_text_message(const std::shared_ptr<WsMsgManager>& manager,
                               const std::string& head, const std::string* body);

/// Turns Frames into prepared messages, framing a shared body once.
///
/// A frame with an empty head is a complete frame text shared by many sessions (a fan-out):
/// the engine sends the same body to every recipient in a row. A small cache keyed by the
/// body's address, validated by a weak_ptr to the body (so a freed and reused address never
/// matches), returns the message made for the first recipient to all the others.
/// A frame with a head gets a message of its own.
/// Thread-safe: called from whichever thread sends (the engine's executor).
class FrameCache {
 public:
  FrameCache();

  /// The message to send for `frame`; null if its text is not valid UTF-8.
  WsMessagePtr message_for(const Frame& frame);
  /// A message of its own for `text` (server-generated frames, e.g. errors).
  WsMessagePtr message_for(const std::string& text);

  /// Messages framed so far (a fan-out to N sessions counts once).
  std::uint64_t framed() const { return framed_.load(std::memory_order_relaxed); }
  /// Frames sent with a message framed earlier for another session.
  std::uint64_t reused() const { return reused_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    const std::string* key = nullptr;
    std::weak_ptr<const std::string> body;
    WsMessagePtr message;
  };
  static constexpr std::size_t kEntries = 8;

  WsMessagePtr shared_message(const std::shared_ptr<const std::string>& body);
  WsMessagePtr frame(const std::string& head, const std::string* body);

  std::shared_ptr<WsMsgManager> manager_;
  std::mutex mutex_;
  std::array<Entry, kEntries> entries_;  // guarded by mutex_
  std::size_t next_ = 0;                 // round-robin victim, guarded by mutex_
  std::atomic<std::uint64_t> framed_{0};
  std::atomic<std::uint64_t> reused_{0};
};

}  // namespace herald::websocket::detail
