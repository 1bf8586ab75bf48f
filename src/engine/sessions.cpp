// The connect flow (DESIGN §3): authenticate, register, read the backlog, go live; client
// requests; closing and forgetting sessions.

#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"
#include "engine/protocol.hpp"
#include "herald/auth.hpp"

namespace herald {

namespace {

constexpr std::size_t kMaxRequestBytes = 64 * 1024;

// Sets a session's `flag`, keeping `count` (how many sessions have it set, read by other
// threads) exact. True if the flag was turned on now: the caller then makes sure what
// waits for it is not left waiting.
bool set_counted(bool& flag, std::atomic<std::size_t>& count, bool on) {
  if (flag == on) return false;
  flag = on;
  if (on)
    count.fetch_add(1, std::memory_order_acq_rel);
  else
    count.fetch_sub(1, std::memory_order_acq_rel);
  return on;
}

}  // namespace

std::shared_ptr<Session> Engine::Impl::find(Connection* c) const {
  auto it = sessions_.find(c);
  return it == sessions_.end() ? nullptr : it->second;
}

std::weak_ptr<Session> Engine::Impl::weak(Session& s) const { return find(s.connection.get()); }

// --- ConnectionHandler: transports call these from any thread.

void Engine::Impl::on_open(std::shared_ptr<Connection> connection) {
  post([connection](Impl& self) {
    if (self.state_ != State::running) {
      connection->close(CloseCode::going_away, "server is not accepting connections");
      return;
    }
    auto s = std::make_shared<Session>();
    s->connection = connection;
    self.sessions_[connection.get()] = s;
    std::weak_ptr<Session> ws = s;
    std::weak_ptr<Impl> wself = self.shared_from_this();
    self.authenticator_(connection->handshake(), [wself, ws](AuthResult result) {
      auto me = wself.lock();
      if (!me) return;
      me->post([ws, result = std::move(result)](Impl& self2) mutable {
        if (auto sp = ws.lock()) self2.authenticated(sp, std::move(result));
      });
    });
  });
}

void Engine::Impl::on_message(const std::shared_ptr<Connection>& connection, std::string text) {
  if (auto seq = protocol::plain_ack(text)) return queue_ack(connection, *seq);
  post([connection, text = std::move(text)](Impl& self) {
    if (auto s = self.find(connection.get())) self.handle_request(*s, text);
  });
}

void Engine::Impl::queue_ack(const std::shared_ptr<Connection>& connection, Seq seq) {
  bool post_now = false, arm_timer = false;
  {
    std::lock_guard<std::mutex> lock(acks_mutex_);
    acks_.push_back({connection, seq});
    acks_waiting_.store(true, std::memory_order_release);
    if (!acks_task_posted_ &&
        (awaiting_acks_.load(std::memory_order_acquire) != 0 || acks_.size() >= kWaitingAtMost ||
         options_.ack_batch_delay.count() == 0)) {
      post_now = acks_task_posted_ = true;
    } else if (!acks_task_posted_ && !acks_timer_armed_) {
      arm_timer = acks_timer_armed_ = true;
    }
  }
  // Outside the lock: the executor may run the task on another thread at once.
  if (post_now) post([](Impl& self) { self.flush_acks_task(); });
  if (arm_timer) {
    std::weak_ptr<Impl> weak_self = shared_from_this();
    executor_->schedule(options_.ack_batch_delay, [weak_self] {
      auto self = weak_self.lock();
      if (!self) return;
      {
        std::lock_guard<std::mutex> lock(self->acks_mutex_);
        self->acks_timer_armed_ = false;
      }
      self->take_waiting_acks();
    });
  }
}

void Engine::Impl::apply_waiting_acks() {
  if (!applying_acks_.empty()) return;  // already applying further up this task's stack
  {
    std::lock_guard<std::mutex> lock(acks_mutex_);
    applying_acks_.swap(acks_);  // acks_ gets the emptied buffer back: no reallocation
    acks_waiting_.store(false, std::memory_order_release);
  }
  for (const WaitingAck& ack : applying_acks_) {
    auto it = sessions_.find(ack.connection.get());
    if (it != sessions_.end()) receive_ack(*it->second, ack.seq, "");
  }
  applying_acks_.clear();
}

void Engine::Impl::set_awaiting_acks(Session& s, bool waiting) {
  if (!set_counted(s.awaiting_acks, awaiting_acks_, waiting)) return;
  // Acks from now on are posted (queue_ack reads the count under the mutex); those that
  // waited until now get a task here, so the window opens without waiting for the timer.
  {
    std::lock_guard<std::mutex> lock(acks_mutex_);
    if (acks_task_posted_ || acks_.empty()) return;
    acks_task_posted_ = true;
  }
  post([](Impl& self) { self.flush_acks_task(); });
}

// The flag goes first: an ack queued after it posts or arms again, one queued before it is
// in the list taken next. (post() took the list once already; this takes what came since.)
void Engine::Impl::flush_acks_task() {
  {
    std::lock_guard<std::mutex> lock(acks_mutex_);
    acks_task_posted_ = false;
  }
  take_waiting_acks();
}

void Engine::Impl::on_written(const std::shared_ptr<Connection>& connection, std::size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(written_mutex_);
    written_.push_back({connection, bytes});
    if (written_posted_) return;
    // Nobody waits (see written_): the report waits too, unless enough of them did already.
    if (paused_replays_.load(std::memory_order_acquire) == 0 && written_.size() < kWaitingAtMost)
      return;
    written_posted_ = true;
  }
  post([](Impl& self) { self.apply_written(); });
}

// Called only where a decision reads queued_bytes off the common path (a queue over its
// bound, a busy catch-up, the load report, the sweep): the lock costs nothing per frame.
bool Engine::Impl::take_waiting_reports() {
  if (applying_written_) return false;
  {
    std::lock_guard<std::mutex> lock(written_mutex_);
    if (written_.empty()) return false;
  }
  apply_written();
  return true;
}

void Engine::Impl::set_replay_paused(Session& s, bool paused) {
  if (!set_counted(s.replay_paused, paused_replays_, paused)) return;
  // Reports from now on are posted (on_written reads the count under the mutex); those
  // that waited until now get a task here, so none waits for a task nothing posts.
  {
    std::lock_guard<std::mutex> lock(written_mutex_);
    if (written_posted_ || written_.empty()) return;
    written_posted_ = true;
  }
  post([](Impl& self) { self.apply_written(); });
}

// Every report counts exactly once: the queue bound sees the bytes the transport has not
// written yet.
void Engine::Impl::apply_written() {
  {
    std::lock_guard<std::mutex> lock(written_mutex_);
    applying_.swap(written_);  // written_ gets the emptied buffer back: no reallocation
    written_posted_ = false;
  }
  applying_written_ = true;  // take_waiting_reports() must not swap applying_ under us
  for (const WrittenReport& report : applying_) {
    auto it = sessions_.find(report.connection.get());
    if (it == sessions_.end()) continue;
    Session& s = *it->second;
    s.queued_bytes -= std::min(report.bytes, s.queued_bytes);
    // Replays paused by a busy queue go on. Only then are the streams walked: a session in
    // thousands of topics gets a report per socket write.
    if (!s.replay_paused || queue_busy(s)) continue;
    set_replay_paused(s, false);
    catch_up(s, s.inbox);
    for (auto& [topic, cursor] : s.topics) catch_up(s, cursor);
  }
  applying_.clear();
  applying_written_ = false;
}

void Engine::Impl::on_closed(const std::shared_ptr<Connection>& connection, CloseCode,
                             std::string) {
  post([connection](Impl& self) { self.forget(connection.get()); });
}

// --- connect flow

void Engine::Impl::authenticated(const std::shared_ptr<Session>& s, AuthResult result) {
  if (s->phase != Session::Phase::authenticating) return;  // closed while authenticating
  if (state_ != State::running)
    return close_session(*s, CloseCode::going_away, "server shutting down; reconnect");
  if (!result.ok || !valid_name(result.user)) {
    metrics_.rejected.add();
    return close_session(*s, CloseCode::unauthorized,
                         result.ok ? "invalid user id" : result.reason);
  }
  // Resume position from the handshake: since=<seq> [&epoch=<epoch>].
  const auto& query = s->connection->handshake().query;
  auto since = query.find("since");
  auto epoch = query.find("epoch");
  if (since != query.end()) {
    auto seq = protocol::parse_u64(since->second);
    if (!seq) return close_session(*s, CloseCode::protocol_error, "since must be a seq number");
    s->resume = {*seq, 0};
    s->resume_given = true;
  }
  if (epoch != query.end()) {
    auto e = protocol::parse_u64(epoch->second);
    if (!e || !s->resume_given)
      return close_session(*s, CloseCode::protocol_error, "epoch must be a number, with since");
    s->resume.epoch = *e;
  }

  if (auto topics = query.find("topics"); topics != query.end()) {
    auto listed = protocol::parse_topic_list(topics->second, options_.max_session_topics);
    if (!listed.ok()) return close_session(*s, CloseCode::protocol_error, listed.status().message());
    s->listed = std::move(listed).value();
  }

  const TimePoint now = executor_->now();
  s->record = {options_.instance_id + "-" + std::to_string(ids_.next(now)), result.user,
               options_.instance_id, now};
  s->inbox.stream = StreamId::inbox(result.user);
  s->phase = Session::Phase::live;
  grant(*s, result);
  metrics_.connections.add(1);
  metrics_.connections_total.add();
  auto& local = by_user_[result.user];
  local.push_back(s.get());
  if (local.size() == 1) presence_changed(result.user, true);

  // Register first, then read: a publish that misses this session in the registry was
  // stored before the read below, so the backlog has it (no gap); one that finds it is
  // merged by seq (no duplicate).
  std::weak_ptr<Session> ws = s;
  registry_->add_session(s->record, completion<bool>([ws, user = result.user](Impl& self,
                                                                             Result<bool> r) {
    if (!r.ok()) self.registry_dirty_ = true;  // re-registered by the next good heartbeat
    if (r.ok() && *r) self.user_changed(user, true, self.options_.instance_id);
    auto sp = ws.lock();
    if (!sp || sp->phase != Session::Phase::live) return;
    self.store_->inbox_state(sp->record.user, self.executor_->now(),
                             self.store_completion<InboxState>([ws](Impl& self2,
                                                                    Result<InboxState> st) {
                               auto sp2 = ws.lock();
                               if (!sp2 || sp2->phase != Session::Phase::live) return;
                               if (!st.ok())
                                 return self2.close_session(*sp2, CloseCode::try_again_later,
                                                            "store unavailable; reconnect later");
                               self2.open_inbox(*sp2, st.value());
                             }));
  }));
}

// Takes what a credential allows: its topic patterns, and its expiry (re-armed: a refresh
// replaces the previous one).
void Engine::Impl::grant(Session& s, const AuthResult& result) {
  s.topic_grants = result.topics;
  if (s.expiry_timer != 0) executor_->cancel(s.expiry_timer);
  s.expiry_timer = 0;
  if (!result.expires_at) return;
  const Duration left = std::max(Duration::zero(), std::chrono::duration_cast<Duration>(
                                                       *result.expires_at - executor_->now())) +
                        options_.token_grace;
  std::weak_ptr<Session> ws = weak(s);
  std::weak_ptr<Impl> weak_self = shared_from_this();
  s.expiry_timer = executor_->schedule(left, [weak_self, ws] {
    auto self = weak_self.lock();
    auto sp = ws.lock();
    if (!self || !sp) return;
    sp->expiry_timer = 0;
    self->close_session(*sp, CloseCode::token_expired,
                        "token expired: connect again with a fresh token (or send refresh in time)");
  });
}

// {"op":"refresh","token":T}: the authenticator sees the session's handshake with T as its
// bearer token. A refused token or another user's leaves the session as it was (it still
// closes at the old expiry); a good one replaces its grants and expiry.
void Engine::Impl::refresh(Session& s, const std::string& token, const std::string& rid) {
  auto fail = [&](Errc code, const std::string& why) {
    write(s, {protocol::error(rid, Status(code, why)), nullptr});
  };
  if (s.refreshing) return fail(Errc::invalid_argument, "a refresh is already in progress");
  s.refreshing = true;
  Handshake h = s.connection->handshake();
  h.query.erase("token");
  h.headers.erase("sec-websocket-protocol");
  h.headers["authorization"] = "Bearer " + token;
  std::weak_ptr<Session> ws = weak(s);
  std::weak_ptr<Impl> weak_self = shared_from_this();
  authenticator_(h, [weak_self, ws, rid](AuthResult result) {
    auto self = weak_self.lock();
    if (!self) return;
    self->post([ws, rid, result = std::move(result)](Impl& me) {
      auto sp = ws.lock();
      if (!sp || sp->phase != Session::Phase::live) return;
      sp->refreshing = false;
      Status refused;
      if (!result.ok)
        refused = Status(Errc::unauthorized, "refresh refused: " + result.reason);
      else if (result.user != sp->record.user)
        refused = Status(Errc::unauthorized, "refresh refused: the token is for another user");
      if (!refused.ok()) return void(me.write(*sp, {protocol::error(rid, refused), nullptr}));
      me.grant(*sp, result);
      me.write(*sp, {protocol::refreshed(rid, result.expires_at), nullptr});
    });
  });
}

// A topic the session's credential grants (AuthResult::topics) and the host allows.
Status Engine::Impl::may_subscribe(const Session& s, const std::string& topic) const {
  if (s.topic_grants && !topic_allowed(*s.topic_grants, topic))
    return Status(Errc::forbidden, "the session's token does not grant topic '" + topic + "'");
  if (subscribe_authorizer_ && !subscribe_authorizer_(s.record.user, topic))
    return Status(Errc::forbidden, "not allowed to subscribe to '" + topic + "'");
  return {};
}

void Engine::Impl::register_session(const SessionRecord& record) {
  registry_->add_session(record, completion<bool>([user = record.user](Impl& self, Result<bool> r) {
    if (!r.ok()) self.registry_dirty_ = true;
    if (r.ok() && *r) self.user_changed(user, true, self.options_.instance_id);
  }));
}

void Engine::Impl::open_inbox(Session& s, const InboxState& state) {
  Cursor wanted = s.resume_given ? s.resume : Cursor{state.ack_cursor, state.info.epoch};
  if (s.resume_given && wanted.epoch == 0 && wanted.seq != 0) wanted.epoch = state.info.epoch;
  s.ack_stored = state.ack_cursor;
  protocol::Welcome w{s.record.session, options_.instance_id, s.record.user, s.inbox.stream,
                      state.info.epoch, state.info.head,
                      can_resume(wanted, state.info) ? wanted.seq : state.info.head,
                      state.unread};
  write(s, {protocol::welcome(w), nullptr});
  place(s, s.inbox, wanted, state.info);
  catch_up(s, s.inbox);
  join_topic(s, std::string(kBroadcastTopic), std::nullopt, std::nullopt, "");
  join_listed(s);
}

// Server-side subscriptions: the user's stored subscriptions (at most max_session_topics)
// and the handshake's `topics`, joined from the positions the handshake gives.
void Engine::Impl::join_listed(Session& s) {
  std::weak_ptr<Session> ws = weak(s);
  store_->subscriptions(
      s.record.user, "", options_.max_session_topics,
      store_completion<std::vector<std::string>>([ws](Impl& self,
                                                      Result<std::vector<std::string>> r) {
        auto sp = ws.lock();
        if (!sp || sp->phase != Session::Phase::live) return;
        if (!r.ok())
          self.write(*sp, {protocol::error("", Status(Errc::unavailable,
                                                      "your subscriptions could not be read "
                                                      "(reconnect to join them): " +
                                                          r.status().message())),
                           nullptr});
        self.join_at_open(*sp, r.ok() ? r.value() : std::vector<std::string>{});
      }));
}

// Each join is announced with `subscribed` without rid. A stored topic the credential
// does not grant is skipped; a listed one is answered with `error` `forbidden`.
void Engine::Impl::join_at_open(Session& s, const std::vector<std::string>& stored) {
  std::vector<protocol::TopicPosition> listed = std::move(s.listed);
  s.listed.clear();
  auto position = [&](const std::string& topic) -> protocol::TopicPosition* {
    for (auto& p : listed)
      if (p.topic == topic) return &p;
    return nullptr;
  };
  for (const std::string& topic : stored) {
    if (!may_subscribe(s, topic).ok()) continue;
    const protocol::TopicPosition* p = position(topic);
    join_topic(s, topic, p ? p->since : std::nullopt, p ? p->epoch : std::nullopt, "", true);
  }
  for (const protocol::TopicPosition& p : listed) {
    if (s.topic(p.topic)) continue;  // stored as well: joined above
    if (Status allowed = may_subscribe(s, p.topic); !allowed.ok()) {
      write(s, {protocol::error("", allowed, p.topic), nullptr});
      continue;
    }
    join_topic(s, p.topic, p.since, p.epoch, "");
  }
}

// A stored subscription added or removed (Engine::subscribe/unsubscribe): applied here,
// and relayed to the other instances (at most once: a session that misses it joins the
// topic at its next connect).
void Engine::Impl::membership_changed(const UserId& user, const std::string& topic, bool joined) {
  join_or_leave(user, topic, joined);
  broker_->publish(all_instances_channel(),
                   encode(MembershipMessage{user, topic, joined, options_.instance_id}),
                   completion<void>([](Impl&, Result<void>) {}));
}

// Joins the topic from its head on each live session of the user here, or leaves it on
// those that joined it for the stored subscription (a topic a client subscribed to itself
// stays).
void Engine::Impl::join_or_leave(const UserId& user, const std::string& topic, bool joined) {
  auto it = by_user_.find(user);
  if (it == by_user_.end()) return;
  const std::vector<Session*> local = it->second;  // join/leave do not change by_user_
  for (Session* s : local) {
    if (s->phase != Session::Phase::live) continue;
    StreamCursor* cursor = s->topic(topic);
    if (joined && !cursor && may_subscribe(*s, topic).ok()) {
      join_topic(*s, topic, std::nullopt, std::nullopt, "", true);
    } else if (!joined && cursor && cursor->stored) {
      leave_topic(*s, topic);
      write(*s, {protocol::unsubscribed("", topic), nullptr});
    }
  }
}

// Joins a topic stream live, from `since` (resume) or from its head.
void Engine::Impl::join_topic(Session& s, const std::string& topic, std::optional<Seq> since,
                              std::optional<Epoch> epoch, const std::string& rid, bool stored) {
  if (s.phase != Session::Phase::live) return;
  if (StreamCursor* joined = s.topic(topic); joined && stored) {
    joined->stored = true;
    return;
  }
  if (s.topic(topic))
    return void(write(s, {protocol::error(rid, Status(Errc::invalid_argument,
                                                      "already subscribed to '" + topic + "'")),
                          nullptr}));
  // $broadcast is joined by every session and is not counted.
  const std::size_t joined = s.topics.size() - (s.topic(kBroadcastTopic) ? 1 : 0);
  if (topic != kBroadcastTopic && joined >= options_.max_session_topics)
    return void(write(
        s, {protocol::error(rid, Status(Errc::limit_exceeded,
                                        "a session may join at most " +
                                            std::to_string(options_.max_session_topics) +
                                            " topics: unsubscribe from one first")),
            nullptr}));
  StreamCursor& cursor =
      s.topics.emplace(topic, StreamCursor{StreamId::topic(topic)}).first->second;
  cursor.stored = stored;
  std::vector<TopicMember>& members = by_topic_[topic];
  cursor.member = members.size();
  members.push_back(TopicMember{&s, &cursor});
  std::weak_ptr<Session> ws = weak(s);
  if (topic == kBroadcastTopic) return start_topic(ws, topic, since, epoch, rid);  // joined at start
  // Relayed entries must reach this instance before the head is read: an entry appended
  // after the read is then relayed, one before it is in the Store. A failed subscribe is
  // restored by the broker, which then reports on_reset (a re-read), so go on either way.
  broker_->subscribe(topic_channel(topic),
                     completion<void>([ws, topic, since, epoch, rid](Impl& self, Result<void>) {
                       self.start_topic(ws, topic, since, epoch, rid);
                     }));
}

// Places a joined topic's cursor at `since` (or the head), answers `subscribed`, catches up.
void Engine::Impl::start_topic(const std::weak_ptr<Session>& ws, const std::string& topic,
                               std::optional<Seq> since, std::optional<Epoch> epoch,
                               const std::string& rid) {
  auto s = ws.lock();
  if (!s || s->phase != Session::Phase::live || !s->topic(topic)) return;
  ReadQuery info_only;
  info_only.limit = 0;
  info_only.now = executor_->now();
  store_->read(
      StreamId::topic(topic), info_only,
      store_completion<ReadResult>([ws, topic, since, epoch, rid](Impl& self,
                                                                  Result<ReadResult> r) {
        auto sp = ws.lock();
        if (!sp || sp->phase != Session::Phase::live) return;
        StreamCursor* cursor = sp->topic(topic);
        if (!cursor) return;
        if (!r.ok()) {
          self.leave_topic(*sp, topic);
          self.write(*sp, {protocol::error(rid, r.status()), nullptr});
          return;
        }
        const StreamInfo& info = r->info;
        Cursor wanted{since.value_or(info.head), epoch.value_or(info.epoch)};
        if (topic != kBroadcastTopic)
          self.write(*sp, {protocol::subscribed(rid, topic, info,
                                                can_resume(wanted, info) ? wanted.seq : info.head),
                           nullptr});
        self.place(*sp, *cursor, wanted, info);
        self.catch_up(*sp, *cursor);
      }));
}

void Engine::Impl::leave_topic(Session& s, const std::string& topic) {
  auto it = s.topics.find(topic);
  if (it == s.topics.end()) return;
  drop_member(topic, it->second);
  s.topics.erase(it);
}

// Takes a cursor out of its topic's members in O(1): the last member takes its place. The
// last session of a topic leaving unsubscribes this instance from the topic's channel.
void Engine::Impl::drop_member(const std::string& topic, StreamCursor& cursor) {
  auto it = by_topic_.find(topic);
  if (it == by_topic_.end()) return;
  std::vector<TopicMember>& members = it->second;
  if (cursor.member + 1 < members.size()) {
    members[cursor.member] = members.back();
    members[cursor.member].cursor->member = cursor.member;
  }
  members.pop_back();
  if (!members.empty()) return;
  by_topic_.erase(it);
  if (topic != kBroadcastTopic)
    broker_->unsubscribe(topic_channel(topic), completion<void>([](Impl&, Result<void>) {}));
}

// --- client requests

void Engine::Impl::handle_request(Session& s, const std::string& text) {
  using Op = protocol::Request::Op;
  auto fail = [&](const std::string& rid, Status st) {
    write(s, {protocol::error(rid, st), nullptr});
  };
  if (s.phase != Session::Phase::live)
    return fail("", Status(Errc::invalid_argument, "session not ready: wait for the welcome"));
  if (text.size() > kMaxRequestBytes)
    return fail("", Status(Errc::payload_too_large, "requests are limited to 64 KiB"));
  Result<protocol::Request> parsed = protocol::parse_request(text);
  if (!parsed.ok()) return fail("", parsed.status());
  protocol::Request& req = parsed.value();
  std::weak_ptr<Session> ws = weak(s);

  switch (req.op) {
    case Op::ping:
      write(s, {protocol::pong(req.rid), nullptr});
      return;
    case Op::ack:
      return receive_ack(s, req.seq, req.rid);
    case Op::join:  // seed 003: {"userId":1,"room":1}
      if (!req.user.empty() && req.user != s.record.user)
        return fail(req.rid, Status(Errc::forbidden, "userId " + req.user.substr(0, 64) +
                                                         " is not this session's user"));
      [[fallthrough]];
    case Op::subscribe:
      if (!valid_name(req.topic) || req.topic[0] == '$')
        return fail(req.rid, Status(Errc::invalid_argument,
                                    "invalid topic: 1..200 printable ASCII, not starting with '$'"));
      if (Status allowed = may_subscribe(s, req.topic); !allowed.ok())
        return fail(req.rid, allowed);
      return join_topic(s, req.topic, req.since, req.epoch, req.rid);
    case Op::refresh:
      return refresh(s, req.token, req.rid);
    case Op::unsubscribe:
      if (!s.topic(req.topic) || req.topic == kBroadcastTopic)
        return fail(req.rid, Status(Errc::not_found, "not subscribed to '" + req.topic + "'"));
      leave_topic(s, req.topic);
      write(s, {protocol::unsubscribed(req.rid, req.topic), nullptr});
      return;
    case Op::read:
    case Op::read_all:
      store_->mark_read(s.record.user, req.seqs,
                        store_completion<std::uint64_t>([ws, rid = req.rid, user = s.record.user,
                                                         seqs = req.seqs](Impl& self,
                                                                          Result<std::uint64_t> r) {
                          if (r.ok()) self.read_changed(user, seqs, *r);
                          auto sp = ws.lock();
                          if (!sp) return;
                          self.write(*sp, {r.ok() ? protocol::read_reply(rid, r.value())
                                                  : protocol::error(rid, r.status()),
                                           nullptr});
                        }));
      return;
    case Op::history: {
      Result<StreamId> stream = StreamId::parse(req.stream);
      if (!stream.ok()) return fail(req.rid, stream.status());
      if (stream->is_inbox() && stream->name() != s.record.user)
        return fail(req.rid, Status(Errc::not_found, "stream not found: " + req.stream));
      if (req.limit < 1 || static_cast<std::uint64_t>(req.limit) > options_.max_page)
        return fail(req.rid, Status(Errc::invalid_argument,
                                    "limit must be 1.." + std::to_string(options_.max_page)));
      ReadQuery q;
      q.before = req.before;
      q.limit = static_cast<std::size_t>(req.limit);
      q.order = ReadQuery::Order::descending;
      q.now = executor_->now();
      store_->read(stream.value(), q,
                   store_completion<ReadResult>([ws, rid = req.rid, id = stream.value()](
                                                    Impl& self, Result<ReadResult> r) {
                     auto sp = ws.lock();
                     if (!sp) return;
                     if (!r.ok())
                       return void(self.write(*sp, {protocol::error(rid, r.status()), nullptr}));
                     Seq next = r->more && !r->entries.empty() ? r->entries.back().seq : 0;
                     self.write(*sp, {protocol::history_reply(rid, id, r->entries, next), nullptr});
                   }));
      return;
    }
  }
}

// --- closing

// Closes the connection now; the bookkeeping follows on a later task so that callers
// iterating over session lists are not disturbed.
void Engine::Impl::close_session(Session& s, CloseCode code, const std::string& reason) {
  if (s.phase == Session::Phase::closed) return;
  s.phase = Session::Phase::closed;
  s.connection->close(code, reason);
  post([conn = s.connection](Impl& self) { self.forget(conn.get()); });
}

// Removes every trace of a session (idempotent): indexes, topics, timers, registry entry.
void Engine::Impl::forget(Connection* connection) {
  auto it = sessions_.find(connection);
  if (it == sessions_.end()) return;
  std::shared_ptr<Session> s = it->second;
  sessions_.erase(it);
  set_replay_paused(*s, false);
  set_awaiting_acks(*s, false);
  const bool was_live = !s->record.user.empty();
  s->phase = Session::Phase::closed;
  if (s->ack_timer != 0) executor_->cancel(s->ack_timer);
  s->ack_timer = 0;
  if (s->expiry_timer != 0) executor_->cancel(s->expiry_timer);
  s->expiry_timer = 0;
  if (!was_live) return;
  for (auto& [topic, cursor] : s->topics) drop_member(topic, cursor);
  s->topics.clear();
  auto users = by_user_.find(s->record.user);
  if (users != by_user_.end()) {
    auto& v = users->second;
    v.erase(std::remove(v.begin(), v.end(), s.get()), v.end());
    if (v.empty()) {
      by_user_.erase(users);
      presence_changed(s->record.user, false);
    }
  }
  metrics_.connections.add(-1);
  registry_->remove_session(s->record, completion<bool>([user = s->record.user](Impl& self,
                                                                                Result<bool> r) {
    if (r.ok() && *r) self.user_changed(user, false, self.options_.instance_id);
  }));
}

}  // namespace herald
