// Outcome events (include/herald/events.hpp, docs/events.md): their JSON form, and the rules
// of when the engine emits each. Every function here runs on the engine's executor.

#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_set>

#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"
#include "herald/events.hpp"

namespace herald {

std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::notification_undelivered:
      return "notification.undelivered";
    case EventKind::notification_dead_lettered:
      return "notification.dead_lettered";
    case EventKind::notification_read:
      return "notification.read";
    case EventKind::user_online:
      return "user.online";
    case EventKind::user_offline:
      return "user.offline";
  }
  return "unknown";
}

std::string to_json(const OutcomeEvent& e) {
  using nlohmann::json;
  json j{{"id", std::to_string(e.event_id)},
         {"event", std::string(to_string(e.kind))},
         {"at", to_unix_ms(e.at)},
         {"user", e.user},
         {"instance", e.instance}};
  switch (e.kind) {
    case EventKind::notification_dead_lettered:
      j["attempts"] = e.attempts;
      [[fallthrough]];
    case EventKind::notification_undelivered:
      j["notification"] = {{"id", std::to_string(e.notification_id)},
                           {"type", e.type},
                           {"stream", StreamId::inbox(e.user).str()},
                           {"seq", e.seq}};
      break;
    case EventKind::notification_read:
      j["seqs"] = e.seqs;
      j["changed"] = e.changed;
      break;
    case EventKind::user_online:
    case EventKind::user_offline:
      break;
  }
  return j.dump();
}

// Stamps the event (id, instance, time) and hands it to the host.
void Engine::Impl::emit(OutcomeEvent event) {
  if (!on_event_) return;
  const TimePoint now = executor_->now();
  event.event_id = ids_.next(now);
  if (event.instance.empty()) event.instance = options_.instance_id;
  event.at = now;
  metrics_.events.add();
  on_event_(event);
}

// The Registry reported a change of the user's presence in the cluster (the first session
// recorded, or the last one gone): it reports each change exactly once, to one caller.
void Engine::Impl::user_changed(const UserId& user, bool online, const InstanceId& where) {
  OutcomeEvent e;
  e.kind = online ? EventKind::user_online : EventKind::user_offline;
  e.user = user;
  e.instance = where;
  emit(std::move(e));
}

void Engine::Impl::read_changed(const UserId& user, const std::vector<Seq>& seqs,
                                std::uint64_t changed) {
  if (changed == 0) return;
  OutcomeEvent e;
  e.kind = EventKind::notification_read;
  e.user = user;
  e.seqs = seqs;
  e.changed = changed;
  emit(std::move(e));
}

void Engine::Impl::dead_lettered(const UserId& user, const Unacked& entry) {
  OutcomeEvent e;
  e.kind = EventKind::notification_dead_lettered;
  e.user = user;
  e.notification_id = entry.notification->id;
  e.type = entry.notification->type;
  e.seq = entry.seq;
  e.attempts = entry.attempts;
  emit(std::move(e));
}

namespace {

// True if `user` has a session here or was located anywhere.
bool reachable(const std::unordered_set<std::string_view>& located,
               const std::unordered_map<UserId, std::vector<Session*>>& local, const UserId& user) {
  return located.count(user) != 0 || local.count(user) != 0;
}

std::unordered_set<std::string_view> users_of(const std::vector<Location>& where) {
  std::unordered_set<std::string_view> out;
  for (const Location& l : where) out.insert(l.user);
  return out;
}

}  // namespace

// After an inbox chunk was stored and located: its users with no session anywhere are
// checked again offline_after later (a second Registry lookup); those still without one get
// notification.undelivered. At most once: a Registry failure at either lookup, or this
// instance stopping before the check, emits nothing.
void Engine::Impl::watch_undelivered(const Envelope& stored, const std::vector<Location>& where) {
  if (!on_event_ || state_ != State::running) return;
  const auto located = users_of(where);
  auto offline = std::make_shared<Envelope>(Envelope{stored.from, stored.notification, {}, false});
  for (const Position& p : stored.positions)
    if (!reachable(located, by_user_, p.stream.name())) offline->positions.push_back(p);
  if (offline->positions.empty()) return;
  if (options_.offline_after == Duration::zero()) return report_undelivered(*offline, {});

  std::weak_ptr<Impl> weak_self = shared_from_this();
  auto id = std::make_shared<Executor::TimerId>(0);
  *id = executor_->schedule(options_.offline_after, [weak_self, offline, id] {
    auto self = weak_self.lock();
    if (!self || self->undelivered_timers_.erase(*id) == 0) return;  // cancelled
    std::vector<UserId> users;
    users.reserve(offline->positions.size());
    for (const Position& p : offline->positions) users.push_back(p.stream.name());
    self->registry_->locate(
        std::move(users),
        self->completion<std::vector<Location>>([offline](Impl& s, Result<std::vector<Location>> r) {
          if (r.ok()) s.report_undelivered(*offline, *r);
        }));
  });
  undelivered_timers_.insert(*id);
}

// Emits notification.undelivered for each position whose user is neither in `where` nor
// connected here.
void Engine::Impl::report_undelivered(const Envelope& offline, const std::vector<Location>& where) {
  if (state_ != State::running) return;
  const auto located = users_of(where);
  for (const Position& p : offline.positions) {
    if (reachable(located, by_user_, p.stream.name())) continue;
    OutcomeEvent e;
    e.kind = EventKind::notification_undelivered;
    e.user = p.stream.name();
    e.notification_id = offline.notification->id;
    e.type = offline.notification->type;
    e.seq = p.seq;
    emit(std::move(e));
  }
}

void Engine::Impl::cancel_undelivered() {
  for (Executor::TimerId id : undelivered_timers_) executor_->cancel(id);
  undelivered_timers_.clear();
}

}  // namespace herald
