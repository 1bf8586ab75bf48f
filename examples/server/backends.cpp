// make_backends: which Store, Registry and Broker herald-server runs on (backends.hpp).

#include "backends.hpp"

#include <string>
#include <utility>

#include "herald/memory.hpp"
#ifdef HERALD_SERVER_WITH_REDIS
#include "herald/redis/redis.hpp"
#endif

namespace herald::server {
namespace {

#ifdef HERALD_SERVER_WITH_REDIS
void use_redis(asio::io_context& io, const std::shared_ptr<Executor>& executor,
               const std::string& url, ServerBackends& out) {
  redis::RedisOptions options;
  options.url = url;
  auto registry = redis::RedisRegistry::create(io, options);
  std::unique_ptr<redis::RedisBroker> broker = redis::RedisBroker::create(io, executor, options);
  const redis::RedisBroker* b = broker.get();  // owned by the engine, which outlives the probe
  out.unready = [registry, b]() -> std::string {
    if (!b->connected()) return "broker: " + b->last_error();
    if (!registry->connected()) return "registry: " + registry->last_error();
    return {};
  };
  out.engine.registry = std::move(registry);
  out.engine.broker = std::move(broker);
  out.names = "store=memory broker=redis registry=redis";
}
#endif

}  // namespace

ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice) {
  if (!choice.postgres.empty())
    throw Error("--postgres: the PostgreSQL backend is not built yet (coming in a later "
                "release); run without --postgres for the in-memory store");
  ServerBackends out;
  out.engine.store = MemoryStore::create();
  out.unready = [] { return std::string(); };
  if (choice.redis.empty()) {
    out.engine.registry = MemoryRegistry::create();
    out.engine.broker = MemoryBrokerHub::create()->make_broker(executor);
    out.names = "memory";
    return out;
  }
#ifdef HERALD_SERVER_WITH_REDIS
  try {
    use_redis(io, executor, choice.redis, out);
  } catch (const Error& e) {
    throw Error(std::string("--redis: ") + e.what());
  }
  return out;
#else
  (void)io;
  throw Error("--redis: this herald-server was built without the Redis backend; rebuild with "
              "-DHERALD_WITH_REDIS=ON (needs libhiredis-dev) or run without --redis");
#endif
}

}  // namespace herald::server
