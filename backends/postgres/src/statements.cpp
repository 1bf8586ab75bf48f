#include "statements.hpp"

namespace herald::postgres::detail {
namespace {

// One page of a stream and the stream's facts in one statement (one snapshot): a single
// row of NULL entry columns when the page is empty. Entries come from the primary key
// (stream_id, seq) range; expiry is filtered on the entry's copy of expires_ms, so the
// notification is joined only for the rows returned. $5 is the page size + 1 (for `more`).
#define HERALD_READ_SQL(DIR)                                                                  \
  "SELECT s.head, s.trimmed_through, p.seq, p.read, n.id, n.type, n.data, n.sender, "         \
  "n.created_ms, n.expires_ms, n.idempotency_key "                                            \
  "FROM (SELECT 1) AS one "                                                                   \
  "LEFT JOIN streams s ON s.name = $1::text "                                                 \
  "LEFT JOIN LATERAL (SELECT e.seq, e.read, e.notification_id FROM entries e "                \
  "  WHERE e.stream_id = s.id AND e.seq > $2::bigint AND e.seq < $3::bigint "                 \
  "    AND (e.expires_ms IS NULL OR e.expires_ms > $4::bigint) "                              \
  "  ORDER BY e.seq " DIR " LIMIT $5::bigint) AS p ON true "                                  \
  "LEFT JOIN notifications n ON n.id = p.notification_id "                                    \
  "ORDER BY p.seq " DIR

// Indexed by Stmt.
const StatementDef kStatements[kStatementCount] = {
    {"herald_append_batch",
     "SELECT out_req, out_duplicate, out_conflict, out_id, out_seq FROM append_batch("
     "$1::bigint[], $2::text[], $3::json[], $4::text[], $5::bigint[], $6::bigint[], "
     "$7::text[], $8::boolean[], $9::integer[], $10::text[], $11::bigint, $12::bigint, "
     "$13::text[], $14::text[])"},
    {"herald_read_asc", HERALD_READ_SQL("ASC")},
    {"herald_read_desc", HERALD_READ_SQL("DESC")},
    {"herald_inbox_state",
     "SELECT s.head, s.trimmed_through, "
     "(SELECT a.seq FROM ack_cursors a WHERE a.user_id = $2::text), "
     "(SELECT count(*) FROM entries e WHERE e.stream_id = s.id AND NOT e.read "
     "   AND (e.expires_ms IS NULL OR e.expires_ms > $3::bigint)) "
     "FROM (SELECT 1) AS one LEFT JOIN streams s ON s.name = $1::text"},
    {"herald_mark_read_some",
     "UPDATE entries SET read = true "
     "WHERE stream_id = (SELECT id FROM streams WHERE name = $1::text) "
     "AND seq = ANY ($2::bigint[]) AND NOT read"},
    {"herald_mark_read_all",
     "UPDATE entries SET read = true "
     "WHERE stream_id = (SELECT id FROM streams WHERE name = $1::text) AND NOT read"},
    {"herald_remove",
     "DELETE FROM entries WHERE stream_id = (SELECT id FROM streams WHERE name = $1::text) "
     "AND seq = ANY ($2::bigint[])"},
    {"herald_advance_ack",
     "INSERT INTO ack_cursors AS a (user_id, seq) VALUES ($1::text, $2::bigint) "
     "ON CONFLICT (user_id) DO UPDATE SET seq = greatest(a.seq, EXCLUDED.seq) RETURNING a.seq"},
    {"herald_subscribe",
     "INSERT INTO subscriptions (topic, user_id) VALUES ($1::text, $2::text) "
     "ON CONFLICT DO NOTHING"},
    {"herald_unsubscribe",
     "DELETE FROM subscriptions WHERE topic = $1::text AND user_id = $2::text"},
    {"herald_subscribers",
     "SELECT user_id FROM subscriptions WHERE topic = $1::text AND user_id > $2::text "
     "ORDER BY user_id LIMIT $3::bigint"},
    {"herald_subscriptions",
     "SELECT topic FROM subscriptions WHERE user_id = $1::text AND topic > $2::text "
     "ORDER BY topic LIMIT $3::bigint"},
    {"herald_add_dead_letter",
     "INSERT INTO dead_letters (user_id, seq, notification_id, attempts, at_ms, reason) "
     "VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::text) "
     "ON CONFLICT (user_id, seq) DO UPDATE SET notification_id = EXCLUDED.notification_id, "
     "attempts = EXCLUDED.attempts, at_ms = EXCLUDED.at_ms, reason = EXCLUDED.reason"},
    {"herald_dead_letters",
     "SELECT user_id, seq, notification_id, attempts, at_ms, reason FROM dead_letters "
     "WHERE user_id = $1::text AND seq > $2::bigint ORDER BY seq LIMIT $3::bigint"},
    {"herald_remove_dead_letter",
     "DELETE FROM dead_letters WHERE user_id = $1::text AND seq = $2::bigint"},
    {"herald_purge_entries",
     "DELETE FROM entries e USING (SELECT stream_id, seq FROM entries "
     "  WHERE expires_ms <= $1::bigint LIMIT $2::bigint) AS d "
     "WHERE e.stream_id = d.stream_id AND e.seq = d.seq"},
    // `= ANY (ARRAY(…))`, not `IN (…)`: IN became a hash semi-join over a sequential scan
    // of the whole table at 1M rows (bench/store_bench.cpp's EXPLAIN); an array of keys is
    // looked up in the primary key.
    {"herald_purge_notes",
     "DELETE FROM notifications WHERE id = ANY (ARRAY(SELECT id FROM notifications "
     "  WHERE expires_ms <= $1::bigint LIMIT $2::bigint))"},
    {"herald_purge_keys",
     "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys "
     "  WHERE created_ms < $1::bigint LIMIT $2::bigint))"},
    // Muted names travel as text joined by '\n' (names hold no control character).
    {"herald_put_preferences",
     "INSERT INTO preferences AS p (user_id, muted_types, muted_topics, critical_only) "
     "VALUES ($1::text, string_to_array($2::text, E'\\n'), string_to_array($3::text, E'\\n'), "
     "$4::boolean) ON CONFLICT (user_id) DO UPDATE SET muted_types = EXCLUDED.muted_types, "
     "muted_topics = EXCLUDED.muted_topics, critical_only = EXCLUDED.critical_only"},
    {"herald_delete_preferences", "DELETE FROM preferences WHERE user_id = $1::text"},
    {"herald_get_preferences",
     "SELECT user_id, array_to_string(muted_types, E'\\n'), "
     "array_to_string(muted_topics, E'\\n'), critical_only "
     "FROM preferences WHERE user_id = ANY ($1::text[])"},
    // Inbox streams are named 'inbox:…': the name range ['inbox:', 'inbox;') in byte order.
    {"herald_trim_old",
     "DELETE FROM entries e USING (SELECT x.stream_id, x.seq FROM entries x "
     "  JOIN streams s ON s.id = x.stream_id WHERE x.notification_id < $1::bigint "
     "  AND s.name >= 'inbox:' AND s.name < 'inbox;' LIMIT $2::bigint) AS d "
     "WHERE e.stream_id = d.stream_id AND e.seq = d.seq"},
    {"herald_trim_many",
     "DELETE FROM entries e USING (SELECT x.stream_id, x.seq FROM streams s "
     "  JOIN entries x ON x.stream_id = s.id WHERE s.name >= 'inbox:' AND s.name < 'inbox;' "
     "  AND s.head > $1::bigint AND x.seq <= (SELECT y.seq FROM entries y "
     "    WHERE y.stream_id = s.id ORDER BY y.seq DESC OFFSET $1::bigint LIMIT 1) "
     "  LIMIT $2::bigint) AS d "
     "WHERE e.stream_id = d.stream_id AND e.seq = d.seq"},
    {"herald_drop_orphans",
     "DELETE FROM notifications WHERE id = ANY (ARRAY(SELECT n.id FROM notifications n "
     "  WHERE n.id < $1::bigint AND NOT EXISTS "
     "  (SELECT 1 FROM entries e WHERE e.notification_id = n.id) LIMIT $2::bigint))"},
    // GROUP BY over the primary key (topic, user_id): EXPLAIN shows a GroupAggregate over an
    // Index Only Scan that stops after LIMIT groups (400k rows, 20k topics, a page of 100:
    // 2,001 index entries read, 1 ms), whatever the number of topics after the page.
    {"herald_topics",
     "SELECT topic, count(*) FROM subscriptions WHERE topic > $1::text "
     "GROUP BY topic ORDER BY topic LIMIT $2::bigint"},
    {"herald_ping", "SELECT 1"},
};

#undef HERALD_READ_SQL

}  // namespace

const StatementDef& statement(Stmt s) noexcept {
  return kStatements[static_cast<std::size_t>(s)];
}

}  // namespace herald::postgres::detail
