// Engine lifecycle (start, heartbeat, sweep, shutdown) and the thin public facade.

#include <algorithm>
#include <random>

#include "engine/checks.hpp"
#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"

namespace herald {

namespace {

std::string random_instance_id() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint32_t> dist;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", dist(rd));
  return std::string("herald-") + buf;
}

std::uint16_t node_from(const InstanceId& id) {
  // FNV-1a folded to 10 bits: stable per instance id, so restarts keep their node.
  std::uint32_t h = 2166136261u;
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  return static_cast<std::uint16_t>(h % (SnowflakeGenerator::kMaxNode + 1));
}

EngineOptions checked(EngineOptions o) {
  auto fail = [](const std::string& what) { throw Error("herald: invalid EngineOptions: " + what); };
  if (o.instance_id.empty()) o.instance_id = random_instance_id();
  if (!valid_name(o.instance_id)) fail("instance_id must be 1..200 printable ASCII characters");
  if (o.node_id == 0) o.node_id = node_from(o.instance_id);
  if (o.node_id > SnowflakeGenerator::kMaxNode) fail("node_id must be 0..1023");
  if (o.max_payload_bytes == 0) fail("max_payload_bytes must be > 0");
  if (o.max_type_bytes == 0) fail("max_type_bytes must be > 0");
  if (o.max_recipients == 0) fail("max_recipients must be > 0");
  if (o.fanout_chunk == 0) fail("fanout_chunk must be > 0");
  if (o.max_page == 0) fail("max_page must be > 0");
  if (o.max_session_queue_bytes < 1024) fail("max_session_queue_bytes must be >= 1024");
  if (o.max_unacked == 0) fail("max_unacked must be > 0");
  if (o.max_session_topics == 0) fail("max_session_topics must be > 0");
  if (o.token_grace.count() < 0) fail("token_grace must be >= 0");
  if (o.ack_timeout.count() <= 0) fail("ack_timeout must be > 0");
  if (o.ack_batch_delay.count() < 0 || o.ack_batch_delay > std::chrono::seconds(1))
    fail("ack_batch_delay must be 0..1 s");
  if (o.max_delivery_attempts == 0) fail("max_delivery_attempts must be >= 1");
  if (o.redelivery_backoff < 1.0) fail("redelivery_backoff must be >= 1.0");
  if (o.registry_ttl.count() < 30) fail("registry_ttl must be >= 30ms");
  if (o.expiry_sweep.count() <= 0) fail("expiry_sweep must be > 0");
  if (o.offline_after.count() < 0) fail("offline_after must be >= 0");
  if (o.inbox_max_age.count() < 0) fail("inbox_max_age must be >= 0 (0: no age limit)");
  if (o.retention_batch == 0) fail("retention_batch must be > 0");
  if (o.rate_limit.enabled && (o.rate_limit.per_second <= 0 || o.rate_limit.burst < 1))
    fail("rate_limit needs per_second > 0 and burst >= 1 (or enabled = false)");
  return o;
}

}  // namespace

Authenticator dev_authenticator() {
  return [](const Handshake& hs, std::function<void(AuthResult)> answer) {
    auto it = hs.query.find("userId");
    if (it == hs.query.end() || it->second.empty())
      return answer(AuthResult::refuse("missing userId query parameter"));
    answer(AuthResult::allow(it->second));
  };
}

Engine::Impl::Impl(std::shared_ptr<Executor> executor, Backends backends, EngineOptions options,
                   Authenticator authenticator)
    : executor_(std::move(executor)),
      store_(std::move(backends.store)),
      registry_(std::move(backends.registry)),
      broker_(std::move(backends.broker)),
      transports_(std::move(backends.transports)),
      options_(checked(std::move(options))),
      authenticator_(std::move(authenticator)),
      ids_(options_.node_id),
      limiter_(options_.rate_limit) {
  if (!executor_) throw Error("herald: Engine needs an Executor (make_asio_executor(io))");
  if (!store_ || !registry_ || !broker_)
    throw Error("herald: Engine needs a Store, a Registry and a Broker in Backends "
                "(MemoryStore::create(), MemoryRegistry::create(), hub->make_broker(executor))");
  if (!authenticator_) throw Error("herald: Engine needs an Authenticator (dev_authenticator())");
  for (Transport* t : transports_)
    if (!t) throw Error("herald: Backends::transports holds a null Transport");
}

// Runs `steps` at once; `then` runs once: with the first failure, or ok when all succeeded.
void Engine::Impl::all_of(std::vector<std::function<void(Done)>> steps,
                          std::function<void(Impl&, Status)> then) {
  if (steps.empty()) return then(*this, {});
  auto remaining = std::make_shared<std::size_t>(steps.size());
  auto finished = std::make_shared<bool>(false);
  for (auto& step : steps) {
    step(completion<void>([remaining, finished, then](Impl& self, Result<void> r) {
      if (*finished) return;
      if (!r.ok() || --*remaining == 0) {
        *finished = true;
        then(self, r.status());
      }
    }));
  }
}

// Broker first (so nothing routed to us is missed), then the registry, then transports.
void Engine::Impl::start(std::function<void(Status)> done) {
  if (state_ != State::created) return done(Status(Errc::invalid_argument, "engine already started"));
  state_ = State::starting;
  // Every step continues with `next` on success; the first failure stops the engine.
  auto step = [done](std::function<void(Impl&)> next) {
    return [done, next](Impl& self, Status s) {
      if (!s.ok()) {
        self.state_ = State::stopped;
        return done(s);
      }
      next(self);
    };
  };
  auto running = [done](Impl& self) {
    self.state_ = State::running;
    self.started_at_ = self.executor_->now();
    self.heartbeat();
    self.sweep();
    done({});
  };
  auto start_transports = step([step, running](Impl& self) {
    std::vector<std::function<void(Done)>> starts;
    for (Transport* t : self.transports_)
      starts.push_back([&self, t](Done d) { t->start(self, d); });
    self.all_of(std::move(starts), step(running));
  });
  auto register_instance = step([start_transports](Impl& self) {
    self.registry_->heartbeat(
        self.options_.instance_id, self.options_.registry_ttl,
        self.completion<std::vector<Departure>>(
            [start_transports](Impl& s, Result<std::vector<Departure>> r) {
              if (r.ok()) s.departed(*r);
              start_transports(s, r.status());
            }));
  });
  auto subscribe_channels = step([register_instance](Impl& self) {
    std::vector<std::function<void(Done)>> subscribes;
    for (std::string ch : {instance_channel(self.options_.instance_id), all_instances_channel(),
                           topic_channel(std::string(kBroadcastTopic)), presence_channel()})
      subscribes.push_back([&self, ch](Done d) { self.broker_->subscribe(ch, d); });
    self.all_of(std::move(subscribes), register_instance);
  });

  BrokerEvents events;
  std::weak_ptr<Impl> weak_self = shared_from_this();
  events.on_message = [weak_self](const std::string& channel, const std::string& payload) {
    if (auto self = weak_self.lock()) self->on_broker_message(channel, payload);
  };
  events.on_reset = [weak_self] {
    if (auto self = weak_self.lock()) self->on_broker_reset();
  };
  broker_->start(events, completion<void>([subscribe_channels](Impl& self, Result<void> r) {
                   subscribe_channels(self, r.status());
                 }));
}

// Keeps the instance (and its sessions) alive in the registry; after a registry failure,
// re-registers every local session once the registry answers again.
void Engine::Impl::heartbeat() {
  if (state_ != State::running) return;
  registry_->heartbeat(options_.instance_id, options_.registry_ttl,
                       completion<std::vector<Departure>>([](Impl& self,
                                                             Result<std::vector<Departure>> r) {
                         if (!r.ok()) {
                           self.registry_dirty_ = true;
                           return;
                         }
                         self.departed(*r);
                         if (!self.registry_dirty_) return;
                         self.registry_dirty_ = false;
                         for (auto& [conn, s] : self.sessions_)
                           if (s->phase == Session::Phase::live) self.register_session(s->record);
                       }));
  report_load();  // after the heartbeat: the instance is live when the load arrives
  std::weak_ptr<Impl> weak_self = shared_from_this();
  heartbeat_timer_ = executor_->schedule(options_.registry_ttl / 3, [weak_self] {
    if (auto self = weak_self.lock()) self->heartbeat();
  });
}

// Purges expired notifications and idle rate-limit buckets, and applies inbox retention.
void Engine::Impl::sweep() {
  if (state_ != State::running) return;
  limiter_.prune(executor_->now());
  take_waiting_reports();  // the connections they hold are let go at least this often
  store_->purge_expired(executor_->now(), store_completion<std::uint64_t>([](Impl&, auto) {}));
  apply_retention();
  std::weak_ptr<Impl> weak_self = shared_from_this();
  sweep_timer_ = executor_->schedule(options_.expiry_sweep, [weak_self] {
    if (auto self = weak_self.lock()) self->sweep();
  });
}

void Engine::Impl::shutdown(std::function<void()> done) {
  if (state_ == State::stopping || state_ == State::stopped) {
    if (state_ == State::stopped) done();
    return;
  }
  bool was_running = state_ == State::running;
  state_ = State::stopping;
  shutdown_deadline_ = executor_->now() + options_.shutdown_timeout;
  executor_->cancel(heartbeat_timer_);
  executor_->cancel(sweep_timer_);
  if (!was_running) return finish_shutdown(std::move(done));
  for (Transport* t : transports_) t->stop_accepting(completion<void>([](Impl&, auto) {}));
  // Drain the publishes in flight, then close.
  when_idle(work_in_flight_, [done](Impl& self) { self.finish_shutdown(done); });
}

void Engine::Impl::finish_shutdown(std::function<void()> done) {
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [conn, s] : sessions_) all.push_back(s);
  for (auto& s : all) close_session(*s, CloseCode::going_away, "server shutting down; reconnect");
  cancel_undelivered();
  registry_->remove_instance(options_.instance_id, completion<std::vector<Departure>>(
                                                       [done](Impl& self, auto departures) {
    if (departures.ok())
      for (const Departure& d : *departures) self.user_changed(d.user, false, d.instance);
    self.broker_->stop(self.completion<void>([done](Impl& s, auto) {
      s.when_idle(s.store_calls_, [done](Impl& me) {
        me.state_ = State::stopped;
        done();
      });
    }));
  }));
}

void Engine::Impl::finished(InFlight& work) {
  if (--work.count != 0 || !work.idle) return;
  auto idle = std::move(work.idle);  // it resets work.idle: never destroy a running function
  work.idle = nullptr;
  idle();
}

// Runs `then` once `work` is at 0, or at the shutdown's deadline (both of shutdown's waits
// together take at most shutdown_timeout). Publishes are refused while stopping, and the
// sessions are closed before the wait for Store calls, so the counts fall.
void Engine::Impl::when_idle(InFlight& work, std::function<void(Impl&)> then) {
  auto once = std::make_shared<bool>(false);
  auto proceed = [once, &work, then = std::move(then)](Impl& self) {
    if (*once) return;
    *once = true;
    work.idle = nullptr;
    then(self);
  };
  if (work.count == 0) return proceed(*this);
  work.idle = [this, proceed] { proceed(*this); };
  std::weak_ptr<Impl> weak_self = shared_from_this();
  const Duration left = std::max(
      Duration::zero(), std::chrono::ceil<Duration>(shutdown_deadline_ - executor_->now()));
  executor_->schedule(left, [weak_self, proceed] {
    if (auto self = weak_self.lock()) proceed(*self);
  });
}

void Engine::Impl::detach() {
  executor_->cancel(heartbeat_timer_);
  executor_->cancel(sweep_timer_);
  cancel_undelivered();
  on_presence_ = nullptr;
  on_event_ = nullptr;
  subscribe_authorizer_ = nullptr;
}

// ---------------------------------------------------------------------------------------
// Engine facade: every call moves onto the executor.

Engine::Engine(std::shared_ptr<Executor> executor, Backends backends, EngineOptions options,
               Authenticator authenticator)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(backends), std::move(options),
                                   std::move(authenticator))) {}

Engine::~Engine() {
  // Pending tasks hold their own reference to the Impl, which is freed after they ran
  // (timers hold only weak references). detach() touches state, so it runs on the executor.
  impl_->post([](Impl& self) { self.detach(); });
}

void Engine::start(std::function<void(Status)> done) {
  impl_->post([done = std::move(done)](Impl& self) mutable { self.start(std::move(done)); });
}

void Engine::publish(PublishRequest request, std::function<void(Result<PublishResult>)> done) {
  // Moved to the heap once: the task is moved through several wrappers on its way to the
  // executor, and each move of a PublishRequest moves its half-dozen strings.
  auto r = std::make_shared<PublishRequest>(std::move(request));
  impl_->post([r = std::move(r), done = std::move(done)](Impl& self) mutable {
    self.publish(*r, std::move(done));
  });
}

void Engine::shutdown(std::function<void()> done) {
  impl_->post([done = std::move(done)](Impl& self) mutable { self.shutdown(std::move(done)); });
}


void Engine::history(StreamId stream, HistoryQuery q, std::function<void(Result<HistoryPage>)> done) {
  Status check = stream.is_inbox() ? check_user(stream.name()) : Status{};
  if (check.ok() && !stream.is_inbox() && stream.name() != kBroadcastTopic)
    check = check_topic(stream.name());
  if (check.ok() && (q.limit < 1 || static_cast<std::uint64_t>(q.limit) > impl_->options_.max_page))
    check = Status(Errc::invalid_argument,
                   "limit must be 1.." + std::to_string(impl_->options_.max_page));
  query<HistoryPage>(impl_, check, std::move(done), [stream, q](Impl& self, Completion<HistoryPage> c) {
    ReadQuery rq;
    rq.before = q.before;
    rq.limit = static_cast<std::size_t>(q.limit);
    rq.order = ReadQuery::Order::descending;
    rq.now = self.executor_->now();
    self.store_->read(
        stream, rq, self.store_completion<ReadResult>([c](Impl&, Result<ReadResult> r) {
          if (!r.ok()) return c(r.status());
          HistoryPage page;
          page.info = r->info;
          page.entries = std::move(r->entries);
          page.next_before = r->more && !page.entries.empty() ? page.entries.back().seq : 0;
          c(std::move(page));
        }));
  });
}

void Engine::unread_count(UserId user, std::function<void(Result<std::uint64_t>)> done) {
  query<std::uint64_t>(impl_, check_user(user), std::move(done), [user](Impl& self, auto c) {
    self.store_->inbox_state(user, self.executor_->now(),
                             self.store_completion<InboxState>([c](Impl&, Result<InboxState> r) {
                               if (!r.ok()) return c(r.status());
                               c(r->unread);
                             }));
  });
}

void Engine::mark_read(UserId user, std::vector<Seq> seqs,
                       std::function<void(Result<std::uint64_t>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_seqs(seqs);
  query<std::uint64_t>(impl_, check, std::move(done), [user, seqs](Impl& self, auto c) {
    self.store_->mark_read(
        user, seqs,
        self.store_completion<std::uint64_t>([c, user, seqs](Impl& s, Result<std::uint64_t> r) {
          if (r.ok()) s.read_changed(user, seqs, *r);
          c(std::move(r));
        }));
  });
}

void Engine::remove(UserId user, std::vector<Seq> seqs,
                    std::function<void(Result<std::uint64_t>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_seqs(seqs);
  if (check.ok() && seqs.empty()) check = Status(Errc::invalid_argument, "no seqs to remove");
  query<std::uint64_t>(impl_, check, std::move(done), [user, seqs](Impl& self, auto c) {
    self.store_->remove(user, seqs, c);
  });
}

void Engine::preferences(UserId user, std::function<void(Result<Preferences>)> done) {
  query<Preferences>(impl_, check_user(user), std::move(done), [user](Impl& self, auto c) {
    self.store_->preferences(
        {user}, self.store_completion<std::vector<UserPreferences>>(
                    [c](Impl&, Result<std::vector<UserPreferences>> r) {
                      if (!r.ok()) return c(r.status());
                      c(r->empty() ? Preferences{} : std::move(r->front().preferences));
                    }));
  });
}

void Engine::set_preferences(UserId user, Preferences preferences,
                             std::function<void(Result<void>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = normalize_preferences(preferences, impl_->options_.max_type_bytes);
  query<void>(impl_, check, std::move(done), [user, preferences](Impl& self, auto c) {
    self.store_->set_preferences(user, preferences, c);
  });
}

void Engine::subscribe(UserId user, std::string topic, std::function<void(Result<bool>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_topic(topic);
  // Stored, then joined live on the user's sessions on every instance.
  query<bool>(impl_, check, std::move(done), [user, topic](Impl& self, Completion<bool> c) {
    self.store_->subscribe(user, topic,
                           self.store_completion<bool>([user, topic, c](Impl& me, Result<bool> r) {
                             if (r.ok()) me.membership_changed(user, topic, true);
                             c(std::move(r));
                           }));
  });
}

void Engine::unsubscribe(UserId user, std::string topic, std::function<void(Result<bool>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_topic(topic);
  query<bool>(impl_, check, std::move(done), [user, topic](Impl& self, Completion<bool> c) {
    self.store_->unsubscribe(
        user, topic, self.store_completion<bool>([user, topic, c](Impl& me, Result<bool> r) {
          if (r.ok()) me.membership_changed(user, topic, false);
          c(std::move(r));
        }));
  });
}

void Engine::subscriptions(UserId user, std::string after, std::int64_t limit,
                           std::function<void(Result<std::vector<std::string>>)> done) {
  Status check = check_user(user);
  if (check.ok() && !after.empty() && !valid_name(after))
    check = Status(Errc::invalid_argument, "invalid cursor: empty or a valid topic name");
  if (check.ok()) check = check_limit(limit, impl_->options_.max_page);
  query<std::vector<std::string>>(
      impl_, check, std::move(done), [user, after, limit](Impl& self, auto c) {
        self.store_->subscriptions(user, after, static_cast<std::size_t>(limit), c);
      });
}

void Engine::subscribers(std::string topic, UserId after, std::int64_t limit,
                         std::function<void(Result<std::vector<UserId>>)> done) {
  Status check = check_topic(topic);
  if (check.ok() && !after.empty() && !valid_name(after))
    check = Status(Errc::invalid_argument, "invalid cursor: empty or a valid user id");
  if (check.ok()) check = check_limit(limit, impl_->options_.max_page);
  query<std::vector<UserId>>(impl_, check, std::move(done), [topic, after, limit](Impl& self,
                                                                                  auto c) {
    self.store_->subscribers(topic, after, static_cast<std::size_t>(limit), c);
  });
}

void Engine::dead_letters(UserId user, Seq after, std::int64_t limit,
                          std::function<void(Result<std::vector<DeadLetter>>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_limit(limit, impl_->options_.max_page);
  query<std::vector<DeadLetter>>(
      impl_, check, std::move(done), [user, after, limit](Impl& self, auto c) {
        self.store_->dead_letters(user, after, static_cast<std::size_t>(limit), c);
      });
}

void Engine::retry_dead_letter(UserId user, Seq seq, std::function<void(Result<void>)> done) {
  Status check = check_user(user);
  if (check.ok() && seq == 0) check = Status(Errc::invalid_argument, "seq must be >= 1");
  query<void>(impl_, check, std::move(done), [user, seq](Impl& self, Completion<void> c) {
    self.retry_dead_letter(user, seq, std::move(c));
  });
}

void Engine::discard_dead_letter(UserId user, Seq seq, std::function<void(Result<bool>)> done) {
  Status check = check_user(user);
  if (check.ok() && seq == 0) check = Status(Errc::invalid_argument, "seq must be >= 1");
  query<bool>(impl_, check, std::move(done),
              [user, seq](Impl& self, auto c) { self.store_->remove_dead_letter(user, seq, c); });
}

void Engine::presence(UserId user, std::function<void(Result<std::vector<SessionRecord>>)> done) {
  query<std::vector<SessionRecord>>(impl_, check_user(user), std::move(done),
                                    [user](Impl& self, auto c) { self.registry_->sessions(user, c); });
}

void Engine::authorize_subscribe(SubscribeAuthorizer authorizer) {
  impl_->post([a = std::move(authorizer)](Impl& self) mutable {
    self.subscribe_authorizer_ = std::move(a);
  });
}

void Engine::on_event(std::function<void(const OutcomeEvent&)> callback) {
  impl_->post([cb = std::move(callback)](Impl& self) mutable { self.on_event_ = std::move(cb); });
}

void Engine::on_presence(std::function<void(const PresenceEvent&)> callback) {
  impl_->post([cb = std::move(callback)](Impl& self) mutable { self.on_presence_ = std::move(cb); });
}

const InstanceId& Engine::instance_id() const { return impl_->options_.instance_id; }
const EngineOptions& Engine::options() const { return impl_->options_; }
const Metrics& Engine::metrics() const { return impl_->metrics_; }

}  // namespace herald
