#pragma once
// The chaos run's books: every publish (its answers, the id herald gave it) and every
// notification each user received, and the counters printed at the end.
//
// Thread: one (the run's I/O thread); nothing here locks.
//
// A publish k goes to one user and carries `data.k`; its answer names its id. A delivery is
// checked against the user's inbox as the client saw it so far (seq order, epoch) and
// against publish k (the same notification: the same id, one seq). See Report for what each
// counter means; docs/performance.md ("Chaos run") says the same for readers of the figures.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herald::chaos {

/// What one publish attempt came to.
enum class Answer {
  accepted,   // 202 (a first store, or the idempotency record's answer to a retry)
  error,      // another status
  no_answer,  // sent, but the connection broke or the answer did not come in time
  not_sent,   // no connection could be opened (nothing reached a server)
};

/// One notification frame of the user's inbox, as the client read it.
struct Delivery {
  std::uint64_t seq = 0;
  std::string epoch;
  std::string id;
  int attempt = 1;      // `attempt`, 1 when absent
  std::int64_t k = -1;  // data.k, -1 if missing
};

/// Where the user's client resumes: after `seq` of `epoch` (empty: a fresh client).
struct Position {
  std::uint64_t seq = 0;
  std::string epoch;
};

struct Report {
  // Publish attempts (a publish is retried with its idempotency key until it is answered
  // 202, is refused for good, or the retry deadline passes).
  std::uint64_t attempts_accepted = 0, attempts_duplicate = 0;  // 202; of them duplicate:true
  std::uint64_t attempts_error = 0, attempts_no_answer = 0, attempts_not_sent = 0;
  std::map<int, std::uint64_t> error_statuses;  // status -> attempts
  // Attempts not answered 202 (error, no answer, not sent) by second of the run.
  std::map<std::uint32_t, std::uint64_t> failed_by_second;
  // Publishes.
  std::uint64_t publishes = 0, accepted = 0, given_up = 0;
  std::uint64_t given_up_but_delivered = 0;  // never a 202, yet stored (answer lost)
  // Notifications received.
  std::uint64_t frames = 0, unique = 0;
  std::uint64_t duplicates = 0;  // an entry the client already had, again
  // Of them, within the at-least-once window (docs/protocol.md):
  std::uint64_t duplicates_redelivered = 0;  // attempt > 1: not acked in time
  std::uint64_t duplicates_replayed = 0;     // after the session's cursor (a resume from the
                                             // stored ack cursor, which may lag the acks)
  std::uint64_t duplicates_after_ack = 0;    // of them: the client had acked that seq already
  std::uint64_t out_of_order = 0;      // a seq that was not the next one (ahead, or filling a hole)
  std::uint64_t missing = 0;           // answered 202, never received by the end of the drain
  std::uint64_t holes = 0;             // seqs below the last one the client never received
  std::uint64_t stored_twice = 0;      // one publish under two ids or at two seqs
  std::uint64_t foreign = 0;           // notifications that name no publish of this run
  std::uint64_t epoch_mismatches = 0;  // a notification in another epoch than the session's
  std::uint64_t resets = 0;            // `reset` frames (history lost, or a bad position)
  std::uint64_t cursor_mismatches = 0;  // a session resumed by `since` elsewhere than asked
  // Sessions.
  std::uint64_t sessions = 0;                // welcomes
  std::map<int, std::uint64_t> close_codes;  // close code (1006: the connection broke)
  std::uint64_t error_frames = 0;

  /// The run failed its promises: loss, reordering, an entry stored twice, a duplicate
  /// outside the at-least-once window, a reset, a session not continuing where asked.
  bool failed() const;
};

class Ledger {
 public:
  explicit Ledger(std::size_t users);

  // ---- publishing -------------------------------------------------------------------
  /// Time 0 of failed_by_second (the start of the publishing, as the fault schedule's).
  void set_origin(std::chrono::steady_clock::time_point origin) { origin_ = origin; }
  /// A new publish to `user`; returns its k.
  std::int64_t add_publish(std::size_t user);
  std::size_t user_of(std::int64_t k) const {
    return publishes_.at(static_cast<std::size_t>(k)).user;
  }
  /// One attempt's outcome; `id` and `duplicate` only for `accepted`, `status` for `error`.
  void on_attempt(std::int64_t k, Answer answer, int status = 0, const std::string& id = {},
                  bool duplicate = false);
  /// The publisher stopped trying publish k without a 202.
  void on_given_up(std::int64_t k);

  // ---- receiving --------------------------------------------------------------------
  Position position(std::size_t user) const;
  /// A session opened, continuing after `cursor`; `since`: the position the client asked
  /// for, if it did.
  void on_welcome(std::size_t user, const std::string& epoch, std::uint64_t cursor,
                  const std::optional<std::uint64_t>& since);
  /// `reset`: the client continues from `head` of `epoch`.
  void on_reset(std::size_t user, const std::string& epoch, std::uint64_t head);
  void on_notification(std::size_t user, const Delivery& d);
  /// The client sent `ack` up to `seq`.
  void on_ack(std::size_t user, std::uint64_t seq);
  void on_close(int code) { ++report_.close_codes[code]; }
  void on_error_frame() { ++report_.error_frames; }

  // ---- results ----------------------------------------------------------------------
  /// Publishes answered 202 whose notification the user has not received yet.
  std::uint64_t undelivered() const { return undelivered_; }
  Report report() const;

 private:
  struct Publish {
    std::size_t user = 0;
    std::string answered_id;  // id named by the first 202
    std::string first_id;     // id of the first entry received for it
    std::uint64_t first_seq = 0;
    bool answered_received = false;  // the entry answered_id names was received
    bool stored_twice = false;
    bool given_up = false;
  };
  struct Inbox {
    std::string epoch;
    std::uint64_t last = 0;            // highest seq received
    std::uint64_t acked = 0;           // highest seq acked
    std::uint64_t session_cursor = 0;  // the current session continues after this seq
    std::vector<bool> have;            // have[seq]: received
  };
  void on_accepted(Publish& p, const std::string& id);
  void count_duplicate(const Inbox& inbox, const Delivery& d);
  void match_publish(std::size_t user, const Delivery& d);
  void note_second_entry(Publish& p);

  std::vector<Publish> publishes_;
  std::vector<Inbox> inboxes_;
  std::uint64_t undelivered_ = 0;
  std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
  Report report_;
};

}  // namespace herald::chaos
