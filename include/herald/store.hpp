#pragma once
// Store: the durable truth. Notifications, per-stream sequence numbers, read state,
// subscriptions, ack cursors and dead letters.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/model.hpp"
#include "herald/preferences.hpp"

namespace herald {

/// One atomic write: a notification and its entries in `streams`.
struct AppendRequest {
  std::shared_ptr<const Notification> notification;
  /// Streams to append to, each getting the next seq of its own. May be empty (the
  /// notification and its idempotency key are still recorded when first_chunk is true).
  std::vector<StreamId> streams;
  /// True for the first (or only) append of a publish: record the notification and check
  /// its idempotency key. False for the following chunks of a fan-out.
  bool first_chunk = true;
  /// A notification with the same non-empty idempotency key in the same scope recorded less
  /// than this long before `notification->created_at` makes this append a no-op: it returns
  /// `duplicate` when the recorded fingerprint equals `fingerprint` (or either is empty: a
  /// record from before fingerprints were stored), else fails with
  /// Errc::idempotency_conflict (nothing written, the record unchanged).
  Duration dedup_window{0};
  /// Who published (PublishRequest::principal): keys are unique per (scope, key).
  std::string idempotency_scope;
  /// Identifies the request the key stands for (the Engine hashes the canonical request).
  std::string fingerprint;
  /// Topic streams keep at most this many newest entries (0: unbounded). Trimmed entries
  /// advance StreamInfo::trimmed_through.
  std::size_t topic_retention = 0;
};

/// The Status a Store yields when an idempotency key is held by a different request.
inline Status idempotency_conflict(const std::string& key) {
  return Status(Errc::idempotency_conflict,
                "idempotency key '" + key.substr(0, 64) +
                    "' was used for a different request within the dedup window: send the "
                    "same request again, or use a new key");
}

struct AppendResult {
  bool duplicate = false;
  NotificationId id = 0;             // the stored notification (the earlier one if duplicate)
  std::vector<Position> positions;   // one per requested stream, same order; empty if duplicate
};

/// A page of a stream: entries with after < seq < before, not expired at `now`.
struct ReadQuery {
  enum class Order { ascending, descending };
  Seq after = 0;
  Seq before = kSeqMax;
  std::size_t limit = 100;  // 0 reads only the StreamInfo
  Order order = Order::ascending;
  TimePoint now{};
};

struct ReadResult {
  StreamInfo info;
  std::vector<Entry> entries;  // in query order
  bool more = false;           // entries beyond the limit exist
};

/// What a connecting session needs to know about its inbox.
struct InboxState {
  StreamInfo info;
  Seq ack_cursor = 0;       // highest seq the user's clients acknowledged
  std::uint64_t unread = 0; // entries not read and not expired
};

/// One bounded step of inbox retention (Store::trim_inboxes). Only inbox streams are
/// touched; topic streams have their own retention (AppendRequest::topic_retention).
struct InboxRetention {
  /// Entries beyond the newest `max_entries` of their inbox go (0: no count limit).
  std::size_t max_entries = 0;
  /// Entries whose notification id is below this go (0: no age limit). Notification ids are
  /// Snowflakes, ordered by creation time: the engine passes the first id of its cutoff
  /// millisecond, so this removes what was created before the cutoff.
  NotificationId before_id = 0;
  /// At most this many entries are removed by the step (>= 1).
  std::size_t limit = 1000;
};

/// A topic with stored subscriptions and how many users follow it.
struct TopicCount {
  std::string topic;
  std::uint64_t subscribers = 0;  // >= 1
};

/// Contract for every method:
/// - asynchronous: returns at once; `done` is called exactly once, on the engine's executor
///   (Completion does the posting), with a value or a Status;
/// - a network or server failure yields Errc::unavailable (retryable) and changes nothing
///   that was not reported as written; a backend reconnects by itself on later calls;
/// - thread-safe: one Store may serve several engines;
/// - writes are durable when reported ok (as durable as the backend is).
class HERALD_API Store {
 public:
  virtual ~Store() = default;

  /// Appends one notification to all streams atomically (all or none), assigning each
  /// stream its next seq. Order of concurrent appends to one stream = seq order.
  virtual void append(AppendRequest request, Completion<AppendResult> done) = 0;

  /// Reads a page of one stream. Unknown streams read as empty (head 0) in the store's
  /// current epoch.
  virtual void read(StreamId stream, ReadQuery query, Completion<ReadResult> done) = 0;

  /// Inbox facts for a connecting session.
  virtual void inbox_state(UserId user, TimePoint now, Completion<InboxState> done) = 0;

  /// Marks entries of the user's inbox read; `seqs` empty = all. Yields how many changed.
  virtual void mark_read(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) = 0;

  /// Deletes entries of the user's inbox. Yields how many existed. Seqs are not reused.
  virtual void remove(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) = 0;

  /// Raises the inbox ack cursor to `seq` (never lowers it). Yields the stored value.
  virtual void advance_ack_cursor(UserId user, Seq seq, Completion<Seq> done) = 0;

  /// Subscribes a user to a topic (idempotent). Yields true if it was new.
  virtual void subscribe(UserId user, std::string topic, Completion<bool> done) = 0;
  /// Yields true if the subscription existed.
  virtual void unsubscribe(UserId user, std::string topic, Completion<bool> done) = 0;
  /// Subscribers of `topic` with id > `after`, ascending, at most `limit` (keyset paging).
  virtual void subscribers(std::string topic, UserId after, std::size_t limit,
                           Completion<std::vector<UserId>> done) = 0;
  /// Topics the user is subscribed to with name > `after` (byte order), ascending, at most
  /// `limit` (keyset paging).
  virtual void subscriptions(UserId user, std::string after, std::size_t limit,
                             Completion<std::vector<std::string>> done) = 0;

  /// Records a dead letter: one per (user, seq); a later one for the same entry replaces it.
  virtual void add_dead_letter(DeadLetter letter, Done done) = 0;
  /// The user's dead letters with seq > `after`, ascending by seq, at most `limit` (keyset
  /// paging).
  virtual void dead_letters(UserId user, Seq after, std::size_t limit,
                            Completion<std::vector<DeadLetter>> done) = 0;
  /// Deletes the dead letter of (user, seq). Yields true if it existed.
  virtual void remove_dead_letter(UserId user, Seq seq, Completion<bool> done) = 0;

  /// Deletes entries whose notification expired at `now`. Yields how many.
  virtual void purge_expired(TimePoint now, Completion<std::uint64_t> done) = 0;

  /// Replaces the user's preferences (in the canonical form of normalize_preferences);
  /// empty ones delete the record.
  virtual void set_preferences(UserId user, Preferences preferences, Done done) = 0;
  /// The preferences of those `users` that have non-empty ones, in no particular order (a
  /// user without preferences is absent). Called once per fan-out chunk, so it must cost one
  /// round trip for the whole list, not one per user.
  virtual void preferences(std::vector<UserId> users,
                           Completion<std::vector<UserPreferences>> done) = 0;
  /// A hint read on the publish path, from any thread, without blocking: false promises that
  /// no user has preferences (the engine then skips preferences()); true means "maybe". A
  /// Store that cannot know cheaply (other processes write the same database) says true.
  virtual bool any_preferences() const noexcept { return true; }

  /// Removes at most `rule.limit` inbox entries that `rule` no longer keeps; yields how many.
  /// Fewer than `limit` means none was left when the step ran. Each step is short (its own
  /// transaction in a database), so appends run between steps. Heads, ack cursors and read
  /// state of the remaining entries are unchanged: seqs are never reused, and the unread
  /// count drops by the unread entries removed. Dead letters stay (a retry of one whose
  /// entry is gone discards it). trimmed_through is not raised: a removed inbox entry is
  /// like a deleted one (Store::remove), not a lost history.
  virtual void trim_inboxes(InboxRetention rule, Completion<std::uint64_t> done) = 0;

  /// Topics with at least one subscriber and name > `after` (byte order), ascending, at most
  /// `limit` (keyset paging), each with its number of subscribers. The cost of a page grows
  /// with the subscribers of the topics on it (they are counted), not with the other topics.
  virtual void topics(std::string after, std::size_t limit,
                      Completion<std::vector<TopicCount>> done) = 0;
};

}  // namespace herald
