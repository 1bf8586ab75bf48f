#pragma once
// The backends herald-server runs on: in-memory by default; `--postgres URL` puts the Store
// on PostgreSQL, `--redis URL` the Broker and Registry on Redis (several servers with both
// form one service; docs/operations.md).

#include <functional>
#include <memory>
#include <string>

#include <asio/io_context.hpp>

#include "herald/engine.hpp"

namespace herald::server {

struct BackendChoice {
  std::string redis;     // redis://… or empty
  std::string postgres;  // postgresql://… or empty
};

struct ServerBackends {
  Backends engine;    // store, registry and broker; the caller adds its transports
  std::string names;  // for the log, e.g. "store=memory broker=redis registry=redis"
  /// Why an external backend is not usable now ("" when all are connected). Any thread.
  std::function<std::string()> unready;
};

/// Builds the chosen backends on `io`; broker events go to `executor` (the engine's).
/// Throws herald::Error with a message for the operator (bad URL, backend not built, a
/// database that cannot be reached or migrated: the PostgreSQL store connects here).
ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice);

}  // namespace herald::server
