// The publish flow (DESIGN §3): validate, rate-limit, de-duplicate, persist (in chunks for
// fan-out), then route to the instances holding the recipients' sessions.

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"

namespace herald {

// The relay of one inbox chunk to other instances needs two answers, which arrive in either
// order: the Registry's (asked when the chunk goes to the Store, so that its round trip
// overlaps the append's) and the Store's positions. The relay leaves with the second one.
// Executor only.
struct InboxRelay {
  std::optional<Result<std::vector<Location>>> where;
  std::optional<Envelope> stored;
};

namespace {

Status invalid(std::string message) { return Status(Errc::invalid_argument, std::move(message)); }

bool printable(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// Keeps the first occurrence of each user, in order.
void drop_repeated(std::vector<UserId>& users) {
  std::unordered_set<std::string> seen;
  std::vector<UserId> unique;
  unique.reserve(users.size());
  for (UserId& u : users)
    if (seen.insert(u).second) unique.push_back(std::move(u));
  users = std::move(unique);
}

// FNV-1a, 64 bits: a hash that is the same in every build and on every instance (the
// fingerprint is stored and compared across instances and restarts).
class Fnv1a {
 public:
  // Adds `text` with its length, so that field boundaries are part of the hash.
  void add(std::string_view text) {
    add_bytes(std::to_string(text.size()) + ":");
    add_bytes(text);
  }
  std::string hex() const {
    static const char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i) out[15 - i] = digits[(hash_ >> (4 * i)) & 0xf];
    return out;
  }

 private:
  void add_bytes(std::string_view bytes) {
    for (char c : bytes) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 0x100000001b3ull;
    }
  }
  std::uint64_t hash_ = 0xcbf29ce484222325ull;
};

// The fingerprint of a validated request: what makes two publishes under one idempotency
// key "the same request". Target (kind, the users as a set, the topic), type, data as
// given, sender and expiry; not the principal (it is the key's scope) nor the key.
std::string fingerprint(const PublishRequest& r) {
  Fnv1a h;
  h.add(std::to_string(static_cast<int>(r.target.kind)));
  std::vector<std::string_view> users(r.target.users.begin(), r.target.users.end());
  std::sort(users.begin(), users.end());
  h.add(std::to_string(users.size()));
  for (std::string_view u : users) h.add(u);
  h.add(r.target.topic);
  h.add(r.type);
  h.add(r.data);
  h.add(r.sender);
  h.add(r.expires_at ? std::to_string(to_unix_ms(*r.expires_at)) : std::string("-"));
  if (r.critical) h.add("critical");  // only when set: earlier fingerprints stay the same
  return h.hex();
}

// The rate-limit bucket of a publish: its sender's; without a sender, its principal's
// (prefixed with a space, which no sender id contains, so the two never share a bucket);
// none (empty) for an in-process publish that names neither.
std::string rate_bucket(const PublishRequest& r) {
  if (!r.sender.empty()) return r.sender;
  if (!r.principal.empty()) return " " + r.principal;
  return {};
}

// One publish in progress: the notification and the streams still to be written. Streams
// are produced chunk by chunk so a huge fan-out never builds one giant batch. Executor only.
struct PublishJob {
  std::shared_ptr<const Notification> notification;
  Target target;
  std::string principal;            // the idempotency key's scope
  std::string fingerprint;          // of the request, when it carries a key
  bool critical = false;            // bypasses the recipients' preferences
  std::size_t next_user = 0;        // Target::users: index of the next user
  UserId after_subscriber;          // Target::followers: keyset position
  bool subscribers_done = false;    // the last page of subscribers was read
  bool reading = false;             // a page of subscribers is being read
  std::optional<std::vector<StreamId>> page;  // a page read and not appended yet
  bool first = true;                // the next append is the first of this publish
  bool first_stored = false;        // the first append succeeded (not a duplicate)
  std::size_t appending = 0;        // chunk appends in flight
  std::optional<Status> failed;     // the first failure: nothing new starts after it
  std::optional<NotificationId> duplicate_of;
  bool concluded = false;
  PublishResult result;
  std::function<void(Result<PublishResult>)> done;
};

// Chunk appends in flight at once after the first (which goes alone: it checks the
// idempotency key, and nothing else may be written before it says "not a duplicate").
// Two keep a database busy on two connections while the engine routes a finished chunk.
constexpr std::size_t kParallelChunks = 2;

void advance(Engine::Impl& self, const std::shared_ptr<PublishJob>& job);

void conclude(Engine::Impl& self, PublishJob& job) {
  job.concluded = true;
  Result<PublishResult> r = job.result;
  if (job.failed) {
    Status st = *job.failed;
    if (job.result.streams_written > 0)
      st = Status(st.code(), st.message() + " (after " +
                                 std::to_string(job.result.streams_written) +
                                 " streams were written)");
    r = st;
    self.metrics_.publish_errors.add();
  } else if (job.duplicate_of) {
    PublishResult dup;
    dup.id = *job.duplicate_of;
    dup.duplicate = true;
    r = dup;
    self.metrics_.duplicates.add();
  } else {
    self.metrics_.published.add();
  }
  job.done(std::move(r));
  self.release();
}

void append_chunk(Engine::Impl& self, const std::shared_ptr<PublishJob>& job,
                  std::vector<StreamId> streams) {
  AppendRequest req;
  req.notification = job->notification;
  req.streams = std::move(streams);
  req.first_chunk = job->first;
  req.dedup_window = self.options_.dedup_window;
  if (job->first) {
    req.idempotency_scope = job->principal;
    req.fingerprint = job->fingerprint;
  }
  req.topic_retention = self.options_.topic_retention;
  job->first = false;
  ++job->appending;
  std::shared_ptr<InboxRelay> pending = self.locate_ahead(req.streams);
  self.store_->append(
      std::move(req),
      self.store_completion<AppendResult>(
          [job, pending = std::move(pending)](Engine::Impl& s, Result<AppendResult> r) mutable {
            --job->appending;
            if (!r.ok()) {
              if (!job->failed) job->failed = r.status();
            } else if (r->duplicate) {
              job->duplicate_of = r->id;
            } else {
              job->first_stored = true;
              job->result.streams_written += r->positions.size();
              s.metrics_.stored.add(r->positions.size());
              s.route(job->notification, std::move(r->positions), std::move(pending));
            }
            advance(s, job);
          }));
}

// Removes from `inboxes` those whose user's preferences mute the job's notification; yields
// how many. `found` holds the preferences of some of them (users without are absent).
std::size_t drop_muted(const PublishJob& job, std::vector<StreamId>& inboxes,
                       const std::vector<UserPreferences>& found) {
  if (found.empty()) return 0;
  const std::string_view topic =
      job.target.kind == Target::Kind::followers ? std::string_view(job.target.topic) : "";
  std::unordered_set<std::string_view> muted;
  for (const UserPreferences& u : found)
    if (mutes(u.preferences, job.notification->type, topic)) muted.insert(u.user);
  if (muted.empty()) return 0;
  const std::size_t before = inboxes.size();
  inboxes.erase(std::remove_if(inboxes.begin(), inboxes.end(),
                               [&](const StreamId& s) { return muted.count(s.name()) > 0; }),
                inboxes.end());
  return before - inboxes.size();
}

// Appends a chunk of inboxes without those whose preferences mute the notification: one
// Store call reads the chunk's preferences first. Skipped for a critical publish and while
// the Store knows no user has preferences. The chunk keeps its append slot meanwhile, so
// chunks still go in order and the first still goes alone.
void append_unmuted(Engine::Impl& self, const std::shared_ptr<PublishJob>& job,
                    std::vector<StreamId> inboxes) {
  if (job->critical || inboxes.empty() || !self.store_->any_preferences())
    return append_chunk(self, job, std::move(inboxes));
  std::vector<UserId> users;
  users.reserve(inboxes.size());
  for (const StreamId& s : inboxes) users.push_back(s.name());
  ++job->appending;
  self.store_->preferences(
      std::move(users), self.store_completion<std::vector<UserPreferences>>(
                            [job, inboxes = std::move(inboxes)](
                                Engine::Impl& s, Result<std::vector<UserPreferences>> r) mutable {
                              --job->appending;
                              if (!r.ok() && !job->failed) job->failed = r.status();
                              if (!job->failed && !job->duplicate_of) {
                                const std::size_t muted = drop_muted(*job, inboxes, *r);
                                job->result.muted += muted;
                                s.metrics_.muted.add(muted);
                                // A first chunk goes even when empty: it records the notification
                                // and its key.
                                if (!inboxes.empty() || job->first)
                                  append_chunk(s, job, std::move(inboxes));
                              }
                              advance(s, job);
                            }));
}

void read_subscribers(Engine::Impl& self, const std::shared_ptr<PublishJob>& job) {
  const std::size_t chunk = self.options_.fanout_chunk;
  job->reading = true;
  self.store_->subscribers(job->target.topic, job->after_subscriber, chunk,
                           self.store_completion<std::vector<UserId>>(
                               [job, chunk](Engine::Impl& s, Result<std::vector<UserId>> r) {
                                 job->reading = false;
                                 if (!r.ok()) {
                                   if (!job->failed) job->failed = r.status();
                                   return advance(s, job);
                                 }
                                 job->subscribers_done = r->size() < chunk;
                                 if (!r->empty()) job->after_subscriber = r->back();
                                 // A publish to a topic nobody follows still records the
                                 // notification (and its idempotency key) with an empty first
                                 // append.
                                 if (!r->empty() || job->first) {
                                   std::vector<StreamId> inboxes;
                                   inboxes.reserve(r->size());
                                   for (const UserId& u : *r) inboxes.push_back(StreamId::inbox(u));
                                   job->page = std::move(inboxes);
                                 }
                                 advance(s, job);
                               }));
}

// Starts what may start now: appends up to the limit, and the next page of subscribers one
// page ahead of them.
void start_work(Engine::Impl& self, const std::shared_ptr<PublishJob>& job) {
  const std::size_t limit = job->first_stored ? kParallelChunks : 1;
  const std::size_t chunk = self.options_.fanout_chunk;
  switch (job->target.kind) {
    case Target::Kind::users: {
      auto& users = job->target.users;
      while (job->appending < limit && job->next_user < users.size()) {
        std::vector<StreamId> streams;
        const std::size_t end = std::min(users.size(), job->next_user + chunk);
        streams.reserve(end - job->next_user);
        for (; job->next_user < end; ++job->next_user)
          streams.push_back(StreamId::inbox(users[job->next_user]));
        append_unmuted(self, job, std::move(streams));
      }
      return;
    }
    case Target::Kind::topic:
    case Target::Kind::broadcast:
      if (job->first) append_chunk(self, job, {StreamId::topic(job->target.topic)});
      return;
    case Target::Kind::followers:
      if (job->page && job->appending < limit) {
        std::vector<StreamId> page = std::move(*job->page);
        job->page.reset();
        append_unmuted(self, job, std::move(page));
      }
      if (!job->page && !job->reading && !job->subscribers_done) read_subscribers(self, job);
      return;
  }
}

// Whether every stream of the target was handed to the store.
bool all_started(const PublishJob& job) {
  switch (job.target.kind) {
    case Target::Kind::users:
      return job.next_user >= job.target.users.size();
    case Target::Kind::topic:
    case Target::Kind::broadcast:
      return !job.first;
    case Target::Kind::followers:
      return job.subscribers_done && !job.page && !job.reading;
  }
  return true;
}

// Moves the publish on after any step finished; concludes it once nothing is in flight and
// nothing is left (or it failed, or it is a duplicate).
void advance(Engine::Impl& self, const std::shared_ptr<PublishJob>& job) {
  if (job->concluded) return;
  const bool stopped = job->failed || job->duplicate_of;
  if (!stopped) start_work(self, job);
  const bool idle = job->appending == 0 && !job->reading;
  if (idle && (stopped || all_started(*job))) conclude(self, *job);
}

}  // namespace

Status Engine::Impl::validate(PublishRequest& r) const {
  if (r.type.empty() || r.type.size() > options_.max_type_bytes || !printable(r.type))
    return invalid("type must be 1.." + std::to_string(options_.max_type_bytes) +
                   " characters without control characters");
  if (r.data.size() > options_.max_payload_bytes)
    return Status(Errc::payload_too_large, "data is " + std::to_string(r.data.size()) +
                                               " bytes; the limit is " +
                                               std::to_string(options_.max_payload_bytes));
  if (!r.data_is_json && !nlohmann::json::accept(r.data))
    return Status(Errc::invalid_json, "data is not valid JSON");
  if (!r.sender.empty() && !valid_name(r.sender)) return invalid("invalid sender id");
  if (r.idempotency_key.size() > 200 || !printable(r.idempotency_key))
    return invalid("idempotency_key must be at most 200 characters without control characters");
  if (r.principal.size() > 200 || !printable(r.principal))
    return invalid("principal must be at most 200 characters without control characters");
  if (r.expires_at && *r.expires_at <= executor_->now())
    return invalid("expires_at is not in the future");

  Target& t = r.target;
  switch (t.kind) {
    case Target::Kind::users: {
      if (t.users.empty()) return invalid("target has no users");
      if (t.users.size() > options_.max_recipients)
        return invalid("target has " + std::to_string(t.users.size()) + " users; the limit is " +
                       std::to_string(options_.max_recipients));
      for (const UserId& u : t.users)
        if (!valid_name(u)) return invalid("invalid user id in target: '" + u.substr(0, 64) + "'");
      if (t.users.size() > 1) drop_repeated(t.users);  // a user listed twice gets one entry
      return {};
    }
    case Target::Kind::followers:
    case Target::Kind::topic:
      if (!valid_name(t.topic) || t.topic[0] == '$')
        return invalid("invalid topic: 1..200 printable ASCII characters, not starting with '$'");
      return {};
    case Target::Kind::broadcast:
      t.topic = std::string(kBroadcastTopic);
      return {};
  }
  return invalid("unknown target kind");
}

void Engine::Impl::publish(PublishRequest& request,
                           std::function<void(Result<PublishResult>)> done) {
  auto refuse = [&](Status s) {
    metrics_.publish_errors.add();
    done(std::move(s));
  };
  if (state_ != State::running)
    return refuse(Status(Errc::shutting_down, "engine is not running"));
  if (Status s = validate(request); !s.ok()) return refuse(std::move(s));
  const TimePoint now = executor_->now();
  const std::string bucket = rate_bucket(request);
  if (!bucket.empty() && !limiter_.try_take(bucket, now)) {
    metrics_.rate_limited.add();
    const std::string who = request.sender.empty() ? "publisher '" + request.principal + "'"
                                                   : "sender '" + request.sender + "'";
    return refuse(Status(Errc::rate_limited, who + " is over its publish rate; retry later"));
  }
  std::string print = request.idempotency_key.empty() ? std::string() : fingerprint(request);

  auto n = std::make_shared<Notification>();
  n->id = ids_.next(now);
  n->type = std::move(request.type);
  n->data = std::move(request.data);
  n->sender = std::move(request.sender);
  n->created_at = now;
  n->expires_at = request.expires_at;
  n->idempotency_key = std::move(request.idempotency_key);

  auto job = std::make_shared<PublishJob>();
  job->notification = std::move(n);
  job->target = std::move(request.target);
  job->principal = std::move(request.principal);
  job->fingerprint = std::move(print);
  job->critical = request.critical;
  job->result.id = job->notification->id;
  job->done = std::move(done);
  hold();
  // Each step posts the next from its completion, so other work interleaves between the
  // chunks of a large fan-out.
  advance(*this, job);
}

// Asks the Registry where the users of an inbox chunk have sessions, while the chunk is
// being stored; nullptr for a topic chunk or an empty one (nothing to ask), and when the
// Registry knows this instance is alone (Registry::alone: the lookup could find only the
// sessions deliver_local reaches anyway) unless the outcome events need the lookup
// (watch_undelivered).
std::shared_ptr<InboxRelay> Engine::Impl::locate_ahead(const std::vector<StreamId>& streams) {
  if (streams.empty() || !streams.front().is_inbox()) return nullptr;
  if (!on_event_ && registry_->alone(options_.instance_id)) return nullptr;
  auto pending = std::make_shared<InboxRelay>();
  std::vector<UserId> users;
  users.reserve(streams.size());
  for (const StreamId& s : streams) users.push_back(s.name());
  hold();  // shutdown waits for the lookup and the relay it may send
  registry_->locate(std::move(users), completion<std::vector<Location>>(
                                          [pending](Impl& self, Result<std::vector<Location>> r) {
                                            pending->where = std::move(r);
                                            if (pending->stored) self.relay_inbox(*pending);
                                            self.release();
                                          }));
  return pending;
}

// Delivers to local sessions directly and relays to the other instances: entries of
// inboxes to the instances holding those users' sessions, topic entries to the instances
// that joined the topic. Precondition: for inbox positions, `pending` is what locate_ahead
// returned for the same streams (append_chunk always asks it): null when there is nothing
// to relay.
void Engine::Impl::route(const std::shared_ptr<const Notification>& n,
                         std::vector<Position> positions, std::shared_ptr<InboxRelay> pending) {
  if (positions.empty()) return;
  Envelope local{options_.instance_id, n, std::move(positions), false};
  // Local sessions are known without the Registry: their frames leave in this round,
  // together with the publisher's answer.
  deliver_local(local);
  if (!local.positions.front().stream.is_inbox()) {
    relay(local, topic_channel(local.positions.front().stream.name()));
    return;
  }
  if (!pending) return;
  pending->stored = std::move(local);
  if (pending->where) relay_inbox(*pending);
}

// Relays the stored entries to the instances holding their users' sessions, one envelope
// per instance; Registry unavailable: to every instance. Precondition: both answers are in.
void Engine::Impl::relay_inbox(const InboxRelay& pending) {
  const Envelope& local = *pending.stored;
  const Result<std::vector<Location>>& where = *pending.where;
  if (where.ok()) watch_undelivered(local, *where);
  if (!where.ok()) {
    metrics_.broker_fallbacks.add();
    relay(local, all_instances_channel());
    return;
  }
  std::map<InstanceId, std::vector<const UserId*>> users_by_instance;
  for (const Location& loc : *where)
    if (loc.instance != options_.instance_id) users_by_instance[loc.instance].push_back(&loc.user);
  if (users_by_instance.empty()) return;
  std::unordered_map<std::string_view, const Position*> by_user;
  for (const Position& p : local.positions) by_user.emplace(p.stream.name(), &p);
  for (auto& [instance, users_there] : users_by_instance) {
    Envelope e{local.from, local.notification, {}, false};
    for (const UserId* u : users_there)
      if (auto it = by_user.find(*u); it != by_user.end()) e.positions.push_back(*it->second);
    relay(e, instance_channel(instance));
  }
}

// At-most-once relay. A lost or failed relay is repaired by the receiver's gap detection
// or on the client's reconnect; nothing more to do here.
void Engine::Impl::relay(const Envelope& envelope, const std::string& channel) {
  broker_->publish(channel, encode(envelope), completion<void>([](Impl&, Result<void>) {}));
}

// A user's first session opened or last one closed here: tell the host and the other
// instances (at most once: presence events are hints; presence() asks the Registry).
void Engine::Impl::presence_changed(const UserId& user, bool online) {
  announce(PresenceEvent{user, online, options_.instance_id});
}

// Users whose last session was on an instance that died: the Registry gives each to one
// heartbeat in the cluster, so this is the one offline event of each. A user who has a
// session here meanwhile (its registration still on the way) is online: no event.
void Engine::Impl::departed(const std::vector<Departure>& departures) {
  for (const Departure& d : departures) {
    user_changed(d.user, false, d.instance);  // the Registry's own count: always its offline
    if (by_user_.count(d.user) == 0) announce(PresenceEvent{d.user, false, d.instance});
  }
}

// Tells the host here, and the other instances through the Broker (which echo it to their
// hosts); our own echo is recognised by its sender and dropped. A lone instance has nobody
// else to tell (two Broker messages per connection saved); presence is not kept, so an
// instance that starts later would not have seen the event either way. Nor is it sent when
// the host said no instance listens (EngineOptions::relay_presence).
void Engine::Impl::announce(const PresenceEvent& event) {
  if (on_presence_) on_presence_(event);
  if (!options_.relay_presence || registry_->alone(options_.instance_id)) return;
  broker_->publish(presence_channel(), encode(event, options_.instance_id),
                   completion<void>([](Impl&, Result<void>) {}));
}

void Engine::Impl::on_broker_message(const std::string& channel, const std::string& payload) {
  if (state_ != State::running && state_ != State::stopping) return;
  if (channel == presence_channel()) {
    if (!on_presence_) return;  // nobody here listens (herald-server does not): not read
    Result<PresenceMessage> p = decode_presence(payload);
    if (p.ok() && p->from != options_.instance_id) on_presence_(p->event);
    return;
  }
  if (channel == all_instances_channel()) {
    Result<MembershipMessage> m = decode_membership(payload);
    if (m.ok() && m->from != options_.instance_id) join_or_leave(m->user, m->topic, m->joined);
    if (m.status().code() != Errc::not_found) return;
    if (admin_message(payload)) return;
  }
  Result<Envelope> e = decode_envelope(payload);
  if (!e.ok() || e->from == options_.instance_id) return;  // ours were delivered locally
  if (e->redelivery) return redeliver_local(*e);
  deliver_local(*e);
}

// Messages may have been lost while the broker reconnected: every live stream re-reads
// from the Store after its last delivered seq.
void Engine::Impl::on_broker_reset() {
  for (auto& [conn, s] : sessions_) {
    if (s->phase != Session::Phase::live) continue;
    s->inbox.behind = true;
    catch_up(*s, s->inbox);
    for (auto& [topic, cursor] : s->topics) {
      cursor.behind = true;
      catch_up(*s, cursor);
    }
  }
}

}  // namespace herald
