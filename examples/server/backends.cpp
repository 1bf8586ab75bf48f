// make_backends: which Store, Registry and Broker herald-server runs on (backends.hpp).

#include "backends.hpp"

#include <string>
#include <utility>

#include "herald/memory.hpp"
#ifdef HERALD_SERVER_WITH_REDIS
#include "herald/redis/redis.hpp"
#endif
#ifdef HERALD_SERVER_WITH_POSTGRES
#include "herald/postgres/store.hpp"
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
}
#endif

// The Store: PostgreSQL with --postgres (connects and migrates now), else in memory.
std::shared_ptr<Store> make_store(asio::io_context& io, const std::string& url) {
  if (url.empty()) return MemoryStore::create();
#ifdef HERALD_SERVER_WITH_POSTGRES
  postgres::PostgresOptions options;
  options.url = url;
  try {
    return postgres::PostgresStore::create(io, std::move(options));
  } catch (const Error& e) {
    throw Error(std::string("--postgres: ") + e.what());
  }
#else
  (void)io;
  throw Error("--postgres: this herald-server was built without the PostgreSQL backend; rebuild "
              "with -DHERALD_WITH_POSTGRES=ON (needs libpq-dev) or run without --postgres");
#endif
}

}  // namespace

ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice) {
  ServerBackends out;
  out.engine.store = make_store(io, choice.postgres);
  out.unready = [] { return std::string(); };
  const std::string store = choice.postgres.empty() ? "memory" : "postgres";
  if (choice.redis.empty()) {
    out.engine.registry = MemoryRegistry::create();
    out.engine.broker = MemoryBrokerHub::create()->make_broker(executor);
    out.names = "store=" + store + " broker=memory registry=memory";
    return out;
  }
#ifdef HERALD_SERVER_WITH_REDIS
  try {
    use_redis(io, executor, choice.redis, out);
  } catch (const Error& e) {
    throw Error(std::string("--redis: ") + e.what());
  }
  out.names = "store=" + store + " broker=redis registry=redis";
  return out;
#else
  throw Error("--redis: this herald-server was built without the Redis backend; rebuild with "
              "-DHERALD_WITH_REDIS=ON (needs libhiredis-dev) or run without --redis");
#endif
}

}  // namespace herald::server
