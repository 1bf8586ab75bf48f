#pragma once
// The backends herald-server runs on: in-memory by default; `--redis URL` puts the Broker
// and Registry on Redis (several servers then form one service). The Store stays in memory
// until the PostgreSQL backend is wired (docs/operations.md says what that limits).

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
/// Throws herald::Error with a message for the operator (bad URL, backend not built).
ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice);

}  // namespace herald::server
