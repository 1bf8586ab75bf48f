// Administration: disconnecting a user on every instance, the topics with their subscriber
// counts, and each instance's load (reported with every heartbeat).

#include <algorithm>
#include <string_view>

#include "engine/checks.hpp"
#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"

namespace herald {

namespace {

constexpr std::string_view kDefaultReason = "disconnected by an administrator";
constexpr std::size_t kMaxReasonBytes = 123;  // a WebSocket close frame's reason

Status check_reason(const std::string& reason) {
  const bool printable =
      std::all_of(reason.begin(), reason.end(), [](char ch) { return ch >= 0x20 && ch <= 0x7e; });
  if (reason.size() <= kMaxReasonBytes && printable) return {};
  return Status(Errc::invalid_argument,
                "invalid reason: at most 123 printable ASCII characters (a WebSocket close "
                "reason)");
}

}  // namespace

// The Registry first, so that a failure changes nothing; then here, then the others. The
// message goes to every instance (not only those the Registry named): a session registered
// a moment late is closed too.
void Engine::Impl::disconnect(const UserId& user, const std::string& reason,
                              Completion<DisconnectResult> done) {
  registry_->sessions(
      user, completion<std::vector<SessionRecord>>(
                [user, reason, done](Impl& self, Result<std::vector<SessionRecord>> found) {
                  if (!found.ok()) return done(found.status());
                  DisconnectResult result;
                  for (const SessionRecord& s : *found)
                    if (s.instance != self.options_.instance_id) ++result.remote;
                  result.local = self.close_user(user, reason);
                  self.broker_->publish(
                      all_instances_channel(),
                      encode(DisconnectMessage{user, reason, self.options_.instance_id}),
                      self.completion<void>([done, result](Impl&, Result<void> sent) {
                        if (!sent.ok())
                          return done(Status(Errc::unavailable,
                                             "the sessions here were closed, but the other "
                                             "instances could not be told (broker: " +
                                                 sent.status().message() + "); retry"));
                        done(result);
                      }));
                }));
}

// Closes the user's sessions on this instance; yields how many were open.
std::size_t Engine::Impl::close_user(const UserId& user, const std::string& reason) {
  auto it = by_user_.find(user);
  if (it == by_user_.end()) return 0;
  const std::vector<Session*> local = it->second;  // close_session leaves by_user_ as it is
  std::size_t closed = 0;
  for (Session* s : local) {
    if (s->phase == Session::Phase::closed) continue;
    close_session(*s, CloseCode::disconnected, reason);
    ++closed;
  }
  return closed;
}

// A disconnect relayed by another instance. False: `payload` is no admin message.
bool Engine::Impl::admin_message(const std::string& payload) {
  Result<DisconnectMessage> m = decode_disconnect(payload);
  if (m.status().code() == Errc::not_found) return false;
  if (m.ok() && m->from != options_.instance_id) close_user(m->user, m->reason);
  return true;
}

// Sent with every heartbeat. At most once: a lost report is replaced by the next one.
void Engine::Impl::report_load() {
  take_waiting_reports();  // load() reads queued_bytes
  registry_->report_load(options_.instance_id, load(), completion<void>([](Impl&, auto) {}));
}

// One pass over this instance's connections, every registry_ttl / 3.
InstanceLoad Engine::Impl::load() const {
  InstanceLoad l;
  l.connections = sessions_.size();
  for (const auto& [conn, s] : sessions_) {
    if (s->phase == Session::Phase::live) ++l.sessions;
    l.queued_bytes += s->queued_bytes;
  }
  l.started_at = started_at_;
  l.reported_at = executor_->now();
  return l;
}

// ---------------------------------------------------------------------------------------
// Engine facade

void Engine::disconnect(UserId user, std::string reason,
                        std::function<void(Result<DisconnectResult>)> done) {
  Status check = check_user(user);
  if (check.ok()) check = check_reason(reason);
  if (reason.empty()) reason = std::string(kDefaultReason);
  query<DisconnectResult>(impl_, check, std::move(done),
                          [user, reason](Impl& self, Completion<DisconnectResult> c) {
                            self.disconnect(user, reason, std::move(c));
                          });
}

void Engine::topics(std::string after, std::int64_t limit,
                    std::function<void(Result<std::vector<TopicCount>>)> done) {
  Status check;
  if (!after.empty() && !valid_name(after))
    check = Status(Errc::invalid_argument, "invalid cursor: empty or a valid topic name");
  if (check.ok()) check = check_limit(limit, impl_->options_.max_page);
  query<std::vector<TopicCount>>(impl_, check, std::move(done), [after, limit](Impl& self, auto c) {
    self.store_->topics(after, static_cast<std::size_t>(limit), c);
  });
}

void Engine::instances(std::function<void(Result<std::vector<InstanceStatus>>)> done) {
  query<std::vector<InstanceStatus>>(impl_, {}, std::move(done),
                                     [](Impl& self, auto c) { self.registry_->instance_loads(c); });
}

}  // namespace herald
