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
#include <map>
#include <string>

#include "herald/transport.hpp"

namespace herald::websocket::detail {

class SsePositions {
 public:
  /// Takes the positions a frame moves (welcome, notification, subscribed, reset,
  /// unsubscribed). True if the frame moved one: its event carries id().
  bool track(const std::string& frame);
  /// The event id: every position known so far ("" before the welcome).
  std::string id() const;
  /// True once the welcome gave the inbox's position (id() is not empty).
  bool positioned() const { return have_inbox_; }

 private:
  struct Position {
    std::uint64_t seq = 0;
    std::string epoch;
  };
  bool have_inbox_ = false;
  Position inbox_;
  std::map<std::string, Position> topics_;
};

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
/// One event carrying `frame`; with an `id` line if `id` is not empty.
std::string sse_event(const std::string& id, const std::string& frame);
/// The last event before the server ends the stream: {"op":"close","code":…,"reason":…}.
/// With `forget_id` it also carries an empty `id:` field, which makes EventSource reconnect
/// without a Last-Event-ID.
std::string sse_close_event(CloseCode code, const std::string& reason, bool forget_id);
/// A comment line that keeps proxies and the client from timing the stream out.
inline const char* sse_heartbeat() { return ": ping\n\n"; }

}  // namespace herald::websocket::detail
