// End to end with `--redis`: real herald-server processes on one private redis-server.
// (Delivery across instances needs the shared PostgreSQL store and is tested with it.)

#include <doctest/doctest.h>

#ifdef HERALD_SERVER_WITH_REDIS

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "support/redis_client.hpp"
#include "support/redis_server.hpp"

using namespace herald::server::test;
using herald::test::RedisClient;
using herald::test::RedisServer;

TEST_CASE("herald-server --redis delivers, and /readyz follows Redis going away and back") {
  RedisServer redis;
  ServerProcess s({"--redis", redis.url(), "--allow-unshared-store", "--instance-id", "solo"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("backends=\"store=memory broker=redis registry=redis\"") != std::string::npos);
  CHECK(s.log().find("event=store_warning") != std::string::npos);  // --allow-unshared-store
  HttpClient h(s.port());
  auto alice = session(s.port(), "userId=alice", nullptr);
  post(h, "/notify", seed003("bob", "over redis", "alice", "private"));
  auto got = notes(*alice, "inbox:alice", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0]["data"]["message"] == "over redis");
  CHECK(get(h, "/readyz")["ready"] == true);

  redis.kill();
  CHECK(eventually_get(h, "/readyz", [](int status, const json& body) {
    return status == 503 && body["reason"].get<std::string>().find("redis 127.0.0.1") !=
                                std::string::npos;
  }));
  redis.restart();
  CHECK(eventually_get(h, "/readyz", [](int status, const json&) { return status == 200; }));
  post(h, "/notify", seed003("bob", "after the restart", "alice", "private"));
  got = notes(*alice, "inbox:alice", 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0]["data"]["message"] == "after the restart");
}

TEST_CASE("presence spans instances, and a killed instance's sessions expire within its TTL") {
  RedisServer redis;
  ServerProcess a({"--redis", redis.url(), "--allow-unshared-store", "--instance-id", "a",
                  "--registry-ttl", "1"});
  ServerProcess b({"--redis", redis.url(), "--allow-unshared-store", "--instance-id", "b",
                  "--registry-ttl", "1"});
  REQUIRE_MESSAGE(a.port() != 0, a.log());
  REQUIRE_MESSAGE(b.port() != 0, b.log());
  HttpClient hb(b.port());
  auto alice = session(a.port(), "userId=alice", nullptr);
  auto alice_b = session(b.port(), "userId=alice", nullptr);

  json p = get(hb, "/users/alice/presence");
  CHECK(p["online"] == true);
  std::multiset<std::string> where;
  for (const json& s : p["sessions"]) where.insert(s["instance"].get<std::string>());
  CHECK(where == std::multiset<std::string>{"a", "b"});

  // kill -9: nobody deregisters instance a; its session leaves once a's TTL passed.
  const auto killed = std::chrono::steady_clock::now();
  CHECK(a.stop(SIGKILL) == 128 + SIGKILL);
  alice.reset();
  CHECK(eventually_get(hb, "/users/alice/presence", [](int status, const json& body) {
    return status == 200 && body["sessions"].size() == 1 &&
           body["sessions"][0]["instance"] == "b";
  }));
  const auto gone_after = std::chrono::steady_clock::now() - killed;
  MESSAGE("instance a's session left the registry after "
          << std::chrono::duration_cast<Millis>(gone_after).count() << " ms (TTL 1000 ms)");
  alice_b->close();
  CHECK(eventually_get(hb, "/users/alice/presence", [](int status, const json& body) {
    return status == 200 && body["online"] == false;
  }));
}

// No instance of herald-server reads relayed presence events, so none publishes them
// (EngineOptions::relay_presence). Instance a's notification relayed to b leaves on the same
// Redis connection after anything alice's session opening and closing on a would have
// published, so reading the cluster's messages up to that relay shows whether there was any.
TEST_CASE(
    "herald-server publishes no presence events on Redis - a relay to the other "
    "instance still goes out") {
  RedisServer redis;
  RedisClient watch(redis.port());
  REQUIRE(watch.command({"PSUBSCRIBE", "herald:*"}).at(0) == "psubscribe");
  ServerProcess a({"--redis", redis.url(), "--allow-unshared-store", "--instance-id", "a"});
  ServerProcess b({"--redis", redis.url(), "--allow-unshared-store", "--instance-id", "b"});
  REQUIRE_MESSAGE(a.port() != 0, a.log());
  REQUIRE_MESSAGE(b.port() != 0, b.log());
  HttpClient ha(a.port());
  auto bob = session(b.port(), "userId=bob", nullptr);
  CHECK(eventually_get(ha, "/users/bob/presence", [](int status, const json& body) {
    return status == 200 && body["online"] == true;
  }));
  auto alice = session(a.port(), "userId=alice", nullptr);
  alice->close();
  CHECK(eventually_get(ha, "/users/alice/presence", [](int status, const json& body) {
    return status == 200 && body["online"] == false;
  }));
  post(ha, "/notify", seed003("carol", "relayed", "bob", "private"));

  std::vector<std::string> channels;
  while (channels.empty() || channels.back() != "herald:instance:b") {
    const json m = watch.receive(std::chrono::seconds(10));
    REQUIRE_MESSAGE((m.is_array() && m.size() == 4 && m[0] == "pmessage"), m.dump());
    channels.push_back(m[2].get<std::string>());
  }
  for (const std::string& c : channels) CHECK(c != "herald:presence");
}

#endif  // HERALD_SERVER_WITH_REDIS
