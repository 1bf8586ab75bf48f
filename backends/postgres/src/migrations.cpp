#include "migrations.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <random>
#include <string>

#include "libpq.hpp"

namespace herald::postgres::detail {
namespace {

// Version 1: the whole store. Text keys that are paged or sorted use COLLATE "C" so their
// order is byte order, as in MemoryStore, whatever the database's locale. Times are
// milliseconds since the Unix epoch (bigint), 64-bit ids the same bits as a signed bigint.
const char* const kSchemaV1 = R"sql(
CREATE TABLE meta (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL CHECK (epoch <> 0)
);

CREATE TABLE notifications (
  id bigint PRIMARY KEY,
  type text NOT NULL,
  data json NOT NULL,
  sender text NOT NULL DEFAULT '',
  created_ms bigint NOT NULL,
  expires_ms bigint,
  idempotency_key text NOT NULL DEFAULT ''
);
CREATE INDEX notifications_expiry ON notifications (expires_ms) WHERE expires_ms IS NOT NULL;

CREATE TABLE idempotency_keys (
  key text COLLATE "C" PRIMARY KEY,
  notification_id bigint NOT NULL,
  created_ms bigint NOT NULL
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_ms);

CREATE TABLE streams (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text COLLATE "C" NOT NULL UNIQUE,
  head bigint NOT NULL DEFAULT 0,
  trimmed_through bigint NOT NULL DEFAULT 0
);

CREATE TABLE entries (
  stream_id bigint NOT NULL,
  seq bigint NOT NULL,
  notification_id bigint NOT NULL,
  read boolean NOT NULL DEFAULT false,
  expires_ms bigint,
  PRIMARY KEY (stream_id, seq)
);
CREATE INDEX entries_unread ON entries (stream_id, seq) WHERE NOT read;
CREATE INDEX entries_expiry ON entries (expires_ms) WHERE expires_ms IS NOT NULL;

CREATE TABLE ack_cursors (
  user_id text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL
);

CREATE TABLE subscriptions (
  topic text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL,
  PRIMARY KEY (topic, user_id)
);
CREATE INDEX subscriptions_by_user ON subscriptions (user_id, topic);

CREATE TABLE dead_letters (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  notification_id bigint NOT NULL,
  attempts bigint NOT NULL,
  at_ms bigint NOT NULL,
  reason text NOT NULL
);
CREATE INDEX dead_letters_by_user ON dead_letters (user_id, at_ms, id);

-- One append, atomic (it runs in the caller's transaction): idempotency check and record
-- (first chunk only), the notification row, the next seq of every listed stream, the
-- entries, and topic retention. Seqs come from `streams.head`, raised by an upsert whose
-- row lock serialises the appenders of one stream until they commit, so commit order is
-- seq order; the rows are locked in name order, so multi-stream appends cannot deadlock.
-- Returns one row (out_ord/out_seq NULL) for a duplicate or an append to no stream, else
-- one row per requested stream in request order.
CREATE FUNCTION append_notification(
    p_id bigint, p_type text, p_data json, p_sender text, p_created_ms bigint,
    p_expires_ms bigint, p_key text, p_streams text[], p_first boolean, p_window_ms bigint,
    p_retention bigint)
  RETURNS TABLE (out_duplicate boolean, out_id bigint, out_ord bigint, out_seq bigint)
  LANGUAGE plpgsql AS $fn$
DECLARE
  v_existing bigint;
  v_cut bigint;
  v_topic record;
BEGIN
  IF p_first AND p_key <> '' THEN
    INSERT INTO idempotency_keys AS k (key, notification_id, created_ms)
      VALUES (p_key, p_id, p_created_ms)
      ON CONFLICT (key) DO UPDATE
        SET notification_id = EXCLUDED.notification_id, created_ms = EXCLUDED.created_ms
        WHERE k.created_ms <= EXCLUDED.created_ms - p_window_ms;
    IF NOT FOUND THEN
      SELECT k.notification_id INTO v_existing FROM idempotency_keys k WHERE k.key = p_key;
      RETURN QUERY SELECT true, v_existing, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
  END IF;
  IF coalesce(cardinality(p_streams), 0) = 0 THEN
    RETURN QUERY SELECT false, p_id, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;

  INSERT INTO notifications (id, type, data, sender, created_ms, expires_ms, idempotency_key)
    VALUES (p_id, p_type, p_data, p_sender, p_created_ms, p_expires_ms, p_key)
    ON CONFLICT (id) DO NOTHING;

  RETURN QUERY
  WITH req AS (
    SELECT u.name, u.ord,
           row_number() OVER (PARTITION BY u.name ORDER BY u.ord) AS k,
           count(*) OVER (PARTITION BY u.name) AS n
      FROM unnest(p_streams) WITH ORDINALITY AS u(name, ord)
  ), heads AS (
    INSERT INTO streams AS s (name, head)
      SELECT r.name, max(r.n) FROM req r GROUP BY r.name ORDER BY r.name
      ON CONFLICT (name) DO UPDATE SET head = s.head + EXCLUDED.head
      RETURNING s.id, s.name, s.head
  ), placed AS (
    SELECT r.ord, h.id, h.head - r.n + r.k AS seq FROM req r JOIN heads h ON h.name = r.name
  ), inserted AS (
    INSERT INTO entries (stream_id, seq, notification_id, expires_ms)
      SELECT pl.id, pl.seq, p_id, p_expires_ms FROM placed pl
  )
  SELECT false, p_id, pl.ord, pl.seq FROM placed pl ORDER BY pl.ord;

  -- Topic retention: keep the newest p_retention entries. Only a stream whose seq range is
  -- longer than that can hold too many entries.
  IF p_retention > 0 THEN
    FOR v_topic IN
      SELECT s.id FROM streams s
       WHERE s.name = ANY (p_streams) AND s.name LIKE 'topic:%'
         AND s.head - s.trimmed_through > p_retention
    LOOP
      SELECT e.seq INTO v_cut FROM entries e WHERE e.stream_id = v_topic.id
        ORDER BY e.seq DESC OFFSET p_retention LIMIT 1;
      IF v_cut IS NOT NULL THEN
        DELETE FROM entries e WHERE e.stream_id = v_topic.id AND e.seq <= v_cut;
        UPDATE streams s SET trimmed_through = greatest(s.trimmed_through, v_cut)
          WHERE s.id = v_topic.id;
      END IF;
    END LOOP;
  END IF;
END;
$fn$;
)sql";

// Version 2: appends in batches (group commit). append_batch takes the queued appends of
// one store as parallel arrays (request i: p_ids[i] …; stream j belongs to request
// p_stream_req[j], the streams of a request in its order) and does in one transaction what
// append_notification did for one. Locks are taken in one global order so that batches on
// several connections (and several instances) cannot deadlock: idempotency keys in key
// order, then the stream rows in name order (one upsert), then the entries of the streams
// already locked. Seqs follow the request order within the batch. Returns, per request,
// one row per stream (out_seq, in request order) or one row with out_seq NULL for a
// duplicate (out_id: the notification that holds the key) or a request without streams.
const char* const kSchemaV2 = R"sql(
-- Every append rewrites its streams' rows (head): room on each page lets that be a HOT
-- update, which touches no index.
ALTER TABLE streams SET (fillfactor = 50);

DROP FUNCTION append_notification(bigint, text, json, text, bigint, bigint, text, text[],
                                  boolean, bigint, bigint);

CREATE FUNCTION append_batch(
    p_ids bigint[], p_types text[], p_data json[], p_senders text[], p_created_ms bigint[],
    p_expires_ms bigint[], p_keys text[], p_first boolean[], p_stream_req integer[],
    p_streams text[], p_window_ms bigint, p_retention bigint)
  RETURNS TABLE (out_req integer, out_duplicate boolean, out_id bigint, out_seq bigint)
  LANGUAGE plpgsql AS $fn$
DECLARE
  v_count integer := coalesce(cardinality(p_ids), 0);
  v_dup boolean[] := array_fill(false, ARRAY[v_count]);
  v_found bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
  v_existing bigint;
  v_key record;
  v_topic record;
  v_cut bigint;
BEGIN
  -- Idempotency: the first request of a key wins; a later one (in this batch or after an
  -- earlier commit, within the window) is a duplicate of the notification holding it.
  FOR v_key IN
    SELECT u.key, u.i::integer AS i
      FROM unnest(p_keys, p_first) WITH ORDINALITY AS u(key, first, i)
     WHERE u.first AND u.key <> '' ORDER BY u.key, u.i
  LOOP
    INSERT INTO idempotency_keys AS k (key, notification_id, created_ms)
      VALUES (v_key.key, p_ids[v_key.i], p_created_ms[v_key.i])
      ON CONFLICT (key) DO UPDATE
        SET notification_id = EXCLUDED.notification_id, created_ms = EXCLUDED.created_ms
        WHERE k.created_ms <= EXCLUDED.created_ms - p_window_ms;
    IF NOT FOUND THEN
      SELECT k.notification_id INTO v_existing FROM idempotency_keys k WHERE k.key = v_key.key;
      v_dup[v_key.i] := true;
      v_found[v_key.i] := v_existing;
    END IF;
  END LOOP;

  RETURN QUERY
  WITH q AS MATERIALIZED (
    SELECT * FROM unnest(p_ids, p_types, p_data, p_senders, p_created_ms, p_expires_ms, p_keys)
      WITH ORDINALITY AS q(id, type, data, sender, created_ms, expires_ms, key, i)
     WHERE NOT v_dup[q.i]
  ), req AS MATERIALIZED (
    SELECT u.name, u.pos, q.id, q.expires_ms,
           row_number() OVER (PARTITION BY u.name ORDER BY u.pos) AS k,
           count(*) OVER (PARTITION BY u.name) AS n
      FROM unnest(p_streams, p_stream_req) WITH ORDINALITY AS u(name, i, pos)
      JOIN q ON q.i = u.i
  ), notes AS (
    INSERT INTO notifications (id, type, data, sender, created_ms, expires_ms, idempotency_key)
      SELECT q.id, q.type, q.data, q.sender, q.created_ms, q.expires_ms, q.key FROM q
       WHERE q.i IN (SELECT DISTINCT s FROM unnest(p_stream_req) AS s)
      ON CONFLICT (id) DO NOTHING
  ), heads AS (
    INSERT INTO streams AS s (name, head)
      SELECT r.name, max(r.n) FROM req r GROUP BY r.name ORDER BY r.name
      ON CONFLICT (name) DO UPDATE SET head = s.head + EXCLUDED.head
      RETURNING s.id, s.name, s.head
  ), placed AS (
    SELECT r.pos, r.id, r.expires_ms, h.id AS stream_id, h.head - r.n + r.k AS seq
      FROM req r JOIN heads h ON h.name = r.name
  ), inserted AS (
    INSERT INTO entries (stream_id, seq, notification_id, expires_ms)
      SELECT pl.stream_id, pl.seq, pl.id, pl.expires_ms FROM placed pl
  )
  SELECT p_stream_req[pl.pos], false, pl.id, pl.seq FROM placed pl ORDER BY pl.pos;

  RETURN QUERY
  SELECT q.i::integer, v_dup[q.i], coalesce(v_found[q.i], q.id), NULL::bigint
    FROM unnest(p_ids) WITH ORDINALITY AS q(id, i)
    LEFT JOIN (SELECT DISTINCT s FROM unnest(p_stream_req) AS s) AS has ON has.s = q.i
   WHERE v_dup[q.i] OR has.s IS NULL;

  -- Topic retention: keep the newest p_retention entries. Only a stream whose seq range is
  -- longer than that can hold too many entries.
  IF p_retention > 0 THEN
    FOR v_topic IN
      SELECT s.id FROM streams s
       WHERE s.name = ANY (ARRAY(SELECT DISTINCT t FROM unnest(p_streams) AS t
                                  WHERE t LIKE 'topic:%'))
         AND s.head - s.trimmed_through > p_retention
    LOOP
      SELECT e.seq INTO v_cut FROM entries e WHERE e.stream_id = v_topic.id
        ORDER BY e.seq DESC OFFSET p_retention LIMIT 1;
      IF v_cut IS NOT NULL THEN
        DELETE FROM entries e WHERE e.stream_id = v_topic.id AND e.seq <= v_cut;
        UPDATE streams s SET trimmed_through = greatest(s.trimmed_through, v_cut)
          WHERE s.id = v_topic.id;
      END IF;
    END LOOP;
  END IF;
END;
$fn$;
)sql";

// Version 3: idempotency keys are unique per scope (the publishing principal) and remember
// the fingerprint of the request they were recorded for: the same key with another request
// is a conflict, not a duplicate. Existing keys move to the empty scope with an empty
// fingerprint (which matches any request, as before). Dead letters: one per inbox entry
// (a later one for the same entry replaces it; of existing repeats the newest is kept),
// paged by seq. append_batch takes the scopes and fingerprints and reports conflicts.
const char* const kSchemaV3 = R"sql(
ALTER TABLE idempotency_keys ADD COLUMN scope text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN fingerprint text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, key);

DELETE FROM dead_letters d USING dead_letters newer
 WHERE newer.user_id = d.user_id AND newer.seq = d.seq
   AND (newer.at_ms, newer.id) > (d.at_ms, d.id);
DROP INDEX dead_letters_by_user;
CREATE UNIQUE INDEX dead_letters_by_entry ON dead_letters (user_id, seq);

DROP FUNCTION append_batch(bigint[], text[], json[], text[], bigint[], bigint[], text[],
                           boolean[], integer[], text[], bigint, bigint);

CREATE FUNCTION append_batch(
    p_ids bigint[], p_types text[], p_data json[], p_senders text[], p_created_ms bigint[],
    p_expires_ms bigint[], p_keys text[], p_first boolean[], p_stream_req integer[],
    p_streams text[], p_window_ms bigint, p_retention bigint, p_scopes text[],
    p_prints text[])
  RETURNS TABLE (out_req integer, out_duplicate boolean, out_conflict boolean, out_id bigint,
                 out_seq bigint)
  LANGUAGE plpgsql AS $fn$
DECLARE
  v_count integer := coalesce(cardinality(p_ids), 0);
  v_dup boolean[] := array_fill(false, ARRAY[v_count]);
  v_conflict boolean[] := array_fill(false, ARRAY[v_count]);
  v_found bigint[] := array_fill(NULL::bigint, ARRAY[v_count]);
  v_existing bigint;
  v_print text;
  v_key record;
  v_topic record;
  v_cut bigint;
BEGIN
  -- Idempotency: the first request of a (scope, key) wins; a later one (in this batch or
  -- after an earlier commit, within the window) is a duplicate of the notification holding
  -- it when the fingerprints agree (an empty one agrees with any), else a conflict.
  FOR v_key IN
    SELECT u.scope, u.key, u.print, u.i::integer AS i
      FROM unnest(p_scopes, p_keys, p_prints, p_first) WITH ORDINALITY AS u(scope, key, print,
                                                                          first, i)
     WHERE u.first AND u.key <> '' ORDER BY u.scope, u.key, u.i
  LOOP
    INSERT INTO idempotency_keys AS k (scope, key, notification_id, created_ms, fingerprint)
      VALUES (v_key.scope, v_key.key, p_ids[v_key.i], p_created_ms[v_key.i], v_key.print)
      ON CONFLICT (scope, key) DO UPDATE
        SET notification_id = EXCLUDED.notification_id, created_ms = EXCLUDED.created_ms,
            fingerprint = EXCLUDED.fingerprint
        WHERE k.created_ms <= EXCLUDED.created_ms - p_window_ms;
    IF NOT FOUND THEN
      SELECT k.notification_id, k.fingerprint INTO v_existing, v_print FROM idempotency_keys k
       WHERE k.scope = v_key.scope AND k.key = v_key.key;
      v_dup[v_key.i] := true;
      v_conflict[v_key.i] := v_print <> '' AND v_key.print <> '' AND v_print <> v_key.print;
      v_found[v_key.i] := v_existing;
    END IF;
  END LOOP;

  RETURN QUERY
  WITH q AS MATERIALIZED (
    SELECT * FROM unnest(p_ids, p_types, p_data, p_senders, p_created_ms, p_expires_ms, p_keys)
      WITH ORDINALITY AS q(id, type, data, sender, created_ms, expires_ms, key, i)
     WHERE NOT v_dup[q.i]
  ), req AS MATERIALIZED (
    SELECT u.name, u.pos, q.id, q.expires_ms,
           row_number() OVER (PARTITION BY u.name ORDER BY u.pos) AS k,
           count(*) OVER (PARTITION BY u.name) AS n
      FROM unnest(p_streams, p_stream_req) WITH ORDINALITY AS u(name, i, pos)
      JOIN q ON q.i = u.i
  ), notes AS (
    INSERT INTO notifications (id, type, data, sender, created_ms, expires_ms, idempotency_key)
      SELECT q.id, q.type, q.data, q.sender, q.created_ms, q.expires_ms, q.key FROM q
       WHERE q.i IN (SELECT DISTINCT s FROM unnest(p_stream_req) AS s)
      ON CONFLICT (id) DO NOTHING
  ), heads AS (
    INSERT INTO streams AS s (name, head)
      SELECT r.name, max(r.n) FROM req r GROUP BY r.name ORDER BY r.name
      ON CONFLICT (name) DO UPDATE SET head = s.head + EXCLUDED.head
      RETURNING s.id, s.name, s.head
  ), placed AS (
    SELECT r.pos, r.id, r.expires_ms, h.id AS stream_id, h.head - r.n + r.k AS seq
      FROM req r JOIN heads h ON h.name = r.name
  ), inserted AS (
    INSERT INTO entries (stream_id, seq, notification_id, expires_ms)
      SELECT pl.stream_id, pl.seq, pl.id, pl.expires_ms FROM placed pl
  )
  SELECT p_stream_req[pl.pos], false, false, pl.id, pl.seq FROM placed pl ORDER BY pl.pos;

  RETURN QUERY
  SELECT q.i::integer, v_dup[q.i], v_conflict[q.i], coalesce(v_found[q.i], q.id), NULL::bigint
    FROM unnest(p_ids) WITH ORDINALITY AS q(id, i)
    LEFT JOIN (SELECT DISTINCT s FROM unnest(p_stream_req) AS s) AS has ON has.s = q.i
   WHERE v_dup[q.i] OR has.s IS NULL;

  -- Topic retention: keep the newest p_retention entries. Only a stream whose seq range is
  -- longer than that can hold too many entries.
  IF p_retention > 0 THEN
    FOR v_topic IN
      SELECT s.id FROM streams s
       WHERE s.name = ANY (ARRAY(SELECT DISTINCT t FROM unnest(p_streams) AS t
                                  WHERE t LIKE 'topic:%'))
         AND s.head - s.trimmed_through > p_retention
    LOOP
      SELECT e.seq INTO v_cut FROM entries e WHERE e.stream_id = v_topic.id
        ORDER BY e.seq DESC OFFSET p_retention LIMIT 1;
      IF v_cut IS NOT NULL THEN
        DELETE FROM entries e WHERE e.stream_id = v_topic.id AND e.seq <= v_cut;
        UPDATE streams s SET trimmed_through = greatest(s.trimmed_through, v_cut)
          WHERE s.id = v_topic.id;
      END IF;
    END LOOP;
  END IF;
END;
$fn$;
)sql";

// Version 4: preferences per user (issue 17) and the index inbox retention by age scans
// (entries by notification id: Snowflake ids are ordered by creation time).
const char* const kSchemaV4 = R"sql(
CREATE TABLE preferences (
  user_id text COLLATE "C" PRIMARY KEY,
  muted_types text[] NOT NULL,
  muted_topics text[] NOT NULL,
  critical_only boolean NOT NULL
);
CREATE INDEX entries_by_notification ON entries (notification_id);
)sql";

// A random nonzero epoch for a new schema (64 bits from the system's entropy source).
Epoch random_epoch() {
  std::random_device device;
  const Epoch epoch = (Epoch{device()} << 32) | device();
  return epoch != 0 ? epoch : 1;
}

PgConn connect_blocking(const PostgresOptions& options) {
  const auto seconds = std::max<long long>(1, (options.connect_timeout.count() + 999) / 1000);
  const std::string timeout = std::to_string(seconds);
  // Keywords apply in order: the URL may override application_name, not the rest.
  const char* keys[] = {"application_name", "dbname", "connect_timeout", "client_encoding",
                        nullptr};
  const char* values[] = {"herald", options.url.c_str(), timeout.c_str(), "UTF8", nullptr};
  PgConn conn(PQconnectdbParams(keys, values, 1));
  silence_notices(conn.get());
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    throw Error("herald::postgres: cannot connect to the database: " + conn_error(conn.get()) +
                " (check PostgresOptions::url / --postgres and that the server is running and "
                "accepts this user)");
  }
  return conn;
}

// Runs one statement of the setup transaction; throws with `what` on failure.
PgResult exec(PGconn* conn, const std::string& sql, const std::string& what,
              const Params& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PgResult r(params.empty() ? PQexec(conn, sql.c_str())
                            : PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()),
                                           nullptr, values.data(), nullptr, nullptr, 0));
  if (!r || !result_ok(r.get())) {
    const std::string message = r ? result_status(r.get(), what).message() : conn_error(conn);
    throw Error("herald::postgres: schema setup failed: " + message +
                " (the database user needs CREATE on the database, or the schema must exist "
                "and be owned by it)");
  }
  return r;
}

// Applies the migrations above `applied`, each recorded in schema_migrations.
void migrate(PGconn* conn, int applied) {
  const int latest = migrations().back().version;
  if (applied > latest) {
    throw Error("herald::postgres: the schema is at migration " + std::to_string(applied) +
                " but this herald knows only up to " + std::to_string(latest) +
                ": upgrade herald (or use another PostgresOptions::schema)");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= applied) continue;
    const std::string what = "migration " + std::to_string(m.version) + " (" + m.description + ")";
    exec(conn, m.sql, what);
    exec(conn, "INSERT INTO schema_migrations (version, description) VALUES ($1::int, $2::text)",
         what, {std::to_string(m.version), std::string(m.description)});
  }
}

void validate(const PostgresOptions& o) {
  auto fail = [](const std::string& what) { throw Error("herald::postgres: " + what); };
  if (o.url.empty()) fail("PostgresOptions::url is empty: give a postgresql:// URL or conninfo");
  const bool ident_ok =
      !o.schema.empty() && o.schema.size() <= 63 &&
      std::all_of(o.schema.begin(), o.schema.end(),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }) &&
      !std::isdigit(static_cast<unsigned char>(o.schema[0]));
  if (!ident_ok) {
    fail("PostgresOptions::schema '" + o.schema +
         "' is not 1..63 letters, digits or '_' starting with a letter or '_'");
  }
  if (o.pool_size < 1 || o.pool_size > 64) fail("PostgresOptions::pool_size must be 1..64");
  if (o.pipeline_depth < 1 || o.pipeline_depth > 10'000) {
    fail("PostgresOptions::pipeline_depth must be 1..10000");
  }
  if (o.append_batch < 1 || o.append_batch > 10'000) {
    fail("PostgresOptions::append_batch must be 1..10000");
  }
  if (o.purge_batch < 1) fail("PostgresOptions::purge_batch must be at least 1");
  if (o.connect_timeout.count() <= 0) fail("PostgresOptions::connect_timeout must be positive");
  if (o.statement_timeout.count() < 0) fail("PostgresOptions::statement_timeout is negative");
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, "notifications, streams, entries, cursors, subscriptions, dead letters", kSchemaV1},
      {2, "append_batch: many appends in one transaction", kSchemaV2},
      {3, "idempotency keys per scope with fingerprints; one dead letter per entry", kSchemaV3},
      {4, "preferences; entries by notification id (inbox retention)", kSchemaV4},
  };
  return list;
}

std::string quoted_schema(const std::string& schema) {
  return "\"" + schema + "\"";  // validate() allows only letters, digits and '_'
}

Epoch prepare_schema(const PostgresOptions& options) {
  validate(options);
  PgConn conn = connect_blocking(options);
  PGconn* c = conn.get();
  const std::string schema = quoted_schema(options.schema);
  exec(c, "BEGIN", "begin");
  exec(c, "SELECT pg_advisory_xact_lock(hashtext($1::text))", "advisory lock",
       {"herald.schema:" + options.schema});
  exec(c, "CREATE SCHEMA IF NOT EXISTS " + schema, "create schema");
  exec(c, "SET LOCAL search_path TO " + schema, "search_path");
  exec(c,
       "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
       "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
       "schema_migrations");
  PgResult v = exec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations", "version");
  migrate(c, static_cast<int>(get_i64(v.get(), 0, 0)));
  exec(c, "INSERT INTO meta (epoch) VALUES ($1::bigint) ON CONFLICT DO NOTHING", "epoch",
       {std::to_string(to_db(random_epoch()))});
  PgResult e = exec(c, "SELECT epoch FROM meta", "epoch");
  const Epoch epoch = from_db(get_i64(e.get(), 0, 0));
  exec(c, "COMMIT", "commit");
  return epoch;
}

}  // namespace herald::postgres::detail
