#pragma once
// Engine::Impl: the state and rules of one engine. Every member function runs on the
// engine's executor (public Engine methods post onto it), so no member needs a lock; the
// exceptions are the lists of on_written reports and of plain acks, which transports fill
// from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/protocol.hpp"
#include "engine/rate_limiter.hpp"
#include "herald/engine.hpp"
#include "herald/snowflake.hpp"

namespace herald {

struct Envelope;
struct InboxRelay;

/// A session's position in one stream and the state of its catch-up reads.
/// Invariant: every entry with seq <= delivered was sent (or deliberately skipped).
struct StreamCursor {
  StreamId stream;
  Epoch epoch = 0;
  Seq delivered = 0;
  bool ready = false;    // initial position validated (resume checked)
  bool reading = false;  // a Store read is in flight
  bool behind = false;   // entries after `delivered` may exist that were not sent
  std::size_t member = 0;  // a topic cursor's index in Impl::by_topic_[name]
  bool stored = false;     // a topic joined for the user's stored subscription
};

/// An inbox entry sent but not yet acknowledged.
struct Unacked {
  Seq seq = 0;
  TimePoint due{};
  std::uint32_t attempts = 1;
  std::shared_ptr<const Notification> notification;
  std::shared_ptr<const std::string> body;
};

struct Session {
  enum class Phase { authenticating, live, closed };

  std::shared_ptr<Connection> connection;
  Phase phase = Phase::authenticating;
  SessionRecord record;
  std::size_t queued_bytes = 0;  // sent but not yet written by the transport
  bool replay_paused = false;    // a catch-up waits for queued_bytes to shrink
  bool awaiting_acks = false;    // the inbox window is full and entries wait behind it
  StreamCursor inbox;
  // Joined topics (live + resume) by name: join, leave and lookup are O(log n) however many
  // a session joins (at most EngineOptions::max_session_topics besides $broadcast), and a
  // cursor's address is stable while it is joined (by_topic_ points at it).
  std::map<std::string, StreamCursor, std::less<>> topics;
  // An idle session holds no unacked entry (an empty vector allocates nothing).
  std::vector<Unacked> unacked;      // inbox entries in flight, seq ascending
  Executor::TimerId ack_timer = 0;
  TimePoint ack_due{};       // when ack_timer fires (valid while it is armed)
  Seq ack_stored = 0;        // ack cursor known to be in the Store
  Seq ack_wanted = 0;        // highest ack received from the client
  bool ack_writing = false;  // one advance_ack_cursor in flight at a time (coalescing)
  Cursor resume;             // inbox position asked for in the handshake (since, epoch)
  bool resume_given = false; // false: continue from the stored ack cursor
  // Topics of the handshake's `topics` parameter, joined once the inbox is open.
  std::vector<protocol::TopicPosition> listed;
  // What the credential allows (AuthResult): topic patterns, and when it expires.
  std::optional<std::vector<std::string>> topic_grants;
  Executor::TimerId expiry_timer = 0;  // closes the session token_grace after expires_at
  bool refreshing = false;             // one refresh at a time

  /// The cursor of joined topic `name`; nullptr if not joined. Valid until topics changes.
  StreamCursor* topic(std::string_view name) {
    auto it = topics.find(name);
    return it == topics.end() ? nullptr : &it->second;
  }
};

class Engine::Impl : public ConnectionHandler, public std::enable_shared_from_this<Engine::Impl> {
 public:
  Impl(std::shared_ptr<Executor> executor, Backends backends, EngineOptions options,
       Authenticator authenticator);

  // Engine API, on the executor.
  void start(std::function<void(Status)> done);
  /// Takes the request's fields (it is left moved-from).
  void publish(PublishRequest& request, std::function<void(Result<PublishResult>)> done);
  void shutdown(std::function<void()> done);
  void detach();  // the Engine object is gone: stop timers so the Impl can be freed

  // ConnectionHandler: any thread; each posts onto the executor.
  void on_open(std::shared_ptr<Connection> connection) override;
  void on_message(const std::shared_ptr<Connection>& connection, std::string text) override;
  void on_written(const std::shared_ptr<Connection>& connection, std::size_t bytes) override;
  void on_closed(const std::shared_ptr<Connection>& connection, CloseCode code,
                 std::string reason) override;

  /// Runs `fn(impl)` on the executor; keeps the Impl alive until then.
  /// Like every task of the engine's, it applies the waiting acks first (see acks_).
  template <class F>
  void post(F fn) {
    executor_->post([self = shared_from_this(), fn = std::move(fn)]() mutable {
      self->take_waiting_acks();
      fn(*self);
    });
  }
  /// A Completion whose callback runs `fn(impl, result)` on the executor, after the
  /// waiting acks.
  template <class T, class F>
  Completion<T> completion(F fn) {
    return Completion<T>(executor_,
                         [self = shared_from_this(), fn = std::move(fn)](Result<T> r) mutable {
                           self->take_waiting_acks();
                           fn(*self, std::move(r));
                         });
  }

  /// A completion for a Store call (or a host query): counted in store_calls_ until `fn`
  /// ran, and shutdown's last step waits for the count to reach 0 (bounded by
  /// shutdown_timeout, see when_idle). A backend with threads of its own may finish a call late;
  /// its posted completion must not outlive the executor, or it would be destroyed on that thread,
  /// with the last reference to the engine and to the backend itself.
  template <class T, class F>
  Completion<T> store_completion(F fn) {
    ++store_calls_.count;
    return completion<T>([fn = std::move(fn)](Impl& self, Result<T> r) mutable {
      fn(self, std::move(r));
      self.finished(self.store_calls_);
    });
  }

  enum class State { created, starting, running, stopping, stopped };

  std::shared_ptr<Executor> executor_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Registry> registry_;
  std::unique_ptr<Broker> broker_;
  std::vector<Transport*> transports_;
  EngineOptions options_;
  Authenticator authenticator_;
  Metrics metrics_;
  SnowflakeGenerator ids_;
  RateLimiter limiter_;
  State state_ = State::created;

  std::unordered_map<Connection*, std::shared_ptr<Session>> sessions_;
  std::unordered_map<UserId, std::vector<Session*>> by_user_;      // live sessions per user
  /// A session joined to a topic, and its cursor there (StreamCursor::member is the index).
  struct TopicMember {
    Session* session;
    StreamCursor* cursor;
  };
  // Joined sessions per topic, in no particular order: leaving swaps the last one into the
  // leaver's place, O(1) however many sessions joined.
  std::unordered_map<std::string, std::vector<TopicMember>> by_topic_;
  std::function<void(const PresenceEvent&)> on_presence_;
  std::function<void(const OutcomeEvent&)> on_event_;
  std::set<Executor::TimerId> undelivered_timers_;  // pending second looks (events.cpp)
  SubscribeAuthorizer subscribe_authorizer_;
  /// Work shutdown waits for: how much is out, and the one waiter for it to reach 0.
  struct InFlight {
    std::size_t count = 0;
    std::function<void()> idle;  // set by when_idle while shutdown waits
  };
  InFlight work_in_flight_;        // publishes and routings not finished (shutdown drains)
  InFlight store_calls_;           // store_completion()s not yet run (shutdown's last wait)
  TimePoint shutdown_deadline_{};  // shutdown began + shutdown_timeout: bounds both waits
  bool registry_dirty_ = false;  // a registry write failed: re-register sessions on recovery
  Executor::TimerId heartbeat_timer_ = 0;
  Executor::TimerId sweep_timer_ = 0;

  /// on_written reports wait here and are applied in batches: one posted task for all the
  /// reports that arrive before it runs, instead of one per socket write. While no session
  /// waits for one (replay_paused), a report is not even posted: it waits until the engine
  /// next looks at a queue's size (a bound check, a catch-up, the load, the sweep), so a
  /// report from another thread wakes the engine's thread only when it is needed there.
  /// Nothing reads queued_bytes without taking the waiting reports first
  /// (take_waiting_reports), so no decision sees fewer reports than with a posted task.
  /// kWaitingAtMost bounds the wait (of reports here, and of acks below): under load (a busy
  /// engine thread, woken by its own work anyway) they are applied in batches of about that
  /// size, so a waiting list, and the connections it keeps, stay small.
  static constexpr std::size_t kWaitingAtMost = 64;
  struct WrittenReport {
    std::shared_ptr<Connection> connection;
    std::size_t bytes = 0;
  };
  std::mutex written_mutex_;
  std::vector<WrittenReport> written_;   // guarded by written_mutex_
  bool written_posted_ = false;          // an apply_written task is queued; ditto
  std::atomic<std::size_t> paused_replays_{0};  // sessions with replay_paused; executor writes
  std::vector<WrittenReport> applying_;  // the batch being applied; executor only
  bool applying_written_ = false;        // apply_written() runs; executor only
  void apply_written();
  /// Applies the reports in the list now, if any (not from inside apply_written). Returns
  /// true if it applied some. Executor only.
  bool take_waiting_reports();
  /// Sets s.replay_paused, keeping paused_replays_ exact. Executor only.
  void set_replay_paused(Session& s, bool paused);

  /// Plain acks (protocol::plain_ack: what clients send) wait here and are applied in
  /// batches, so that an ack read on another thread does not wake the engine's thread for
  /// itself. Every task the engine runs through post() or completion(), and the ack timer,
  /// applies the waiting acks first: a session's later frames, its close, a redelivery and
  /// every query see each ack that arrived before them, as they would with a posted task.
  /// When nothing else runs, a timer applies them EngineOptions::ack_batch_delay after the
  /// first ack of a batch (one timer at a time, however many acks arrive). An ack is posted
  /// at once while a session's full window holds entries back (awaiting_acks_), when
  /// kWaitingAtMost acks wait, and with an ack_batch_delay of 0. Any other frame is
  /// posted as it comes.
  struct WaitingAck {
    std::shared_ptr<Connection> connection;
    Seq seq = 0;
  };
  std::mutex acks_mutex_;
  std::vector<WaitingAck> acks_;               // guarded by acks_mutex_
  bool acks_timer_armed_ = false;              // a flush timer is scheduled; ditto
  bool acks_task_posted_ = false;              // a flush task is posted; ditto
  std::atomic<bool> acks_waiting_{false};      // acks_ is not empty: read without the lock
  std::atomic<std::size_t> awaiting_acks_{0};  // sessions with awaiting_acks; executor writes
  std::vector<WaitingAck> applying_acks_;      // the batch being applied; executor only
  /// Any thread: queues the ack and makes sure something applies it (see above).
  void queue_ack(const std::shared_ptr<Connection>& connection, Seq seq);
  /// Executor only: applies the waiting acks, if any, in arrival order.
  void take_waiting_acks() {
    if (acks_waiting_.load(std::memory_order_acquire)) apply_waiting_acks();
  }
  void apply_waiting_acks();
  void flush_acks_task();  // the task queue_ack posts
  /// Sets s.awaiting_acks, keeping awaiting_acks_ exact. Executor only.
  void set_awaiting_acks(Session& s, bool waiting);

  // --- lifecycle (engine.cpp)
  void all_of(std::vector<std::function<void(Done)>> steps, std::function<void(Impl&, Status)> then);
  void hold() { ++work_in_flight_.count; }
  void release() { finished(work_in_flight_); }
  void finished(InFlight& work);
  void when_idle(InFlight& work, std::function<void(Impl&)> then);
  void heartbeat();
  void sweep();

  // --- inbox retention (retention.cpp)
  bool retention_running_ = false;  // a chain of trim steps is in flight
  void apply_retention();
  void trim_step(InboxRetention rule, std::size_t steps_left);
  void finish_shutdown(std::function<void()> done);

  // --- publish (publish.cpp)
  Status validate(PublishRequest& request) const;
  std::shared_ptr<InboxRelay> locate_ahead(const std::vector<StreamId>& streams);
  void route(const std::shared_ptr<const Notification>& n, std::vector<Position> positions,
             std::shared_ptr<InboxRelay> pending);
  void relay_inbox(const InboxRelay& pending);
  void relay(const Envelope& envelope, const std::string& channel);
  void on_broker_message(const std::string& channel, const std::string& payload);
  void presence_changed(const UserId& user, bool online);
  void departed(const std::vector<Departure>& departures);
  void announce(const PresenceEvent& event);
  void on_broker_reset();

  // --- outcome events (events.cpp)
  void emit(OutcomeEvent event);
  void user_changed(const UserId& user, bool online, const InstanceId& where);
  void read_changed(const UserId& user, const std::vector<Seq>& seqs, std::uint64_t changed);
  void dead_lettered(const UserId& user, const Unacked& entry);
  void watch_undelivered(const Envelope& stored, const std::vector<Location>& where);
  void report_undelivered(const Envelope& offline, const std::vector<Location>& where);
  void cancel_undelivered();

  // --- delivery to local sessions (delivery.cpp)
  void deliver_local(const Envelope& envelope);
  void offer(Session& s, StreamCursor& c, Seq seq, Epoch epoch,
             const std::shared_ptr<const Notification>& n,
             const std::shared_ptr<const std::string>& body,
             const std::shared_ptr<const std::string>& framed);
  void catch_up(Session& s, StreamCursor& c);
  void place(Session& s, StreamCursor& c, Cursor wanted, const StreamInfo& info);
  /// The session's cursor of `stream`; nullptr if it left that topic.
  static StreamCursor* cursor_of(Session& s, const StreamId& stream);
  void send_entry(Session& s, StreamCursor& c, Seq seq, const std::shared_ptr<const Notification>& n,
                  std::shared_ptr<const std::string> body,
                  const std::shared_ptr<const std::string>& framed = nullptr);
  bool write(Session& s, Frame frame);
  bool window_full(const Session& s, const StreamCursor& c) const;
  bool queue_busy(const Session& s) const;
  void arm_ack_timer(Session& s, TimePoint due);
  void on_ack_timer(Session& s);
  void acknowledge(Session& s, Seq seq);
  /// A client's ack of the inbox up to `seq`: checked against what was delivered (an
  /// `error` frame, echoing `rid`, if it is beyond), then acknowledged.
  void receive_ack(Session& s, Seq seq, const std::string& rid);

  // --- dead letters (dead_letters.cpp)
  void retry_dead_letter(const UserId& user, Seq seq, Completion<void> done);
  void redeliver_local(const Envelope& envelope);
  void store_ack(Session& s);

  // --- sessions (sessions.cpp)
  void authenticated(const std::shared_ptr<Session>& s, AuthResult result);
  void grant(Session& s, const AuthResult& result);
  void refresh(Session& s, const std::string& token, const std::string& rid);
  Status may_subscribe(const Session& s, const std::string& topic) const;
  void open_inbox(Session& s, const InboxState& state);
  void join_topic(Session& s, const std::string& topic, std::optional<Seq> since,
                  std::optional<Epoch> epoch, const std::string& rid, bool stored = false);
  void join_listed(Session& s);
  void join_at_open(Session& s, const std::vector<std::string>& stored);
  void membership_changed(const UserId& user, const std::string& topic, bool joined);
  void join_or_leave(const UserId& user, const std::string& topic, bool joined);
  void start_topic(const std::weak_ptr<Session>& s, const std::string& topic,
                   std::optional<Seq> since, std::optional<Epoch> epoch, const std::string& rid);
  void leave_topic(Session& s, const std::string& topic);
  void drop_member(const std::string& topic, StreamCursor& cursor);
  void handle_request(Session& s, const std::string& text);
  void close_session(Session& s, CloseCode code, const std::string& reason);
  void forget(Connection* connection);
  std::shared_ptr<Session> find(Connection* c) const;
  std::weak_ptr<Session> weak(Session& s) const;
  void register_session(const SessionRecord& record);

  // --- administration (admin.cpp)
  TimePoint started_at_{};  // when start() finished, for InstanceLoad::started_at
  void disconnect(const UserId& user, const std::string& reason, Completion<DisconnectResult> done);
  std::size_t close_user(const UserId& user, const std::string& reason);
  bool admin_message(const std::string& payload);
  void report_load();
  InstanceLoad load() const;
};

}  // namespace herald
