#pragma once
// herald::redis — many herald instances as one service on a real Redis:
//   RedisBroker    relays envelopes between instances over Redis Pub/Sub;
//   RedisRegistry  keeps sessions and presence (user → sessions → instance) with TTLs.
// Both run hiredis's asynchronous API on the host's Asio io_context (any number of threads
// may run it); hiredis and Asio never appear in this header.

#include <chrono>
#include <memory>
#include <string>

#include "herald/broker.hpp"
#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/registry.hpp"

namespace asio {
class io_context;  // standalone Asio; forward-declared so this header needs no Asio
}

namespace herald::redis {

/// Where Redis is and how patient to be with it. Plain aggregate with working defaults.
struct RedisOptions {
  /// `redis://[[user]:password@]host[:port][/db]`; AUTH and SELECT are sent on connect.
  std::string url = "redis://127.0.0.1:6379";
  /// Prepended to every Pub/Sub channel: several herald services may share one Redis.
  std::string channel_prefix;
  /// Prepended to every Registry key.
  std::string key_prefix = "herald:registry:";
  /// A TCP connect (and AUTH/SELECT) that takes longer fails, and is retried.
  Duration connect_timeout = std::chrono::seconds(2);
  /// A command without an answer after this long fails with Errc::unavailable, and its
  /// connection is dropped and re-established (hiredis 0.14 has no timeouts of its own).
  Duration command_timeout = std::chrono::seconds(2);
  /// Reconnect backoff: the first retry after `reconnect_min`, doubling up to `reconnect_max`.
  Duration reconnect_min = std::chrono::milliseconds(50);
  Duration reconnect_max = std::chrono::seconds(2);
  /// The broker checks its subscriber connection this often by publishing a ping to itself
  /// (a subscribed hiredis context may not send PING); no echo within command_timeout
  /// means the connection is dead and is replaced.
  Duration liveness_interval = std::chrono::seconds(1);
};

/// Host, port and credentials of a `redis://` URL.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // empty: AUTH <password> (Redis < 6 style)
  std::string password;  // empty: no AUTH
  int db = 0;            // SELECT when not 0
};

/// Parses `url`. Throws herald::Error naming what is wrong (scheme, port, db).
HERALD_API RedisEndpoint parse_redis_url(const std::string& url);

/// The Broker contract (herald/broker.hpp) over Redis Pub/Sub: a dedicated subscriber
/// connection, and a command connection that pipelines PUBLISH. Interest-based routing
/// comes from the engine's channel names (an instance subscribes only to its own channel,
/// the broadcast channel and the topics its sessions joined), so Redis forwards each
/// message only to the instances that want it.
/// Faults: both connections reconnect by themselves with backoff; once the subscriber is
/// back and every channel is subscribed again, on_reset is reported. A subscribe that
/// fails while Redis is down yields Errc::unavailable, and the channel is still restored
/// on reconnect.
class HERALD_API RedisBroker : public Broker {
 public:
  /// Events are posted to `events`' executor (the engine's). Throws herald::Error on bad
  /// options; connection failures arrive in start()'s completion.
  static std::unique_ptr<RedisBroker> create(asio::io_context& io,
                                             std::shared_ptr<Executor> events,
                                             RedisOptions options = {});
  /// True while both connections are up (for readiness probes). Any thread.
  virtual bool connected() const = 0;
  /// Why the broker is not connected ("" when it is). Any thread.
  virtual std::string last_error() const = 0;
};

/// The Registry contract (herald/registry.hpp) in Redis: a sorted set of instances scored
/// by expiry, one hash of sessions, a set per user and per instance; every call is one Lua
/// script, so it is atomic and one round trip. Expiry uses Redis's clock (TIME), so hosts
/// with skewed clocks agree. A crashed instance's sessions disappear once its TTL passed.
/// Faults: after a reconnect the registry heartbeats its instances and re-adds the
/// sessions it added (Redis may have restarted empty).
class HERALD_API RedisRegistry : public Registry {
 public:
  /// Throws herald::Error on bad options. Connects in the background; calls made before
  /// the connection is up wait for it (pipelined) or fail with Errc::unavailable.
  static std::shared_ptr<RedisRegistry> create(asio::io_context& io, RedisOptions options = {});
  /// True while the connection is up. Any thread.
  virtual bool connected() const = 0;
  /// Why the registry is not connected ("" when it is). Any thread.
  virtual std::string last_error() const = 0;
};

}  // namespace herald::redis
