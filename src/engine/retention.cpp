// Inbox retention (EngineOptions::inbox_max_entries, inbox_max_age): each sweep removes
// what the rule no longer keeps, in bounded Store::trim_inboxes steps so that appends run
// between them.

#include <chrono>

#include "engine/engine_impl.hpp"

namespace herald {
namespace {

// A sweep stops after this many full steps (retention_batch entries each) and continues at
// the next sweep: a huge backlog is worked off over several sweeps rather than in one go.
constexpr std::size_t kMaxStepsPerSweep = 1'000;

// The smallest Snowflake id of a notification created at `t` or later; 0 (no age limit)
// for a time before the Snowflake epoch.
NotificationId first_id_at(TimePoint t) {
  const std::int64_t ms = to_unix_ms(t) - SnowflakeGenerator::kEpochMs;
  return ms <= 0 ? 0 : static_cast<NotificationId>(ms) << 22;
}

}  // namespace

// Starts a chain of trim steps unless retention is off or the last sweep's chain still runs.
void Engine::Impl::apply_retention() {
  if (retention_running_) return;
  InboxRetention rule;
  rule.max_entries = options_.inbox_max_entries;
  if (options_.inbox_max_age.count() > 0)
    rule.before_id = first_id_at(executor_->now() - options_.inbox_max_age);
  rule.limit = options_.retention_batch;
  if (rule.max_entries == 0 && rule.before_id == 0) return;
  retention_running_ = true;
  trim_step(rule, kMaxStepsPerSweep);
}

// One step; the next one starts from its completion while it removed a full batch. A failed
// step (store unavailable) ends this sweep's chain; the next sweep tries again.
void Engine::Impl::trim_step(InboxRetention rule, std::size_t steps_left) {
  store_->trim_inboxes(rule, store_completion<std::uint64_t>(
                                 [rule, steps_left](Impl& self, Result<std::uint64_t> r) {
                                   if (r.ok()) self.metrics_.retention_removed.add(*r);
                                   const bool more = r.ok() && *r >= rule.limit && steps_left > 1;
                                   if (!more || self.state_ != State::running) {
                                     self.retention_running_ = false;
                                     return;
                                   }
                                   self.trim_step(rule, steps_left - 1);
                                 }));
}

}  // namespace herald
