#pragma once
// The backends herald-server runs on. The Store: SQLite at ./herald.db by default,
// `--store sqlite:PATH | memory | postgresql://…` (`--postgres URL` is an alias of the last);
// `--redis URL` puts the Broker and Registry on Redis (several servers with Redis and one
// PostgreSQL store form one service; docs/operations.md).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "herald/engine.hpp"

namespace herald::server {

/// Where the store is, as the command line chose it.
struct StoreChoice {
  enum class Kind { sqlite, memory, postgres };
  Kind kind = Kind::sqlite;
  std::string location;  // sqlite: the file; postgres: the URL
  bool given = false;    // named by --store or --postgres (else the default)
  /// The form shown in logs and messages: "sqlite:./herald.db", "memory", "postgres".
  std::string name() const;
  /// Can several instances share it (only a database server can)?
  bool shareable() const { return kind == Kind::postgres; }
};

/// The default store: SQLite at ./herald.db.
inline constexpr const char* kDefaultStore = "sqlite:./herald.db";

/// Parses `--store` (empty: not given) and `--postgres` (empty: not given). Throws
/// herald::Error for an unknown form or two flags naming different stores.
StoreChoice parse_store(const std::string& store, const std::string& postgres);

struct BackendChoice {
  std::string redis;  // redis://… or empty
  StoreChoice store;
  /// --sqlite-synchronous: "normal" or "full".
  std::string sqlite_synchronous = "normal";
  /// --allow-unshared-store: --redis with a store only this instance sees is accepted.
  bool allow_unshared_store = false;
};

struct ServerBackends {
  Backends engine;    // store, registry and broker; the caller adds its transports
  std::string names;  // for the log, e.g. "store=sqlite:./herald.db broker=redis registry=redis"
  /// Why an external backend is not usable now ("" when all are connected). Any thread.
  std::function<std::string()> unready;
  /// What the operator should know about this choice, each logged as a warning.
  std::vector<std::string> warnings;
  /// Stops the store's own threads once the io_context stopped (the SQLite store): a call
  /// they finish later then never completes on them, where its completion could hold the
  /// last reference to the engine and so to the store itself. Empty for the other stores.
  std::function<void()> close_store;
  /// The store's own metrics in Prometheus text (the SQLite store's WAL), "" for the others.
  /// Any thread.
  std::function<std::string()> store_metrics;
};

/// Builds the chosen backends on `io`; broker events go to `executor` (the engine's).
/// Throws herald::Error with a message for the operator (bad URL, backend not built, a
/// database that cannot be opened, reached or migrated: the stores open here; --redis with a
/// store other instances cannot share, unless allow_unshared_store).
ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice);

}  // namespace herald::server
