#include "ledger.hpp"

#include <algorithm>

namespace herald::chaos {

bool Report::failed() const {
  return missing > 0 || out_of_order > 0 || holes > 0 || stored_twice > 0 || foreign > 0 ||
         duplicates > duplicates_redelivered + duplicates_replayed || resets > 0 ||
         epoch_mismatches > 0 || cursor_mismatches > 0;
}

Ledger::Ledger(std::size_t users) : inboxes_(users) {}

std::int64_t Ledger::add_publish(std::size_t user) {
  publishes_.push_back(Publish{});
  publishes_.back().user = user;
  ++report_.publishes;
  return static_cast<std::int64_t>(publishes_.size() - 1);
}

void Ledger::on_attempt(std::int64_t k, Answer answer, int status, const std::string& id,
                        bool duplicate) {
  if (answer != Answer::accepted) {
    const auto since = std::chrono::steady_clock::now() - origin_;
    ++report_.failed_by_second[static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(since).count())];
  }
  switch (answer) {
    case Answer::accepted:
      ++report_.attempts_accepted;
      if (duplicate) ++report_.attempts_duplicate;
      on_accepted(publishes_.at(static_cast<std::size_t>(k)), id);
      return;
    case Answer::error:
      ++report_.attempts_error;
      ++report_.error_statuses[status];
      return;
    case Answer::no_answer:
      ++report_.attempts_no_answer;
      return;
    case Answer::not_sent:
      ++report_.attempts_not_sent;
      return;
  }
}

// The first 202 fixes the publish's id; a later 202 (a retry answered from the idempotency
// record) must name the same one.
void Ledger::on_accepted(Publish& p, const std::string& id) {
  if (!p.answered_id.empty()) {
    if (id != p.answered_id) note_second_entry(p);
    return;
  }
  p.answered_id = id;
  ++report_.accepted;
  if (p.first_id.empty()) {
    ++undelivered_;
  } else if (p.first_id == id) {
    p.answered_received = true;  // the notification came before its 202
  } else {
    note_second_entry(p);
    ++undelivered_;
  }
}

void Ledger::on_given_up(std::int64_t k) {
  publishes_.at(static_cast<std::size_t>(k)).given_up = true;
}

Position Ledger::position(std::size_t user) const {
  const Inbox& inbox = inboxes_.at(user);
  return {inbox.last, inbox.epoch};
}

void Ledger::on_welcome(std::size_t user, const std::string& epoch, std::uint64_t cursor,
                        const std::optional<std::uint64_t>& since) {
  ++report_.sessions;
  Inbox& inbox = inboxes_.at(user);
  if (inbox.epoch.empty()) inbox.epoch = epoch;
  inbox.session_cursor = cursor;
  if (since && *since != cursor && epoch == inbox.epoch) ++report_.cursor_mismatches;
}

void Ledger::on_reset(std::size_t user, const std::string& epoch, std::uint64_t head) {
  ++report_.resets;
  Inbox& inbox = inboxes_.at(user);
  if (epoch != inbox.epoch) inbox.have.clear();  // another history: its seqs start over
  inbox.epoch = epoch;
  inbox.last = head;
  inbox.session_cursor = head;
  inbox.acked = std::min(inbox.acked, head);
}

void Ledger::on_notification(std::size_t user, const Delivery& d) {
  ++report_.frames;
  Inbox& inbox = inboxes_.at(user);
  if (d.epoch != inbox.epoch) ++report_.epoch_mismatches;
  if (d.seq >= inbox.have.size())
    inbox.have.resize(std::max<std::size_t>(d.seq + 1, 2 * inbox.have.size()));
  if (inbox.have[d.seq]) {
    count_duplicate(inbox, d);
    return;
  }
  inbox.have[d.seq] = true;
  ++report_.unique;
  if (d.seq != inbox.last + 1) ++report_.out_of_order;  // ahead of a gap, or filling one
  inbox.last = std::max(inbox.last, d.seq);
  match_publish(user, d);
}

void Ledger::count_duplicate(const Inbox& inbox, const Delivery& d) {
  ++report_.duplicates;
  if (d.attempt > 1) {
    ++report_.duplicates_redelivered;
  } else if (d.seq > inbox.session_cursor) {
    ++report_.duplicates_replayed;
  }
  if (d.seq <= inbox.acked) ++report_.duplicates_after_ack;
}

// A first delivery of a seq: is it publish k's entry, and the one its 202 named?
void Ledger::match_publish(std::size_t user, const Delivery& d) {
  if (d.k < 0 || static_cast<std::size_t>(d.k) >= publishes_.size() ||
      publishes_[static_cast<std::size_t>(d.k)].user != user) {
    ++report_.foreign;
    return;
  }
  Publish& p = publishes_[static_cast<std::size_t>(d.k)];
  if (p.first_id.empty()) {
    p.first_id = d.id;
    p.first_seq = d.seq;
  } else if (d.id != p.first_id || d.seq != p.first_seq) {
    note_second_entry(p);
  }
  if (!p.answered_id.empty() && !p.answered_received && d.id == p.answered_id) {
    p.answered_received = true;
    --undelivered_;
  }
}

void Ledger::note_second_entry(Publish& p) {
  if (p.stored_twice) return;
  p.stored_twice = true;
  ++report_.stored_twice;
}

void Ledger::on_ack(std::size_t user, std::uint64_t seq) {
  Inbox& inbox = inboxes_.at(user);
  inbox.acked = std::max(inbox.acked, seq);
}

Report Ledger::report() const {
  Report r = report_;
  for (const Publish& p : publishes_) {
    if (!p.answered_id.empty() && !p.answered_received) ++r.missing;
    if (p.answered_id.empty() && p.given_up) {
      ++r.given_up;
      if (!p.first_id.empty()) ++r.given_up_but_delivered;
    }
  }
  for (const Inbox& inbox : inboxes_)
    for (std::uint64_t seq = 1; seq <= inbox.last && seq < inbox.have.size(); ++seq)
      if (!inbox.have[seq]) ++r.holes;
  return r;
}

}  // namespace herald::chaos
