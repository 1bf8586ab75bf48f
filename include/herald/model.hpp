#pragma once
// The value types of herald: notifications, streams, positions, targets.

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/time.hpp"

namespace herald {

using UserId = std::string;
using InstanceId = std::string;
using SessionId = std::string;
/// 64-bit Snowflake: milliseconds since 2024-01-01 (41 bits) | node (10 bits) | sequence
/// (12 bits). Rendered as a decimal string in JSON (JavaScript numbers lose precision).
using NotificationId = std::uint64_t;
/// Position in a stream: 1, 2, 3, … with no gap at assignment. 0 means "before the first".
using Seq = std::uint64_t;
/// Identity of a stream's history. Changes when that history is lost (e.g. an in-memory
/// store restarted); a cursor from another epoch cannot be resumed.
using Epoch = std::uint64_t;

inline constexpr Seq kSeqMax = std::numeric_limits<Seq>::max();

/// Name of a delivery stream: `inbox:<user>` or `topic:<name>`.
/// User ids and topic names are 1..200 bytes of printable ASCII other than space;
/// topic names starting with '$' are reserved (`$broadcast`).
class HERALD_API StreamId {
 public:
  enum class Kind { inbox, topic };

  StreamId() = default;
  static StreamId inbox(std::string_view user);
  static StreamId topic(std::string_view name);
  /// Parses "inbox:alice" or "topic:news"; invalid_argument/not_found on anything else.
  static Result<StreamId> parse(std::string_view text);

  Kind kind() const noexcept { return kind_; }
  bool is_inbox() const noexcept { return kind_ == Kind::inbox; }
  /// The user (inbox) or topic name.
  const std::string& name() const noexcept { return name_; }
  /// "inbox:alice"
  std::string str() const;

  friend bool operator==(const StreamId& a, const StreamId& b) {
    return a.kind_ == b.kind_ && a.name_ == b.name_;
  }
  friend bool operator!=(const StreamId& a, const StreamId& b) { return !(a == b); }
  friend bool operator<(const StreamId& a, const StreamId& b) {
    return a.kind_ != b.kind_ ? a.kind_ < b.kind_ : a.name_ < b.name_;
  }

 private:
  StreamId(Kind kind, std::string name) : kind_(kind), name_(std::move(name)) {}
  Kind kind_ = Kind::inbox;
  std::string name_;
};

/// The reserved topic every session joins; Target::broadcast() publishes to it.
inline constexpr std::string_view kBroadcastTopic = "$broadcast";

/// True if `id` is a valid user id (also used for topic names): 1..200 bytes, printable
/// ASCII without space.
HERALD_API bool valid_name(std::string_view id) noexcept;

/// One notification. Immutable once published; shared by every stream entry that holds it.
struct Notification {
  NotificationId id = 0;
  std::string type;              // e.g. "blog.posted"
  std::string data = "null";     // one JSON value, as validated text
  std::string sender;            // optional: the publishing user (rate limits apply to it)
  TimePoint created_at{};
  std::optional<TimePoint> expires_at;  // not delivered nor listed at or after this time
  std::string idempotency_key;   // optional: de-duplicates retried publishes

  bool expired(TimePoint now) const { return expires_at && *expires_at <= now; }
};

/// Where an entry was written: stream, seq and the stream's epoch.
struct Position {
  StreamId stream;
  Seq seq = 0;
  Epoch epoch = 0;
};

/// One notification in one stream.
struct Entry {
  StreamId stream;
  Seq seq = 0;
  bool read = false;  // inbox only
  std::shared_ptr<const Notification> notification;
};

/// Where a client stands in a stream.
struct Cursor {
  Seq seq = 0;
  Epoch epoch = 0;
};

/// The facts about a stream that decide whether a cursor can be resumed.
struct StreamInfo {
  Epoch epoch = 0;
  Seq head = 0;             // highest seq ever assigned (0: empty)
  Seq trimmed_through = 0;  // entries up to here were dropped by retention: not replayable
};

/// Can `cursor` be continued in a stream described by `info`? False when the epoch differs,
/// the cursor is ahead of the head, or entries after it were trimmed.
HERALD_API bool can_resume(const Cursor& cursor, const StreamInfo& info) noexcept;

/// Who receives a publish.
struct Target {
  enum class Kind {
    users,      // one entry in each listed user's inbox
    followers,  // one entry in the inbox of each user subscribed to `topic` (fan-out on write)
    topic,      // one entry in stream topic:<topic>, live to the sessions that joined it
    broadcast,  // the topic every session joins
  };
  Kind kind = Kind::users;
  std::vector<UserId> users;
  std::string topic;

  static Target to_users(std::vector<UserId> users) { return {Kind::users, std::move(users), {}}; }
  static Target to_followers(std::string topic) { return {Kind::followers, {}, std::move(topic)}; }
  static Target to_topic(std::string topic) { return {Kind::topic, {}, std::move(topic)}; }
  static Target to_everyone() { return {Kind::broadcast, {}, {}}; }
};

/// What a host asks the engine to publish.
struct PublishRequest {
  Target target;
  std::string type;
  std::string data = "null";  // JSON text
  /// Set by a host that already parsed `data` and wrote it back itself as one JSON value
  /// (herald-server does, from the request body it parsed): the engine then skips its own
  /// JSON check of `data`, which would read the text a second time. A contract, not a hint:
  /// `data` given with this flag and not valid JSON (UTF-8 included) reaches the Store and
  /// every client as it is. The size limit still applies. Leave it false when in doubt.
  bool data_is_json = false;
  std::string sender;
  std::optional<TimePoint> expires_at;
  /// Optional, at most 200 characters without control characters. Unique per principal
  /// within EngineOptions::dedup_window: the same key with the same request (target with its
  /// users as a set, type, data compared as text, sender, expires_at) answers the first
  /// publish again (`duplicate`); with a different request it fails with
  /// Errc::idempotency_conflict.
  std::string idempotency_key;
  /// Who publishes, as the host authenticated it (at most 200 characters without control
  /// characters); not stored with the notification. It scopes the idempotency key, and a
  /// publish without a sender takes its rate-limit token from the principal's bucket.
  /// herald-server sets `addr:<client IP>` (the API key's name once auth lands). Empty (an
  /// in-process caller's default) is one scope of its own; without a sender it is not
  /// rate-limited.
  std::string principal;
  /// Bypasses every recipient's Preferences: a critical notification is stored in and pushed
  /// to every recipient, muted or not. Not stored with the notification.
  bool critical = false;
};

/// What a successful publish returns. Recipients = streams written.
struct PublishResult {
  NotificationId id = 0;
  std::size_t streams_written = 0;
  bool duplicate = false;  // an earlier publish with the same idempotency key is returned
  /// Recipients whose Preferences muted the notification: not stored for them, not pushed.
  std::size_t muted = 0;
};

/// A delivery the engine gave up on after its attempts; kept and queryable.
struct DeadLetter {
  UserId user;
  Seq seq = 0;
  NotificationId notification_id = 0;
  std::uint32_t attempts = 0;
  TimePoint at{};
  std::string reason;
};

/// A connected session as the Registry knows it.
struct SessionRecord {
  SessionId session;
  UserId user;
  InstanceId instance;
  TimePoint connected_at{};
};

}  // namespace herald
