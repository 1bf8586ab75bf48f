#pragma once
// Outcome events: what happened to notifications and users, for the host to act on (fall
// back to push, e-mail or SMS; show who is online). docs/events.md says when each fires.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herald/export.hpp"
#include "herald/model.hpp"
#include "herald/time.hpp"

namespace herald {

enum class EventKind {
  /// An inbox entry's user had no session anywhere when it was stored and still none
  /// EngineOptions::offline_after later. Emitted by the publishing instance; at most once.
  notification_undelivered,
  /// An inbox entry was sent max_delivery_attempts times to a session without an ack. By
  /// the session's instance, once its dead letter is stored; at most once per session.
  notification_dead_lettered,
  /// A mark_read (Engine::mark_read, REST, or a client's read / read_all) changed entries.
  notification_read,
  /// The user's first session in the cluster was registered (exactly once per transition).
  user_online,
  /// The user's last session in the cluster went away (exactly once per transition).
  user_offline,
};

/// "notification.undelivered", "notification.dead_lettered", "notification.read",
/// "user.online", "user.offline".
HERALD_API std::string_view to_string(EventKind kind) noexcept;

/// One outcome event. Fields that do not apply to a kind are empty / 0.
struct OutcomeEvent {
  EventKind kind = EventKind::user_online;
  NotificationId event_id = 0;   // unique per event (a Snowflake of the emitting instance)
  UserId user;
  InstanceId instance;           // the emitting instance (user.*: where the change happened)
  TimePoint at{};                // when the engine emitted it
  // notification.undelivered / notification.dead_lettered:
  NotificationId notification_id = 0;
  Seq seq = 0;                   // in inbox:<user>
  std::string type;              // the notification's type
  std::uint32_t attempts = 0;    // dead_lettered: deliveries made
  // notification.read:
  std::vector<Seq> seqs;         // the seqs asked to be marked (empty: all of the inbox)
  std::uint64_t changed = 0;     // how many entries changed (> 0)
};

/// The event as one JSON object (docs/events.md): {"id","event","at","user","instance",…};
/// ids as decimal strings, `at` as RFC 3339 UTC with milliseconds.
HERALD_API std::string to_json(const OutcomeEvent& event);

}  // namespace herald
