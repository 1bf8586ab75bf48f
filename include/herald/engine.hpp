#pragma once
// The Engine: composes Transport, Broker, Store and Registry and owns every delivery rule.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herald/broker.hpp"
#include "herald/events.hpp"
#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/metrics.hpp"
#include "herald/model.hpp"
#include "herald/registry.hpp"
#include "herald/store.hpp"
#include "herald/transport.hpp"

namespace herald {

/// Outcome of authenticating a handshake.
struct AuthResult {
  bool ok = false;
  UserId user;         // when ok
  std::string reason;  // when not ok, sent in the close frame
  /// When the credential stops being valid (a token's `exp`). The session is closed with
  /// CloseCode::token_expired EngineOptions::token_grace after it, unless the client sent
  /// a fresh credential first ({"op":"refresh","token":…}). nullopt: it does not expire.
  std::optional<TimePoint> expires_at;
  /// Topic patterns the session may subscribe to (see herald::topic_allowed: a name, or a
  /// prefix ending in '*'). nullopt: any topic (the SubscribeAuthorizer still decides).
  std::optional<std::vector<std::string>> topics;

  /// A client proven to be `user`.
  static AuthResult allow(UserId user) {
    AuthResult r;
    r.ok = true;
    r.user = std::move(user);
    return r;
  }
  /// A refused client; `reason` goes into the close frame.
  static AuthResult refuse(std::string reason) {
    AuthResult r;
    r.reason = std::move(reason);
    return r;
  }
};

/// Decides who a connecting client is. Called on the engine's executor; may answer later
/// from any thread by calling `answer` exactly once. A refresh ({"op":"refresh","token":T})
/// calls it again with the session's handshake, its `token` query parameter and
/// Sec-WebSocket-Protocol header removed and `Authorization: Bearer T` set; the answer must
/// name the same user.
using Authenticator =
    std::function<void(const Handshake& handshake, std::function<void(AuthResult)> answer)>;

/// The host's say on a session's `subscribe` (after AuthResult::topics allowed it). Called
/// on the engine's executor; must not block. False: the client gets `error` `forbidden`
/// and the session stays open.
using SubscribeAuthorizer = std::function<bool(const UserId& user, const std::string& topic)>;

/// Development authenticator: trusts the `userId` query parameter. Never use in production.
HERALD_API Authenticator dev_authenticator();

/// Token bucket per sender: `burst` publishes at once, refilled at `per_second`.
struct RateLimit {
  double per_second = 10.0;
  double burst = 100.0;
  bool enabled = true;
};

/// Engine configuration. Plain values with production defaults; checked by Engine::start.
struct EngineOptions {
  InstanceId instance_id;                     // empty: "herald-<random>"
  std::uint16_t node_id = 0;                  // Snowflake node, 0..1023; 0: derived from instance
  std::size_t max_payload_bytes = 64 * 1024;  // size of `data`
  std::size_t max_type_bytes = 128;
  std::size_t max_recipients = 10'000;        // users of one Target::users publish
  std::size_t fanout_chunk = 1'000;           // streams per Store.append in a fan-out
  std::size_t topic_retention = 1'000;        // newest entries kept per topic stream
  std::size_t max_page = 500;                 // largest history page
  Duration dedup_window = std::chrono::minutes(10);
  RateLimit rate_limit;
  std::size_t max_session_queue_bytes = 1 << 20;  // unwritten bytes per session
  std::size_t max_unacked = 256;              // inbox entries in flight per session
  /// Topics one session may join besides $broadcast; a subscribe past it is refused with
  /// Errc::limit_exceeded (the session stays open).
  std::size_t max_session_topics = 256;
  /// How long a session outlives its credential's AuthResult::expires_at.
  Duration token_grace = std::chrono::seconds(30);
  Duration ack_timeout = std::chrono::seconds(10);
  /// How long a client's ack may wait to be applied together with others while the engine
  /// has nothing else to run: an ack read on another thread then does not wake the engine's
  /// thread for itself. Anything the engine does meanwhile (a publish, the session's next
  /// frame or close, a redelivery, a query) applies the waiting acks first, and a session
  /// whose ack window is full gets its acks applied at once. 0: each ack is its own task.
  Duration ack_batch_delay = std::chrono::milliseconds(5);
  std::uint32_t max_delivery_attempts = 3;    // first delivery included
  double redelivery_backoff = 2.0;            // ack timeout multiplier per attempt
  // A crashed instance's sessions leave the registry within this; heartbeat every ttl/3.
  Duration registry_ttl = std::chrono::seconds(10);
  /// How often expired entries are purged and inbox retention (below) is applied.
  Duration expiry_sweep = std::chrono::seconds(60);
  /// Inbox retention: each inbox keeps at most its newest `inbox_max_entries` entries (0:
  /// no count limit) and no entry older than `inbox_max_age` (0: no age limit). Applied by
  /// the sweep in steps of at most `retention_batch` entries, so appends interleave.
  std::size_t inbox_max_entries = 0;
  Duration inbox_max_age = std::chrono::hours(24 * 90);
  std::size_t retention_batch = 1'000;
  Duration shutdown_timeout = std::chrono::seconds(10);  // longest wait for in-flight work
  /// notification.undelivered: how long after an inbox entry was stored, to a user with no
  /// session anywhere, the user is checked again (0: report at once, without a second look).
  Duration offline_after = std::chrono::seconds(30);
  /// Whether this instance's presence changes are published through the Broker for the
  /// on_presence callbacks of the other instances: two messages per user session (its
  /// first session here opening, its last one closing), each read by every instance. A
  /// cluster whose hosts set no on_presence (herald-server) turns it off; a lone instance
  /// publishes none either way (Registry::alone). presence() asks the Registry and is not
  /// affected, nor is this instance's own callback.
  bool relay_presence = true;
};

/// The backends an engine runs on. Broker, Store and Registry are required; transports
/// are optional (an engine may only publish). The engine does not own transports.
struct Backends {
  std::shared_ptr<Store> store;
  std::shared_ptr<Registry> registry;
  std::unique_ptr<Broker> broker;
  std::vector<Transport*> transports;
};

/// A presence change of a user on `instance`: its first session there opened, or its last
/// one there closed; or, for an instance that died, the user's last session anywhere was
/// there (announced once in the cluster by the instance that noticed the expiry).
struct PresenceEvent {
  UserId user;
  bool online = false;  // true: first session opened here; false: last one closed
  InstanceId instance;
};

/// What Engine::disconnect asked to close.
struct DisconnectResult {
  std::size_t local = 0;   // the user's sessions on this instance, closed
  std::size_t remote = 0;  // the user's sessions on other instances as the Registry knew them
};

/// Inbox history page (newest first) or topic history page.
struct HistoryQuery {
  Seq before = kSeqMax;    // entries with seq < before
  std::int64_t limit = 50; // 1..EngineOptions::max_page
};
struct HistoryPage {
  StreamInfo info;
  std::vector<Entry> entries;  // newest first
  Seq next_before = 0;         // pass as `before` for the next page; 0: no more
};

/// Threading: every public method may be called from any thread; the work moves onto the
/// engine's executor, where every callback runs. Errors on these paths are Status values;
/// only the constructor and start() throw (herald::Error) on bad configuration.
class HERALD_API Engine {
 public:
  Engine(std::shared_ptr<Executor> executor, Backends backends, EngineOptions options = {},
         Authenticator authenticator = dev_authenticator());
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Connects the backends, registers the instance and starts the transports.
  /// Throws herald::Error if the options are invalid; backend failures arrive in `done`.
  void start(std::function<void(Status)> done);

  /// Validates, rate-limits, de-duplicates, persists, then routes and delivers. `done` runs
  /// once every entry is stored (before live delivery completes). Rate limit: a publish
  /// with a sender takes a token from the sender's bucket; without one, from the bucket of
  /// its principal (PublishRequest::principal); with neither it is not limited. Idempotency:
  /// a key is unique per principal within dedup_window; the same key with the same request
  /// yields the first publish's id with `duplicate` set, with a different request
  /// Errc::idempotency_conflict (nothing written).
  void publish(PublishRequest request, std::function<void(Result<PublishResult>)> done);

  void history(StreamId stream, HistoryQuery query, std::function<void(Result<HistoryPage>)> done);
  void unread_count(UserId user, std::function<void(Result<std::uint64_t>)> done);
  /// `seqs` empty = all. Yields how many changed.
  void mark_read(UserId user, std::vector<Seq> seqs, std::function<void(Result<std::uint64_t>)> done);
  void remove(UserId user, std::vector<Seq> seqs, std::function<void(Result<std::uint64_t>)> done);
  /// The user's preferences (empty when none were set).
  void preferences(UserId user, std::function<void(Result<Preferences>)> done);
  /// Replaces the user's preferences after checking them (normalize_preferences: at most
  /// kMaxMutedTypes types and kMaxMutedTopics topics, valid names; invalid_argument and
  /// nothing changed otherwise). They apply to publishes that start after `done`.
  void set_preferences(UserId user, Preferences preferences,
                       std::function<void(Result<void>)> done);
  void subscribe(UserId user, std::string topic, std::function<void(Result<bool>)> done);
  void unsubscribe(UserId user, std::string topic, std::function<void(Result<bool>)> done);
  /// Topics the user follows with name > `after` (byte order), ascending, at most `limit`
  /// (1..EngineOptions::max_page): keyset paging like subscribers(); `after` is empty (from
  /// the start) or a valid topic name.
  void subscriptions(UserId user, std::string after, std::int64_t limit,
                     std::function<void(Result<std::vector<std::string>>)> done);
  /// Subscribers of `topic` (the users following it) with id > `after`, ascending, at most
  /// `limit` (1..EngineOptions::max_page): keyset paging, pass the last id of a page as
  /// `after` for the next one; a page shorter than `limit` is the last. `after` is empty
  /// (from the start) or a valid user id; the topic is checked like subscribe()'s.
  void subscribers(std::string topic, UserId after, std::int64_t limit,
                   std::function<void(Result<std::vector<UserId>>)> done);
  /// The user's dead letters (inbox entries whose deliveries were not acknowledged) with
  /// seq > `after`, ascending by seq, at most `limit` (1..EngineOptions::max_page).
  void dead_letters(UserId user, Seq after, std::int64_t limit,
                    std::function<void(Result<std::vector<DeadLetter>>)> done);
  /// Redelivers a dead-lettered entry: it leaves the dead letters and goes again, with
  /// fresh attempts, to the user's live sessions on every instance (a session that has not
  /// reached it yet gets it in order as usual). not_found if there is no such dead letter,
  /// or if the entry left the inbox meanwhile (deleted or expired: the dead letter is then
  /// discarded).
  void retry_dead_letter(UserId user, Seq seq, std::function<void(Result<void>)> done);
  /// Discards a dead letter (the inbox entry stays). Yields true if it existed.
  void discard_dead_letter(UserId user, Seq seq, std::function<void(Result<bool>)> done);
  /// Sessions of a user on every instance.
  void presence(UserId user, std::function<void(Result<std::vector<SessionRecord>>)> done);
  /// Called on the executor for each presence change: this instance's, and those of the
  /// other instances as relayed by the Broker (at most once; presence() is the truth).
  /// Without a callback the relayed changes are dropped unread; this instance's own are
  /// still published for the others, unless EngineOptions::relay_presence is off.
  void on_presence(std::function<void(const PresenceEvent&)> callback);
  /// Called on the executor for each outcome event (include/herald/events.hpp; when each
  /// fires and how often: docs/events.md). Must not block: hand the event to a queue.
  /// Replaces an earlier callback; empty: no events (and no work spent on them).
  void on_event(std::function<void(const OutcomeEvent&)> callback);
  /// Sets the host's check of every topic a session subscribes to (empty: none).
  void authorize_subscribe(SubscribeAuthorizer authorizer);

  // --- administration (src/engine/admin.cpp)

  /// Closes every session of `user` on every instance with CloseCode::disconnected and
  /// `reason` (empty: "disconnected by an administrator"; else at most 123 bytes of
  /// printable ASCII, the limit of a WebSocket close reason). The Registry is asked first:
  /// if it fails, nothing is closed (Errc::unavailable; retry). Then the sessions here are
  /// closed and the other instances are told through the Broker (at most once, like every
  /// relay); if that publish fails, `done` gets Errc::unavailable although the sessions here
  /// were closed (a retry is harmless). Sessions opened afterwards are not affected: to keep
  /// a user out, also revoke its credentials.
  void disconnect(UserId user, std::string reason,
                  std::function<void(Result<DisconnectResult>)> done);
  /// Topics with stored subscriptions (Engine::subscribe) and name > `after` (byte order),
  /// ascending, at most `limit` (1..EngineOptions::max_page), each with its number of
  /// subscribers: keyset paging like subscribers(); `after` is empty or a valid topic name.
  void topics(std::string after, std::int64_t limit,
              std::function<void(Result<std::vector<TopicCount>>)> done);
  /// The live instances with the load each reported at its last heartbeat (every
  /// registry_ttl / 3): the figures are that old at most.
  void instances(std::function<void(Result<std::vector<InstanceStatus>>)> done);

  /// Stops accepting, drains in-flight publishes, closes sessions with going_away,
  /// deregisters the instance, stops the broker and waits for every Store call still out
  /// (the sweep's, a session's read, a host query's). The two waits together last at most
  /// shutdown_timeout. Then `done`: no Store completion of this engine comes after it,
  /// unless the time ran out.
  void shutdown(std::function<void()> done);

  const InstanceId& instance_id() const;
  const EngineOptions& options() const;
  /// Readable from any thread.
  const Metrics& metrics() const;

  class HERALD_LOCAL Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald
