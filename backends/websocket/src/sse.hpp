#pragma once
// Server-Sent Events (GET /sse): what turns the engine's frames into an event stream a
// browser's EventSource resumes by itself. Each event's `data` is one frame of the herald
// protocol, unchanged; events that move a stream position carry an `id` naming the
// position of every stream the session follows, so that the `Last-Event-ID` the browser
// sends when it reconnects resumes all of them:
//
//   id: <inbox seq>.<inbox epoch>[,<topic>@<seq>.<epoch>]…
//
// the topics part being the handshake's `topics` list format (docs/protocol.md). Pure
// functions of their input: no I/O, no threads.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "herald/transport.hpp"

namespace herald::websocket::detail {

/// One session's positions. Runs once per recipient of every fan-out: a notification's
/// position is read from its short per-recipient head alone (its body, shared by every
/// recipient, is neither copied nor parsed), and nothing is allocated once the session
/// knows the stream.
class SsePositions {
 public:
  /// Takes the positions a frame moves (welcome, notification, subscribed, reset,
  /// unsubscribed), given as the engine's Frame holds it: `head`, then `body` (may be null).
  /// True if the frame moved one: its event carries the id.
  bool track(std::string_view head, const std::string* body = nullptr);
  /// The event for a frame: tracks it, and returns the event's text up to the frame's
  /// body (the id line if the frame moved a position, then the data line with `head`); the
  /// body and kEventEnd follow it on the wire.
  std::string event_head(std::string_view head, const std::string* body);
  /// The event id: every position known so far ("" before the welcome).
  std::string id() const;
  /// True once the welcome gave the inbox's position (id() is not empty).
  bool positioned() const { return have_inbox_; }

 private:
  struct Position {
    std::uint64_t seq = 0;
    std::string epoch;
  };
  void append_id(std::string& out) const;
  /// Moves the inbox's or `topic`'s position; a notification older than the position (a
  /// redelivery) leaves it where it is. True if it moved.
  bool move(bool inbox, std::string_view topic, std::uint64_t seq, std::string_view epoch,
            bool notification);

  bool have_inbox_ = false;
  Position inbox_;
  std::map<std::string, Position, std::less<>> topics_;  // found by string_view
};

/// What ends every event (after its data line).
inline constexpr std::string_view kEventEnd = "\n\n";

/// Applies a resume id (`Last-Event-ID`, or the `lastEventId` query parameter of clients
/// that cannot set headers) to the handshake: the inbox position becomes since/epoch, the
/// topic positions are put in front of the `topics` parameter (the first entry of a topic
/// wins). An id that does not parse — its inbox part, or any topic entry not written as
/// id() writes them — is ignored as a whole: the session starts as without one (so a
/// forged id cannot get every reconnection of an EventSource refused).
void apply_last_event_id(Handshake& handshake);

/// The opening of an event stream: the response head, the reconnection delay, and the
/// first event, which tells the client where to POST its requests (acks, subscribes…):
/// {"op":"sse","post":"<post_path>"}.
std::string sse_prelude(const std::string& post_path);
/// One event carrying `frame`, without an id (the server's own frames: the prelude, the
/// close); the engine's frames are made events by SsePositions::event_head.
std::string sse_event(const std::string& frame);
/// The last event before the server ends the stream: {"op":"close","code":…,"reason":…}.
/// With `forget_id` it also carries an empty `id:` field, which makes EventSource reconnect
/// without a Last-Event-ID.
std::string sse_close_event(CloseCode code, const std::string& reason, bool forget_id);
/// A comment line that keeps proxies and the client from timing the stream out.
inline const char* sse_heartbeat() { return ": ping\n\n"; }

}  // namespace herald::websocket::detail
