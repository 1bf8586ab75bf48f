// The Redis backends under faults, each case against a redis-server of its own: Redis
// killed and restarted (empty), frozen (SIGSTOP: connections open, nothing answers),
// missing, or asking for a password. Plus the URL syntax.

#include <chrono>  // standard headers first: Asio picks its allocator by what they define
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "conformance/harness.hpp"
#include "herald/redis/redis.hpp"
#include "support/redis_server.hpp"
#include "redis_loop.hpp"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;
using conformance::Harness;
using conformance::Recorder;
using test::RedisServer;

RedisOptions fast_options(const std::string& url) {
  RedisOptions o;
  o.url = url;
  o.connect_timeout = 500ms;
  o.command_timeout = 300ms;
  o.reconnect_min = 20ms;
  o.reconnect_max = 100ms;
  o.liveness_interval = 100ms;
  return o;
}

Result<void> call(Harness& h, const std::function<void(Done)>& start) {
  return h.wait<void>(start);
}

// A heartbeat's success or failure (its Departures are not looked at here).
Result<void> beat(Harness& h, Registry& registry, const InstanceId& instance) {
  Result<std::vector<Departure>> r = h.wait<std::vector<Departure>>(
      [&](auto d) { registry.heartbeat(instance, std::chrono::seconds(60), d); });
  if (!r.ok()) return r.status();
  return {};
}

SessionRecord session(const std::string& id, const std::string& user, const std::string& at) {
  return SessionRecord{id, user, at, from_unix_ms(1'750'000'000'000)};
}

std::unique_ptr<Broker> started_broker(Harness& h, BackendLoop& loop, const RedisOptions& o,
                                       const Recorder& recorder) {
  std::unique_ptr<Broker> b = RedisBroker::create(loop.io, h.executor(), o);
  const BrokerEvents events = recorder.events();
  conformance::require_ok(call(h, [&](Done d) { b->start(events, d); }), "start");
  return b;
}

}  // namespace

TEST_CASE("Redis URL: host, port, credentials and database are parsed") {
  RedisEndpoint e = parse_redis_url("redis://127.0.0.1:6390");
  CHECK(e.host == "127.0.0.1");
  CHECK(e.port == 6390);
  CHECK(e.password.empty());
  CHECK(e.db == 0);
  e = parse_redis_url("redis://alice:p%40ss@cache.internal/3");
  CHECK(e.host == "cache.internal");
  CHECK(e.port == 6379);
  CHECK(e.user == "alice");
  CHECK(e.password == "p@ss");
  CHECK(e.db == 3);
  e = parse_redis_url("redis://:secret@[::1]:7000/");
  CHECK(e.host == "::1");
  CHECK(e.port == 7000);
  CHECK(e.user.empty());
  CHECK(e.password == "secret");

  for (const char* bad : {"http://localhost", "redis://", "redis://host:0", "redis://host:99999",
                          "redis://host:port", "redis://host/db", "redis://u:%zz@host",
                          "redis://[::1"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_redis_url(bad), Error);
  }
  // The password never appears in an error message.
  try {
    parse_redis_url("redis://user:hunter2@host:x");
    FAIL("no error");
  } catch (const Error& error) {
    CHECK(std::string(error.what()).find("hunter2") == std::string::npos);
    CHECK(std::string(error.what()).find("port") != std::string::npos);
  }
}

TEST_CASE("RedisOptions: bad durations are refused at creation") {
  BackendLoop loop;
  RedisOptions o;
  o.command_timeout = 0ms;
  CHECK_THROWS_AS(RedisRegistry::create(loop.io, o), Error);
  o = RedisOptions{};
  o.reconnect_max = 1ms;
  CHECK_THROWS_AS(RedisBroker::create(loop.io, nullptr, o), Error);
}

TEST_CASE("RedisBroker: start fails with a clear error when nothing listens") {
  BackendLoop loop;
  Harness h;
  const std::uint16_t port = test::free_port();
  std::unique_ptr<Broker> b =
      RedisBroker::create(loop.io, h.executor(), fast_options("redis://127.0.0.1:" + std::to_string(port)));
  Recorder recorder;
  const BrokerEvents events = recorder.events();
  Result<void> r = call(h, [&](Done d) { b->start(events, d); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Errc::unavailable);
  CHECK(r.status().message().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("RedisBroker: after Redis restarts, subscriptions come back and on_reset is reported") {
  RedisServer server;
  BackendLoop loop;
  Harness h;
  Recorder heard_a, heard_b;
  auto a = started_broker(h, loop, fast_options(server.url()), heard_a);
  auto b = started_broker(h, loop, fast_options(server.url()), heard_b);
  conformance::require_ok(call(h, [&](Done d) { b->subscribe("room", d); }), "subscribe");
  conformance::require_ok(call(h, [&](Done d) { a->publish("room", "before", d); }), "publish");
  heard_b.wait_for(h, "room", "before");

  server.kill();
  auto& rb = dynamic_cast<RedisBroker&>(*b);
  REQUIRE(eventually([&] { return !rb.connected(); }));
  Result<void> lost = call(h, [&](Done d) { a->publish("room", "lost", d); });
  CHECK_FALSE(lost.ok());
  CHECK(lost.status().code() == Errc::unavailable);

  server.restart();
  h.run_until([&] { return heard_b.resets() >= 1 && heard_a.resets() >= 1; }, "on_reset");
  // on_reset follows the subscriber connection; the publisher reconnects on its own
  // backoff, so a publish right after on_reset may still meet it down.
  auto& ra = dynamic_cast<RedisBroker&>(*a);
  REQUIRE(eventually([&] { return ra.connected(); }));
  conformance::require_ok(call(h, [&](Done d) { a->publish("room", "after", d); }), "publish");
  heard_b.wait_for(h, "room", "after");
  CHECK(heard_b.payloads("room") == std::vector<std::string>{"before", "after"});
}

TEST_CASE("RedisRegistry: while Redis is down calls fail, after its restart the sessions are back") {
  RedisServer server;
  BackendLoop loop;
  Harness h;
  auto registry = RedisRegistry::create(loop.io, fast_options(server.url()));
  conformance::require_ok(beat(h, *registry, "i1"), "heartbeat");
  conformance::ok_value(h.wait<bool>([&](auto d) {
                          registry->add_session(session("s1", "alice", "i1"), d);
                        }),
                        "add");

  server.kill();
  REQUIRE(eventually([&] { return !registry->connected(); }));
  auto down = h.wait<std::vector<SessionRecord>>(
      [&](auto done) { registry->sessions("alice", done); });
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == Errc::unavailable);

  // Redis comes back empty; the registry heartbeats its instance and re-adds its session
  // before anything sent after the reconnect.
  server.restart();
  REQUIRE(eventually([&] { return registry->connected(); }));
  auto back = h.wait<std::vector<SessionRecord>>(
      [&](auto done) { registry->sessions("alice", done); });
  REQUIRE(back.ok());
  REQUIRE(back->size() == 1);
  CHECK((*back)[0].session == "s1");
  CHECK((*back)[0].instance == "i1");
}

TEST_CASE("RedisRegistry: a frozen Redis fails calls after command_timeout, then recovers") {
  RedisServer server;
  BackendLoop loop;
  Harness h;
  auto registry = RedisRegistry::create(loop.io, fast_options(server.url()));
  conformance::require_ok(beat(h, *registry, "i1"), "heartbeat");
  // Nothing may be unanswered when Redis freezes: the connection is declared frozen when
  // its oldest command has no answer within command_timeout, and a command of the
  // registry's own (its SCRIPT LOAD once connected) may still wait for its answer. Replies
  // come in command order: once this call is answered, so is everything sent before it.
  REQUIRE(h.wait<std::vector<InstanceId>>([&](auto done) { registry->instances(done); }).ok());

  server.pause();
  const auto asked = std::chrono::steady_clock::now();
  auto frozen = h.wait<std::vector<InstanceId>>([&](auto done) { registry->instances(done); });
  const auto waited = std::chrono::steady_clock::now() - asked;
  REQUIRE_FALSE(frozen.ok());
  CHECK(frozen.status().code() == Errc::unavailable);
  CHECK(frozen.status().message().find("no answer within 300 ms") != std::string::npos);
  CHECK(waited >= 300ms);

  server.resume();
  REQUIRE(eventually([&] { return registry->connected(); }));
  auto thawed = h.wait<std::vector<InstanceId>>([&](auto done) { registry->instances(done); });
  REQUIRE(thawed.ok());
  CHECK(*thawed == std::vector<InstanceId>{"i1"});
}

TEST_CASE("Redis AUTH and SELECT: a wrong password is reported, a right one and the db are used") {
  RedisServer server({"--requirepass", "s3cret"});
  BackendLoop loop;
  Harness h;
  const std::string hostport = "127.0.0.1:" + std::to_string(server.port());

  auto wrong = RedisRegistry::create(loop.io, fast_options("redis://:nope@" + hostport));
  Result<void> refused = beat(h, *wrong, "i1");
  CHECK_FALSE(refused.ok());
  REQUIRE(eventually([&] { return wrong->last_error().find("AUTH failed") != std::string::npos; }));
  CHECK_FALSE(wrong->connected());

  auto db2 = RedisRegistry::create(loop.io, fast_options("redis://default:s3cret@" + hostport + "/2"));
  auto db0 = RedisRegistry::create(loop.io, fast_options("redis://:s3cret@" + hostport));
  conformance::require_ok(beat(h, *db2, "i2"), "heartbeat db2");
  conformance::require_ok(beat(h, *db0, "i0"), "heartbeat db0");
  auto in_db2 = h.wait<std::vector<InstanceId>>([&](auto done) { db2->instances(done); });
  auto in_db0 = h.wait<std::vector<InstanceId>>([&](auto done) { db0->instances(done); });
  REQUIRE(in_db2.ok());
  REQUIRE(in_db0.ok());
  CHECK(*in_db2 == std::vector<InstanceId>{"i2"});
  CHECK(*in_db0 == std::vector<InstanceId>{"i0"});
}

}  // namespace herald::redis
