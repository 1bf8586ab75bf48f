// RedisIngest without herald-server: its URL syntax, the in-flight bound, and an entry the
// host keeps failing (retried through claims, then dead-lettered), against a redis-server
// of each case's own. (herald-server's use of it: tests/server/e2e_ingest.cpp.)

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "herald/redis/ingest.hpp"
#include "redis_loop.hpp"
#include "support/redis_client.hpp"
#include "support/redis_server.hpp"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisClient;
using test::RedisServer;

IngestOptions fast_ingest(const RedisServer& redis) {
  IngestOptions o;
  o.redis.url = redis.url();
  o.stream = "s";
  o.consumer = "c1";
  o.block = 100ms;
  o.claim_idle = 100ms;
  o.claim_interval = 50ms;
  o.stats_interval = 50ms;
  return o;
}

// What the handler was given, and the answers it holds back.
struct Host {
  std::mutex mutex;
  std::vector<IngestEntry> seen;
  std::vector<std::function<void(IngestOutcome)>> held;

  std::size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return seen.size();
  }
};

}  // namespace

TEST_CASE("RedisIngest URL: the last path segment is the stream") {
  IngestSource s = parse_ingest_url("redis://127.0.0.1:6390/notifications");
  CHECK(s.redis_url == "redis://127.0.0.1:6390");
  CHECK(s.stream == "notifications");
  s = parse_ingest_url("redis://:pw@h:1/2/in");
  CHECK(s.redis_url == "redis://:pw@h:1/2");
  CHECK(s.stream == "in");
  CHECK(parse_redis_url(s.redis_url).db == 2);
  CHECK_THROWS_AS(parse_ingest_url("redis://127.0.0.1:6390"), Error);
  CHECK_THROWS_AS(parse_ingest_url("redis://127.0.0.1:6390/"), Error);
  CHECK_THROWS_AS(parse_ingest_url("http://127.0.0.1/x"), Error);
  CHECK_THROWS_AS(parse_ingest_url("redis://127.0.0.1:99999/x"), Error);
}

TEST_CASE("RedisIngest: no more than max_in_flight entries are handed out before they are resolved") {
  RedisServer redis;
  RedisClient r(redis.port());
  for (int i = 0; i < 20; ++i) r.command({"XADD", "s", "*", "body", std::to_string(i)});
  BackendLoop loop;
  Host host;
  IngestOptions o = fast_ingest(redis);
  o.max_in_flight = 5;
  o.claim_idle = 60s;  // no claim of the held entries during the case
  auto ingest = RedisIngest::create(loop.io, o, [&](const IngestEntry& e, auto done) {
    std::lock_guard<std::mutex> lock(host.mutex);
    host.seen.push_back(e);
    host.held.push_back(std::move(done));
  });
  REQUIRE(eventually([&] { return host.count() == 5; }));
  // A few reads' worth of time (BLOCK is 100 ms): still 5, since none was resolved.
  CHECK_FALSE(eventually([&] { return host.count() > 5; }, 400ms));
  CHECK(ingest->stats().in_flight == 5);
  // Answer what is held, wait for the next ones, until all 20 went through; never more
  // than 5 at once.
  std::size_t most_held = 0;
  auto held = [&] {
    std::lock_guard<std::mutex> lock(host.mutex);
    return host.held.size();
  };
  for (int round = 0; round < 20 && host.count() < 20; ++round) {
    std::vector<std::function<void(IngestOutcome)>> answers;
    {
      std::lock_guard<std::mutex> lock(host.mutex);
      most_held = std::max(most_held, host.held.size());
      answers.swap(host.held);
    }
    for (auto& done : answers) done(IngestOutcome::stored());
    CHECK(eventually([&] { return held() > 0 || host.count() == 20; }));
  }
  std::vector<std::function<void(IngestOutcome)>> rest;
  {
    std::lock_guard<std::mutex> lock(host.mutex);
    most_held = std::max(most_held, host.held.size());
    rest.swap(host.held);
  }
  for (auto& done : rest) done(IngestOutcome::stored());
  CHECK(most_held <= 5);
  CHECK(host.count() == 20);
  // pending and lag are two polls (XPENDING, then XINFO GROUPS) of one stats round: wait
  // for both rather than read lag right after pending reached 0.
  CHECK(eventually([&] {
    const auto s = ingest->stats();
    return s.acked == 20 && s.pending == 0 && s.lag == 0;
  }));

  std::mutex m;
  bool stopped = false;
  ingest->stop([&] {
    std::lock_guard<std::mutex> lock(m);
    stopped = true;
  });
  CHECK(eventually([&] {
    std::lock_guard<std::mutex> lock(m);
    return stopped;
  }));
}

TEST_CASE("RedisIngest: an entry that keeps failing is claimed again, then dead-lettered at max_attempts") {
  RedisServer redis;
  RedisClient r(redis.port());
  const std::string id = r.command({"XADD", "s", "*", "body", "{}", "extra", "e"}).get<std::string>();
  BackendLoop loop;
  Host host;
  IngestOptions o = fast_ingest(redis);
  o.max_attempts = 3;
  auto ingest = RedisIngest::create(loop.io, o, [&](const IngestEntry& e, auto done) {
    {
      std::lock_guard<std::mutex> lock(host.mutex);
      host.seen.push_back(e);
    }
    done(IngestOutcome::retry("store down"));
  });
  REQUIRE(eventually([&] { return r.command({"XLEN", "s:dead"}) == 1; }));
  {
    std::lock_guard<std::mutex> lock(host.mutex);
    REQUIRE(host.seen.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(host.seen[i].id == id);
      CHECK(host.seen[i].body == "{}");
      CHECK(host.seen[i].deliveries == i + 1);
    }
  }
  const auto dead = r.command({"XRANGE", "s:dead", "-", "+"});
  const auto& f = dead[0][1];
  REQUIRE(f.size() == 10);
  CHECK(f[0] == "reason");
  CHECK(f[1] == "not stored after 3 attempts: store down");
  CHECK(f[2] == "entry");
  CHECK(f[3] == id);
  CHECK(f[5] == "c1");
  CHECK(f[6] == "body");
  CHECK(f[7] == "{}");
  CHECK(f[8] == "extra");
  CHECK(eventually([&] {
    const IngestStats s = ingest->stats();
    return s.dead_lettered == 1 && s.retried == 3 && s.pending == 0 && s.in_flight == 0;
  }));
  CHECK(ingest->stats().claimed == 2);
}

TEST_CASE("RedisIngest: bad options are refused at creation") {
  asio::io_context io;
  IngestOptions o;
  o.stream = "s";
  CHECK_THROWS_AS(RedisIngest::create(io, o, [](const IngestEntry&, auto) {}), Error);  // no consumer
  o.consumer = "c";
  o.max_in_flight = 0;
  CHECK_THROWS_AS(RedisIngest::create(io, o, [](const IngestEntry&, auto) {}), Error);
}

}  // namespace herald::redis
