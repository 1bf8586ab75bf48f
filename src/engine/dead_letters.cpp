// Dead letters (DESIGN §5): an inbox entry whose deliveries were not acknowledged stays in
// the inbox and is recorded in the Store. A retry puts it back in flight: here, and through
// the Broker on every other instance, each session holding it gets it with fresh attempts.

#include <algorithm>

#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"
#include "engine/protocol.hpp"

namespace herald {

// Reads the entry first, so that a failed read changes nothing; then takes the dead letter
// out (whoever takes it redelivers it: two concurrent retries redeliver once), then
// redelivers. An entry gone from the inbox (deleted, expired) leaves nothing to retry: its
// dead letter is discarded and the answer is not_found.
void Engine::Impl::retry_dead_letter(const UserId& user, Seq seq, Completion<void> done) {
  const StreamId inbox = StreamId::inbox(user);
  ReadQuery q;
  q.after = seq - 1;
  q.before = seq == kSeqMax ? kSeqMax : seq + 1;
  q.limit = 1;
  q.now = executor_->now();
  store_->read(
      inbox, q,
      store_completion<ReadResult>([user, seq, done](Impl& self, Result<ReadResult> read) {
        if (!read.ok()) return done(read.status());
        std::optional<Envelope> entry;
        if (!read->entries.empty() && read->entries.front().seq == seq) {
          const Entry& e = read->entries.front();
          entry = Envelope{self.options_.instance_id,
                           e.notification,
                           {Position{e.stream, e.seq, read->info.epoch}},
                           true};
        }
        self.store_->remove_dead_letter(
            user, seq,
            self.store_completion<bool>([user, seq, done, entry](Impl& s, Result<bool> removed) {
              if (!removed.ok()) return done(removed.status());
              const std::string which = "seq " + std::to_string(seq) + " of " + user;
              if (!*removed) return done(Status(Errc::not_found, "no dead letter with " + which));
              if (!entry)
                return done(Status(Errc::not_found, "the entry " + which +
                                                        " left the inbox (deleted or expired); "
                                                        "its dead letter was discarded"));
              s.redeliver_local(*entry);
              s.relay(*entry, all_instances_channel());
              done(Result<void>());
            }));
      }));
}

// A redelivery for this instance's sessions. A session that already passed the entry gets
// it again now, tracked for acks from attempt 1 (even over max_unacked: it was in flight
// once); a session that has not reached it yet gets it in order as usual.
void Engine::Impl::redeliver_local(const Envelope& e) {
  const TimePoint now = executor_->now();
  for (const Position& p : e.positions) {
    if (!p.stream.is_inbox()) continue;
    auto it = by_user_.find(p.stream.name());
    if (it == by_user_.end()) continue;
    std::shared_ptr<const std::string> body;
    for (Session* s : it->second) {
      StreamCursor& c = s->inbox;
      if (s->phase != Session::Phase::live || !c.ready || c.epoch != p.epoch || p.seq > c.delivered)
        continue;
      auto at = std::lower_bound(s->unacked.begin(), s->unacked.end(), p.seq,
                                 [](const Unacked& u, Seq seq) { return u.seq < seq; });
      if (at != s->unacked.end() && at->seq == p.seq) continue;  // still in flight
      if (!body) body = protocol::notification_body(*e.notification);
      if (!write(*s, {protocol::notification_head(c.stream, p.seq, c.epoch, 1), body})) continue;
      metrics_.redelivered.add();
      // Kept in seq order: acknowledge() releases a prefix.
      s->unacked.insert(at, Unacked{p.seq, now + options_.ack_timeout, 1, e.notification, body});
      arm_ack_timer(*s, now + options_.ack_timeout);
    }
  }
}

}  // namespace herald
