#pragma once
// The statements the Store issues, prepared on every pooled connection when it connects.
// Unqualified table names: each connection's search_path is the configured schema.

#include <cstddef>

namespace herald::postgres::detail {

enum class Stmt : std::size_t {
  append_batch,     // append_batch(…): many appends, one transaction (migration 3)
  read_asc,         // one page of a stream with its head, oldest first
  read_desc,        // the same, newest first
  inbox_state,      // head, trimmed_through, ack cursor, unread count
  mark_read_some,   // flips listed entries of an inbox to read
  mark_read_all,    // flips every unread entry of an inbox
  remove,           // deletes listed entries of an inbox
  advance_ack,      // raises an ack cursor, never lowers it
  subscribe,        // (topic, user), idempotent
  unsubscribe,      //
  subscribers,      // keyset page of a topic's users
  subscriptions,    // keyset page of a user's topics
  add_dead_letter,  // one per (user, seq): replaces an earlier one
  dead_letters,     // keyset page of a user's dead letters, by seq
  remove_dead_letter,  // one (user, seq)
  purge_entries,    // one bounded batch of expired entries
  purge_notes,      // one bounded batch of expired notifications
  purge_keys,       // one bounded batch of old idempotency keys
  put_preferences,  // one user's preferences, replaced (migration 4)
  delete_preferences,  // one user's preferences, gone (= empty)
  get_preferences,  // the preferences of a list of users
  trim_old,         // one bounded batch of inbox entries of old notifications
  trim_many,        // one bounded batch of inbox entries beyond the newest N
  drop_orphans,     // one bounded batch of old notifications no entry holds
  topics,           // keyset page of topics with their subscriber counts
  ping,             // readiness; stays last: it ends every connection's setup (tests see it)
  count_,           // number of statements (not a statement)
};

struct StatementDef {
  const char* name;  // prepared statement name
  const char* sql;
};

/// The definition of `s`. Precondition: s < Stmt::count_.
const StatementDef& statement(Stmt s) noexcept;

inline constexpr std::size_t kStatementCount = static_cast<std::size_t>(Stmt::count_);

}  // namespace herald::postgres::detail
