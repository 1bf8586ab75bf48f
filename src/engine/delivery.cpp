// Delivery to local sessions: the per-stream cursor rules (no gap, no duplicate), catch-up
// reads from the Store, the bounded outbound queue, acks, redelivery and dead letters.

#include <algorithm>
#include <cmath>

#include "engine/engine_impl.hpp"
#include "engine/envelope.hpp"
#include "engine/protocol.hpp"

namespace herald {

// Frames once and shares: the body once per envelope; for a topic entry, which is the same
// for every session, the whole frame once per entry (the transport can then send one
// prepared message to all). Inbox frames differ per user only by a short head.
void Engine::Impl::deliver_local(const Envelope& e) {
  std::shared_ptr<const std::string> body;
  auto body_once = [&] {
    if (!body) body = protocol::notification_body(*e.notification);
    return body;
  };
  for (const Position& p : e.positions) {
    if (p.stream.is_inbox()) {
      auto it = by_user_.find(p.stream.name());
      if (it == by_user_.end()) continue;
      for (Session* s : it->second)
        offer(*s, s->inbox, p.seq, p.epoch, e.notification, body_once(), nullptr);
    } else {
      auto it = by_topic_.find(p.stream.name());
      if (it == by_topic_.end()) continue;
      auto framed = std::make_shared<const std::string>(
          protocol::notification_head(p.stream, p.seq, p.epoch, 1) + *body_once());
      for (const TopicMember& m : it->second)
        offer(*m.session, *m.cursor, p.seq, p.epoch, e.notification, body, framed);
    }
  }
}

// A live entry for one session's stream. Sent only if it is exactly the next seq; anything
// else (a gap, a read in progress, a full ack window, another epoch) defers to the Store,
// which is the truth: catch_up() reads what is missing, in order.
void Engine::Impl::offer(Session& s, StreamCursor& c, Seq seq, Epoch epoch,
                         const std::shared_ptr<const Notification>& n,
                         const std::shared_ptr<const std::string>& body,
                         const std::shared_ptr<const std::string>& framed) {
  if (s.phase != Session::Phase::live) return;
  if (c.ready && epoch == c.epoch && seq <= c.delivered) return;  // duplicate
  if (!c.ready || c.reading || window_full(s, c)) {
    c.behind = true;  // the read in flight, or the one after the window opens, fetches it
    if (window_full(s, c)) set_awaiting_acks(s, true);
    return;
  }
  if (epoch != c.epoch || seq != c.delivered + 1) {
    if (epoch == c.epoch) metrics_.gap_repairs.add();
    c.behind = true;
    return catch_up(s, c);
  }
  if (n->expires_at && n->expired(executor_->now())) {  // no clock read without expiry
    c.delivered = seq;
    return;
  }
  send_entry(s, c, seq, n, body, framed);
}

bool Engine::Impl::window_full(const Session& s, const StreamCursor& c) const {
  return c.stream.is_inbox() && s.unacked.size() >= options_.max_unacked;
}

// Catch-up reads pause while half the outbound bound is in use: a long backlog is paced by
// what the client actually reads, instead of overflowing the queue (on_written resumes).
bool Engine::Impl::queue_busy(const Session& s) const {
  return s.queued_bytes * 2 >= options_.max_session_queue_bytes;
}

StreamCursor* Engine::Impl::cursor_of(Session& s, const StreamId& stream) {
  if (stream.is_inbox()) return &s.inbox;
  return s.topic(stream.name());
}

// Reads entries after `delivered` from the Store and sends them. One read in flight per
// cursor; live entries arriving meanwhile set `behind` and cause one more read.
void Engine::Impl::catch_up(Session& s, StreamCursor& c) {
  if (s.phase != Session::Phase::live || !c.ready || c.reading || !c.behind) return;
  if (window_full(s, c)) return set_awaiting_acks(s, true);
  // Reports not applied yet may show room: taken first (not for a paused session: its
  // reports are posted, and applying them here would resume it inside this call).
  if (queue_busy(s) && (s.replay_paused || !take_waiting_reports() || queue_busy(s))) {
    set_replay_paused(s, true);  // on_written resumes the session's streams
    return;
  }
  c.reading = true;
  c.behind = false;
  ReadQuery q;
  q.after = c.delivered;
  q.limit = c.stream.is_inbox() ? std::min<std::size_t>(100, options_.max_unacked - s.unacked.size())
                                : 100;
  q.now = executor_->now();
  std::weak_ptr<Session> ws = weak(s);
  StreamId stream = c.stream;
  store_->read(stream, q,
               store_completion<ReadResult>([ws, stream](Impl& self, Result<ReadResult> r) {
                 auto sp = ws.lock();
                 if (!sp || sp->phase != Session::Phase::live) return;
                 Session& session = *sp;
                 StreamCursor* cursor = cursor_of(session, stream);
                 if (!cursor) return;  // left the topic meanwhile
                 cursor->reading = false;
                 if (!r.ok()) {
                   // Store unavailable: try again shortly; the session keeps its position.
                   cursor->behind = true;
                   std::weak_ptr<Impl> wself = self.shared_from_this();
                   self.executor_->schedule(std::chrono::seconds(1), [wself, ws, stream] {
                     auto me = wself.lock();
                     auto s2 = ws.lock();
                     if (!me || !s2) return;
                     if (StreamCursor* c2 = cursor_of(*s2, stream)) me->catch_up(*s2, *c2);
                   });
                   return;
                 }
                 if (!can_resume({cursor->delivered, cursor->epoch}, r->info)) {
                   // The history this cursor points into is gone (store restarted, entries
                   // trimmed).
                   self.place(session, *cursor, {cursor->delivered, cursor->epoch}, r->info);
                   return self.catch_up(session, *cursor);
                 }
                 if (r->more) cursor->behind = true;
                 for (const Entry& e : r->entries) {
                   if (e.seq <= cursor->delivered) continue;
                   if (self.queue_busy(session)) {
                     cursor->behind = true;  // the rest is read again once the client has read
                     break;
                   }
                   self.send_entry(session, *cursor, e.seq, e.notification,
                                   protocol::notification_body(*e.notification));
                   if (session.phase != Session::Phase::live) return;  // closed as a slow consumer
                 }
                 self.catch_up(session, *cursor);
               }));
}

// Puts a cursor at `wanted` if the stream's history continues it; otherwise tells the client
// "cannot resume, reload" (a reset frame) and continues from the head. Never a silent
// partial replay.
void Engine::Impl::place(Session& s, StreamCursor& c, Cursor wanted, const StreamInfo& info) {
  if (can_resume(wanted, info)) {
    c.delivered = wanted.seq;
  } else {
    metrics_.resume_refused.add();
    c.delivered = info.head;
    const char* reason = wanted.epoch != info.epoch && !(wanted.seq == 0 && wanted.epoch == 0)
                             ? "epoch_changed"
                             : (wanted.seq > info.head ? "ahead_of_stream" : "trimmed");
    write(s, {protocol::reset(c.stream, info, reason), nullptr});
  }
  c.epoch = info.epoch;
  c.ready = true;
  c.behind = true;
}

void Engine::Impl::send_entry(Session& s, StreamCursor& c, Seq seq,
                              const std::shared_ptr<const Notification>& n,
                              std::shared_ptr<const std::string> body,
                              const std::shared_ptr<const std::string>& framed) {
  c.delivered = seq;
  Frame frame = framed ? Frame{{}, framed}
                       : Frame{protocol::notification_head(c.stream, seq, c.epoch, 1), body};
  if (!write(s, std::move(frame))) return;
  const TimePoint now = executor_->now();
  metrics_.delivered.add();
  metrics_.delivery_latency.observe(
      std::max(0.0, std::chrono::duration<double>(now - n->created_at).count()));
  if (!c.stream.is_inbox()) return;
  s.unacked.push_back({seq, now + options_.ack_timeout, 1, n, std::move(body)});
  arm_ack_timer(s, s.unacked.back().due);
}

// Sends a frame within the session's queue bound; over the bound the session is closed
// (slow consumer) and recovers by cursor when it reconnects. Returns false if not sent.
bool Engine::Impl::write(Session& s, Frame frame) {
  if (s.phase == Session::Phase::closed) return false;
  const std::size_t size = frame.size();
  const auto over = [&] { return s.queued_bytes + size > options_.max_session_queue_bytes; };
  if (over() && (!take_waiting_reports() || over())) {
    metrics_.slow_consumers.add();
    close_session(s, CloseCode::slow_consumer,
                  "outbound queue over " + std::to_string(options_.max_session_queue_bytes) +
                      " bytes; reconnect and resume from your cursor");
    return false;
  }
  s.queued_bytes += size;
  s.connection->send(std::move(frame));
  return true;
}

// Arms the ack timer for `due`, unless it is armed for that time or earlier: an entry sent
// while the timer waits for a later (backed-off) redelivery must not wait for it.
void Engine::Impl::arm_ack_timer(Session& s, TimePoint due) {
  if (s.ack_timer != 0) {
    if (s.ack_due <= due) return;
    executor_->cancel(s.ack_timer);
  }
  s.ack_due = due;
  const auto delay = std::chrono::duration_cast<Duration>(due - executor_->now());
  std::weak_ptr<Session> ws = weak(s);
  std::weak_ptr<Impl> wself = shared_from_this();
  s.ack_timer = executor_->schedule(std::max(delay, Duration(0)), [wself, ws] {
    auto self = wself.lock();
    auto sp = ws.lock();
    if (!self || !sp) return;
    sp->ack_timer = 0;
    self->take_waiting_acks();  // an ack that arrived in time stops its redelivery
    self->on_ack_timer(*sp);
  });
}

// Redelivers every overdue entry (attempt n waits ack_timeout * backoff^(n-1)); after the
// last attempt the entry is dead-lettered: recorded in the Store, counted, and no longer
// pushed to this session (it stays in the inbox).
void Engine::Impl::on_ack_timer(Session& s) {
  if (s.phase != Session::Phase::live) return;
  const TimePoint now = executor_->now();
  for (auto it = s.unacked.begin(); it != s.unacked.end();) {
    if (it->due > now) {
      ++it;
      continue;
    }
    if (it->attempts >= options_.max_delivery_attempts) {
      metrics_.dead_lettered.add();
      DeadLetter letter{s.record.user, it->seq, it->notification->id, it->attempts, now,
                        "not acknowledged after " + std::to_string(it->attempts) + " deliveries"};
      store_->add_dead_letter(
          std::move(letter),
          store_completion<void>([user = s.record.user, entry = *it](Impl& self, Result<void> r) {
            if (r.ok()) self.dead_lettered(user, entry);
          }));
      it = s.unacked.erase(it);
      continue;
    }
    ++it->attempts;
    const double factor = std::pow(options_.redelivery_backoff, it->attempts - 1);
    it->due = now + std::chrono::duration_cast<Duration>(options_.ack_timeout * factor);
    metrics_.redelivered.add();
    if (!write(s, {protocol::notification_head(s.inbox.stream, it->seq, s.inbox.epoch,
                                               it->attempts),
                   it->body}))
      return;  // closed as a slow consumer
    ++it;
  }
  if (!s.unacked.empty()) {
    TimePoint due = s.unacked.front().due;
    for (const Unacked& u : s.unacked) due = std::min(due, u.due);
    arm_ack_timer(s, due);
  }
  catch_up(s, s.inbox);  // dead letters may have opened the window
}

void Engine::Impl::receive_ack(Session& s, Seq seq, const std::string& rid) {
  auto fail = [&](const std::string& message) {
    write(s, {protocol::error(rid, Status(Errc::invalid_argument, message)), nullptr});
  };
  if (s.phase != Session::Phase::live) return fail("session not ready: wait for the welcome");
  if (seq > s.inbox.delivered)
    return fail("ack " + std::to_string(seq) + " is beyond the last delivered seq " +
                std::to_string(s.inbox.delivered));
  acknowledge(s, seq);
}

// Cumulative ack of the inbox: every entry with seq <= `seq` arrived.
void Engine::Impl::acknowledge(Session& s, Seq seq) {
  auto end = std::find_if(s.unacked.begin(), s.unacked.end(),
                          [seq](const Unacked& u) { return u.seq > seq; });
  metrics_.acked.add(static_cast<std::size_t>(end - s.unacked.begin()));
  s.unacked.erase(s.unacked.begin(), end);
  if (s.unacked.empty()) std::vector<Unacked>().swap(s.unacked);  // idle: no buffer kept
  // The ack timer stays armed: cancelling and re-arming it for every delivery would cost a
  // timer per notification; when it fires with nothing overdue it only re-arms (or stops).
  s.ack_wanted = std::max(s.ack_wanted, seq);
  store_ack(s);
  if (!window_full(s, s.inbox)) set_awaiting_acks(s, false);
  catch_up(s, s.inbox);
}

// Coalesces ack cursor writes: at most one in flight per session; the newest value wins.
void Engine::Impl::store_ack(Session& s) {
  if (s.ack_writing || s.ack_wanted <= s.ack_stored) return;
  s.ack_writing = true;
  const Seq target = s.ack_wanted;
  std::weak_ptr<Session> ws = weak(s);
  store_->advance_ack_cursor(s.record.user, target,
                             store_completion<Seq>([ws, target](Impl& self, Result<Seq> r) {
                               auto sp = ws.lock();
                               if (!sp) return;
                               sp->ack_writing = false;
                               if (r.ok()) sp->ack_stored = std::max(target, r.value());
                               if (sp->phase == Session::Phase::live && r.ok()) self.store_ack(*sp);
                             }));
}

}  // namespace herald
