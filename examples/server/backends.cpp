// make_backends: which Store, Registry and Broker herald-server runs on (backends.hpp).

#include "backends.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "herald/memory.hpp"
#include "http_util.hpp"
#include "prometheus.hpp"
#ifdef HERALD_SERVER_WITH_REDIS
#include "herald/redis/redis.hpp"
#endif
#ifdef HERALD_SERVER_WITH_POSTGRES
#include "herald/postgres/store.hpp"
#endif
#ifdef HERALD_SERVER_WITH_SQLITE
#include "herald/sqlite/store.hpp"
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

std::shared_ptr<Store> make_postgres(asio::io_context& io, const std::string& url) {
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
  (void)url;
  throw Error("--postgres: this herald-server was built without the PostgreSQL backend; rebuild "
              "with -DHERALD_WITH_POSTGRES=ON (needs libpq-dev) or use another --store");
#endif
}

#ifdef HERALD_SERVER_WITH_SQLITE
// Two herald-servers on one SQLite file without a shared broker would each deliver live only
// what was published through it. The first one holds an exclusive lock on PATH-lock for as
// long as it runs (the kernel drops it when the process ends, however it ends); another one
// is refused. A separate file: closing a descriptor of the database itself would drop
// SQLite's own locks on it.
void claim_sqlite_file(const BackendChoice& choice) {
  const std::string lock = choice.store.location + "-lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error("--store " + choice.store.name() + ": cannot create " + lock + ": " +
                std::strerror(errno) + ": check that this user may write in its directory");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;  // kept open: held until the process ends
  const int error = errno;
  ::close(fd);
  if (error != EWOULDBLOCK) {
    throw Error("--store " + choice.store.name() + ": cannot lock " + lock + ": " +
                std::strerror(error));
  }
  throw Error("--store " + choice.store.name() + ": another herald-server uses this database (" +
              lock + " is locked): without a shared broker neither would deliver what is " +
              "published through the other until its clients reconnect. Stop it, give this one " +
              "its own file, or run every instance with --redis (and --allow-unshared-store)");
}
#endif

#ifdef HERALD_SERVER_WITH_SQLITE
// The SQLite store's WAL counters in Prometheus text (docs/operations.md, "Metrics").
std::string sqlite_metrics(const sqlite::SqliteStats& s) {
  std::string out;
  append_metric(out, "herald_sqlite_wal_frames", "gauge", "Pages in the WAL after the last commit.",
                s.wal_frames);
  append_metric(out, "herald_sqlite_wal_rewinds_total", "counter",
                "Times the WAL started over from its beginning.", s.wal_rewinds);
  // By the thread that ran them: the writer's commits wait for its own.
  auto by_thread = [&out](const char* name, const char* help, std::uint64_t checkpointer,
                          std::uint64_t writer) {
    append_metric_header(out, name, "counter", help);
    append_sample(out, name, "{thread=\"checkpointer\"}", checkpointer);
    append_sample(out, name, "{thread=\"writer\"}", writer);
  };
  by_thread("herald_sqlite_checkpoints_total",
            "Checkpoints, by the thread that ran them (the writer's commits wait for its own).",
            s.checkpoints, s.writer_checkpoints);
  by_thread("herald_sqlite_checkpointed_frames_total",
            "WAL pages copied into the database file, by the thread that copied them.",
            s.checkpointed_frames, s.writer_checkpointed_frames);
  return out;
}
#endif

// The SQLite store; null when this herald-server was built without it (the caller decides).
std::shared_ptr<Store> make_sqlite(const BackendChoice& choice, ServerBackends& out) {
#ifdef HERALD_SERVER_WITH_SQLITE
  if (choice.redis.empty()) claim_sqlite_file(choice);
  sqlite::SqliteOptions options;
  options.path = choice.store.location;
  options.synchronous = choice.sqlite_synchronous == "full" ? sqlite::Synchronous::full
                                                            : sqlite::Synchronous::normal;
  try {
    std::shared_ptr<sqlite::SqliteStore> store = sqlite::SqliteStore::open(std::move(options));
    out.close_store = [weak = std::weak_ptr<sqlite::SqliteStore>(store)] {
      if (auto s = weak.lock()) s->close();
    };
    out.store_metrics = [weak = std::weak_ptr<sqlite::SqliteStore>(store)] {
      auto s = weak.lock();
      return s ? sqlite_metrics(s->stats()) : std::string();
    };
    return store;
  } catch (const Error& e) {
    throw Error("--store " + choice.store.name() + ": " + e.what());
  }
#else
  (void)choice;
  (void)out;
  return nullptr;
#endif
}

// The Store: opened (and migrated) now.
std::shared_ptr<Store> make_store(asio::io_context& io, const BackendChoice& choice,
                                  ServerBackends& out) {
  switch (choice.store.kind) {
    case StoreChoice::Kind::memory:
      return MemoryStore::create();
    case StoreChoice::Kind::postgres:
      return make_postgres(io, choice.store.location);
    case StoreChoice::Kind::sqlite:
      break;
  }
  if (auto store = make_sqlite(choice, out)) return store;
  if (choice.store.given) {
    throw Error("--store " + choice.store.name() +
                ": this herald-server was built without the SQLite backend; rebuild with "
                "-DHERALD_WITH_SQLITE=ON (needs libsqlite3-dev) or use another --store");
  }
  out.warnings.push_back("this herald-server was built without the SQLite backend "
                         "(-DHERALD_WITH_SQLITE=ON): the default store is in memory and lost "
                         "at exit");
  return MemoryStore::create();
}

}  // namespace

std::string StoreChoice::name() const {
  switch (kind) {
    case Kind::memory:
      return "memory";
    case Kind::postgres:
      return "postgres";
    case Kind::sqlite:
      break;
  }
  return "sqlite:" + location;
}

StoreChoice parse_store(const std::string& store, const std::string& postgres) {
  StoreChoice choice;
  if (store.empty() && postgres.empty()) {
    choice.location = std::string(kDefaultStore).substr(7);
    return choice;
  }
  choice.given = true;
  if (store.empty()) {  // --postgres URL (its own checks speak about a bad one)
    choice.kind = StoreChoice::Kind::postgres;
    choice.location = postgres;
    return choice;
  }
  if (store == "memory") {
    choice.kind = StoreChoice::Kind::memory;
  } else if (starts_with(store, "sqlite:")) {
    choice.location = store.substr(7);
    if (choice.location.empty()) {
      throw Error("--store sqlite:PATH: the path is empty (e.g. --store sqlite:./herald.db)");
    }
  } else if (starts_with(store, "postgresql://") || starts_with(store, "postgres://")) {
    choice.kind = StoreChoice::Kind::postgres;
    choice.location = store;
  } else {
    throw Error("--store '" + store + "': expected sqlite:PATH, memory or postgresql://… " +
                "(default " + kDefaultStore + "; a key=value conninfo goes to --postgres)");
  }
  if (!postgres.empty() && (choice.kind != StoreChoice::Kind::postgres || store != postgres)) {
    throw Error("--store " + choice.name() + " and --postgres name two different stores: give "
                "one of them (--postgres URL means --store URL)");
  }
  return choice;
}

ServerBackends make_backends(asio::io_context& io, const std::shared_ptr<Executor>& executor,
                             const BackendChoice& choice) {
  ServerBackends out;
  std::string store = choice.store.name();
  if (!choice.redis.empty() && !choice.store.shareable()) {
    if (!choice.allow_unshared_store) {
      throw Error("--redis with --store " + store +
                  ": other instances cannot share this store, so a user's notifications stored "
                  "by one instance could not be read, resumed or acked through another. Give "
                  "every instance the same PostgreSQL store (--store postgresql://… or "
                  "--postgres URL), or pass --allow-unshared-store if each user always "
                  "reaches the same instance (sticky routing)");
    }
    out.warnings.push_back("--allow-unshared-store: the store " + store +
                  " is this instance's alone; users must always reach the same instance "
                  "(sticky routing), or they miss notifications stored through another");
  }
  const std::size_t warned = out.warnings.size();
  out.engine.store = make_store(io, choice, out);
  if (out.warnings.size() > warned) store = "memory";  // the fallback of a build without SQLite
  out.unready = [] { return std::string(); };
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
