#pragma once
// herald::postgres — the durable Store on PostgreSQL: libpq's asynchronous API (pipeline
// mode, prepared statements) on the host's Asio loop, a small connection pool, versioned
// schema migrations. Several herald instances may share one database (docs/postgres.md).
// libpq and Asio stay inside the backend: this header includes neither.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "herald/export.hpp"
#include "herald/executor.hpp"
#include "herald/model.hpp"
#include "herald/store.hpp"

namespace asio {
class io_context;  // standalone Asio; forward-declared so this header needs no Asio
}

namespace herald::postgres {

/// How to reach the database and how hard to use it. Plain values with sane defaults.
struct PostgresOptions {
  /// `postgresql://user:password@host:port/dbname?…` or a key/value conninfo string
  /// (`host=… port=… dbname=…`). Required.
  std::string url;
  /// Schema holding herald's tables (created, with its migrations, if missing). 1..63 bytes
  /// of letters, digits and '_', not starting with a digit.
  std::string schema = "herald";
  /// Connections kept open (1..64). Each one pipelines up to `pipeline_depth` requests.
  std::size_t pool_size = 4;
  /// Requests one connection has in flight at once (1..10,000).
  std::size_t pipeline_depth = 64;
  /// Requests waiting for a free connection; beyond it calls fail with Errc::unavailable.
  /// (Appends waiting for a batch are bounded by it too.)
  std::size_t max_queued = 100'000;
  /// Group commit: at most this many appends share one transaction (1..10,000; 1 commits
  /// every append alone). Appends that arrive while a batch runs wait for the next one, so an
  /// idle store commits each append at once (docs/postgres.md, "Execution").
  std::size_t append_batch = 500;
  /// Server-side limit of one statement (0: none). A statement cut by it fails with
  /// Errc::unavailable.
  std::chrono::milliseconds statement_timeout{10'000};
  /// Limit of one connection attempt (the setup connection and every reconnect).
  std::chrono::milliseconds connect_timeout{5'000};
  /// Longest pause between reconnect attempts of a broken connection (the pause doubles from
  /// 50 ms up to this).
  std::chrono::milliseconds max_reconnect_delay{2'000};
  /// purge_expired deletes in batches of at most this many rows (one statement and one
  /// transaction each), so a large purge never holds locks on many rows at once.
  std::size_t purge_batch = 5'000;
  /// Idempotency keys older than this (by their notification's created_at) are deleted by
  /// purge_expired. Keep it at least the engine's dedup window.
  std::chrono::milliseconds idempotency_retention{std::chrono::hours(24)};
};

/// A Store on PostgreSQL. Every Store method follows the contract of herald/store.hpp: it
/// returns at once and its completion is posted onto the caller's executor. A lost
/// connection fails the requests it carried with Errc::unavailable (a request whose commit
/// was in flight may or may not have been applied; it was never half applied) and is
/// re-established in the background; calls made while no connection is up fail with
/// Errc::unavailable after at most one connect attempt.
class HERALD_API PostgresStore : public Store {
 public:
  /// Connects once (blocking, bounded by connect_timeout), applies the schema migrations
  /// under an advisory lock (safe when several instances start at once), reads the store's
  /// epoch, then opens the pool on `io` without blocking. Call it before `io` runs or from a
  /// thread that is not one of its loop threads.
  /// Throws herald::Error with what to fix: bad options, unreachable server, failed login,
  /// a migration that fails, a schema written by a newer herald.
  /// `io` must outlive the store; the store may be used from any thread.
  static std::shared_ptr<PostgresStore> create(asio::io_context& io, PostgresOptions options);

  /// The epoch of this database schema: random, made once with the schema, and kept across
  /// restarts (every instance sharing the schema reports the same one).
  virtual Epoch epoch() const noexcept = 0;

  /// Readiness: ok when a round trip to the database succeeds now (through the pool),
  /// Errc::unavailable with the reason otherwise. The completion runs on `done`'s executor.
  virtual void ready(Done done) = 0;

  /// Connections currently open and usable (0..pool_size). Any thread.
  virtual std::size_t connections() const noexcept = 0;

  /// Closes every connection; requests in flight and later calls fail with
  /// Errc::unavailable (their completions are posted as usual). Idempotent; also done by the
  /// destructor. Any thread. Called off the loop while the io_context runs, it waits (a few
  /// seconds at most) until the loop threads dropped every pending completion, so the
  /// executors those completions refer to may be destroyed right after.
  virtual void close() = 0;
};

}  // namespace herald::postgres
