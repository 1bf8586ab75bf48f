// End to end: herald-server --ingest consuming a Redis Stream (docs/operations.md, "Durable
// ingest"): entries added while herald is down, a malformed entry, a consumer killed with
// -9 while another one of the group goes on, and Redis killed with -9 (AOF, fsync always)
// and restarted under the ingest. Every test runs its own redis-server and herald-servers.

#include <doctest/doctest.h>

#ifdef HERALD_SERVER_WITH_REDIS

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "support/redis_client.hpp"
#include "server_process.hpp"
#include "support/redis_server.hpp"
#ifdef HERALD_SERVER_WITH_POSTGRES
#include "pg_server.hpp"
#endif

using namespace herald::server::test;
using herald::test::RedisClient;
using herald::test::RedisServer;

namespace {

const std::string kStream = "notifications";

std::string note(const std::string& user, int n) {
  return R"({"to":{"users":[")" + user + R"("]},"type":"t","data":{"n":)" + std::to_string(n) +
         "}}";
}

std::string user_of(int n) { return "u" + std::to_string(n % 10); }

// XADDs entries n = first … first+count-1 (to user_of(n)), pipelined in batches.
void produce(RedisClient& r, int first, int count) {
  std::vector<std::vector<std::string>> batch;
  for (int n = first; n < first + count; ++n) {
    batch.push_back({"XADD", kStream, "*", "body", note(user_of(n), n)});
    if (batch.size() == 1000 || n + 1 == first + count) {
      r.pipeline(batch);
      batch.clear();
    }
  }
}

std::vector<std::string> ingest_args(const RedisServer& redis, std::vector<std::string> extra) {
  std::vector<std::string> args{"--ingest", redis.url() + "/" + kStream, "--rate-limit", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Asks until `ok()` holds, at most `limit`.
bool eventually(const std::function<bool()>& ok, Millis limit = Millis(30'000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!ok()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(Millis(50));
  }
  return true;
}

// Every `data.n` in the user's inbox (all pages), as a multiset: duplicates show.
std::multiset<int> stored_ns(HttpClient& h, const std::string& user) {
  std::multiset<int> out;
  std::string before;
  for (;;) {
    json page = get(h, "/users/" + user + "/notifications?limit=500" + before);
    if (!page.is_object()) break;
    for (const json& item : page["items"]) out.insert(item["data"]["n"].get<int>());
    if (page["nextBefore"].is_null()) break;
    before = "&before=" + std::to_string(page["nextBefore"].get<std::uint64_t>());
  }
  return out;
}

std::multiset<int> stored_ns_all(HttpClient& h) {
  std::multiset<int> all;
  for (int u = 0; u < 10; ++u) {
    std::multiset<int> one = stored_ns(h, "u" + std::to_string(u));
    all.insert(one.begin(), one.end());
  }
  return all;
}

std::size_t duplicates(const std::multiset<int>& ns) {
  return ns.size() - std::set<int>(ns.begin(), ns.end()).size();
}

long long xpending_total(RedisClient& r) {
  json p = r.command({"XPENDING", kStream, "herald"});
  return p.is_array() && p[0].is_number() ? p[0].get<long long>() : -1;
}

// The group's lag (XINFO GROUPS, Redis 7); -1 when unknown.
long long group_lag(RedisClient& r) {
  json groups = r.command({"XINFO", "GROUPS", kStream});
  if (!groups.is_array()) return -1;
  for (const json& g : groups) {
    bool ours = false;
    long long lag = -1;
    for (std::size_t i = 0; i + 1 < g.size(); i += 2) {
      if (g[i] == "name") ours = g[i + 1] == "herald";
      if (g[i] == "lag" && g[i + 1].is_number()) lag = g[i + 1].get<long long>();
    }
    if (ours) return lag;
  }
  return -1;
}

// Nothing left to deliver, nothing delivered and not acknowledged.
bool drained(RedisClient& r) { return group_lag(r) == 0 && xpending_total(r) == 0; }

// n of every entry in the stream, by entry id.
std::map<std::string, int> ns_by_id(RedisClient& r) {
  std::map<std::string, int> out;
  json entries = r.command({"XRANGE", kStream, "-", "+"});
  for (const json& e : entries) {
    const json body = json::parse(e[1][1].get<std::string>());
    out[e[0].get<std::string>()] = body["data"]["n"].get<int>();
  }
  return out;
}

}  // namespace

TEST_CASE("ingest: a malformed --ingest URL is a startup error naming the flag") {
  ServerProcess no_stream({"--ingest", "redis://127.0.0.1:6379"}, false);
  CHECK(no_stream.wait(Millis(5000)) == 2);
  CHECK(no_stream.log().find("--ingest: 'redis://127.0.0.1:6379': no stream name") !=
        std::string::npos);
  ServerProcess scheme({"--ingest", "http://127.0.0.1/s"}, false);
  CHECK(scheme.wait(Millis(5000)) == 2);
  CHECK(scheme.log().find("--ingest: 'http://127.0.0.1/s': expected redis://") != std::string::npos);
  ServerProcess port({"--ingest", "redis://127.0.0.1:99999/s"}, false);
  CHECK(port.wait(Millis(5000)) == 2);
  CHECK(port.log().find("--ingest: ") != std::string::npos);
}

TEST_CASE("ingest: 10000 entries added while herald is stopped are all stored and delivered once it starts") {
  RedisServer redis;
  RedisClient r(redis.port());
  produce(r, 0, 10'000);

  ServerProcess s(ingest_args(redis, {"--instance-id", "solo"}));
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("event=ingest_started") != std::string::npos);
  HttpClient h(s.port());

  // u0's 1,000 over WebSocket (backlog and live), acknowledged as they come.
  auto u0 = session(s.port(), "userId=u0", nullptr);
  std::multiset<int> received;
  const auto until = std::chrono::steady_clock::now() + Millis(60'000);
  while (received.size() < 1000 && std::chrono::steady_clock::now() < until) {
    std::vector<json> got = notes(*u0, "inbox:u0", 100, Millis(1000));
    for (const json& f : got) received.insert(f["data"]["n"].get<int>());
    if (!got.empty())
      u0->send_text(R"({"op":"ack","seq":)" + std::to_string(got.back()["seq"].get<std::uint64_t>()) + "}");
  }
  CHECK(received.size() == 1000);
  CHECK(duplicates(received) == 0);
  CHECK(std::all_of(received.begin(), received.end(), [](int n) { return n % 10 == 0; }));

  for (int u = 0; u < 10; ++u) {
    const std::string user = "u" + std::to_string(u);
    CHECK_MESSAGE(eventually([&] {
                    return get(h, "/users/" + user + "/unread-count")["unread"] == 1000;
                  }),
                  user);
  }
  const std::multiset<int> stored = stored_ns_all(h);
  CHECK(stored.size() == 10'000);
  CHECK(duplicates(stored) == 0);
  CHECK(eventually([&] { return drained(r); }));
  CHECK(eventually([&] {
    return metric(h, "herald_ingest_acked_total") == 10'000 &&
           metric(h, "herald_ingest_pending") == 0 && metric(h, "herald_ingest_lag") == 0;
  }));
  CHECK(metric(h, "herald_ingest_consumed_total") == 10'000);
  CHECK(metric(h, "herald_ingest_dead_lettered_total") == 0);
  CHECK(s.stop(SIGTERM) == 0);
  CHECK(s.log().find("event=ingest_stopped") != std::string::npos);
}

TEST_CASE("ingest: a malformed entry goes to the dead-letter stream with its reason and does not block the next ones") {
  RedisServer redis;
  RedisClient r(redis.port());
  ServerProcess s(ingest_args(redis, {}));
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());

  produce(r, 0, 5);  // to u0 … u4
  const std::string bad_json = r.command({"XADD", kStream, "*", "body", "not json"}).get<std::string>();
  const std::string no_body = r.command({"XADD", kStream, "*", "other", "x"}).get<std::string>();
  const std::string no_type =
      r.command({"XADD", kStream, "*", "body", R"({"to":{"users":["u0"]},"data":{}})"}).get<std::string>();
  // The seed-003 form is read like POST /notify's.
  r.command({"XADD", kStream, "*", "body",
             R"({"userId":"bob","message":"seed","target":"u5","type":"private"})"});
  produce(r, 6, 4);  // to u6 … u9

  CHECK(eventually([&] { return r.command({"XLEN", kStream + ":dead"}) == 3; }));
  // Each dead letter by its original entry id: fields reason, entry, consumer, then the
  // original ones (the order among them follows when each failure was found).
  std::map<std::string, std::map<std::string, std::string>> dead;
  for (const json& e : r.command({"XRANGE", kStream + ":dead", "-", "+"})) {
    std::map<std::string, std::string> fields;
    for (std::size_t i = 0; i + 1 < e[1].size(); i += 2)
      fields.emplace(e[1][i].get<std::string>(), e[1][i + 1].get<std::string>());
    dead[fields["entry"]] = fields;
  }
  REQUIRE(dead.size() == 3);
  REQUIRE(dead.count(bad_json) == 1);
  REQUIRE(dead.count(no_body) == 1);
  REQUIRE(dead.count(no_type) == 1);
  CHECK(dead[bad_json]["reason"].find("malformed JSON") != std::string::npos);
  CHECK(dead[bad_json]["body"] == "not json");
  CHECK(dead[no_body]["reason"] == "no field 'body'");
  CHECK(dead[no_body]["other"] == "x");
  CHECK(dead[no_type]["reason"].find("type") != std::string::npos);
  CHECK(dead[no_type]["consumer"].rfind("herald-", 0) == 0);  // the instance id

  // Every valid entry, before and after the bad ones, is stored.
  for (int u = 0; u < 10; ++u) {
    const std::string user = "u" + std::to_string(u);
    CHECK_MESSAGE(eventually([&] {
                    return get(h, "/users/" + user + "/unread-count")["unread"] == 1;
                  }),
                  user);
  }
  CHECK(get(h, "/users/u5/notifications")["items"][0]["data"]["message"] == "seed");
  CHECK(eventually([&] { return drained(r); }));
  CHECK(eventually([&] { return metric(h, "herald_ingest_dead_lettered_total") == 3; }));
  CHECK(metric(h, "herald_ingest_acked_total") == 10);
}

// Two instances consume one stream as one group; instance a is frozen with entries
// delivered to it and not acknowledged, then killed with -9. Instance b must claim them
// (XAUTOCLAIM after --ingest-claim-idle) and the stream must drain.
//
// What "exactly once" is checked against:
// - With the PostgreSQL store in the build, both instances share it: every entry of the
//   stream is in the store exactly once — those a stored before it died (acknowledged or
//   not: a may have stored an entry and died before its XACK; b's claim publishes it again
//   with the same idempotency key, the entry id, and the store answers a duplicate).
// - Without it, each instance has its own memory store, and a's dies with it. Then: the
//   entries pending in a at the kill (XPENDING … a) are all in b's store; b's store has no
//   entry twice (a claimed entry is published again under its entry id); and every entry
//   of the stream was acknowledged (XPENDING 0, lag 0), which ingest does only after a
//   store reported it stored. Whether a stored a claimed entry before it died cannot be
//   seen with per-instance stores: that half is the PostgreSQL variant's.
TEST_CASE("ingest: kill -9 of one of two consumers: the survivor claims its pending entries") {
  RedisServer redis;
  RedisClient r(redis.port());
  std::vector<std::string> common{"--ingest-claim-idle", "1"};
#ifdef HERALD_SERVER_WITH_POSTGRES
  herald::postgres::test::PgServer postgres;
  common.insert(common.end(), {"--postgres", postgres.url()});
#endif
  auto args = [&](const char* id) {
    std::vector<std::string> extra = common;
    extra.insert(extra.end(), {"--instance-id", id});
    return ingest_args(redis, extra);
  };
  ServerProcess a(args("a"));
  ServerProcess b(args("b"));
  REQUIRE_MESSAGE(a.port() != 0, a.log());
  REQUIRE_MESSAGE(b.port() != 0, b.log());
  HttpClient ha(a.port());
  HttpClient hb(b.port());

  int produced = 0;
  produce(r, produced, 5000);
  produced += 5000;
  CHECK(eventually([&] { return metric(ha, "herald_ingest_acked_total") > 0; }));

  // Freeze a: what Redis hands it now (its blocked XREADGROUP is served) stays pending.
  a.signal(SIGSTOP);
  json pending_a;
  for (int round = 0; round < 20; ++round) {
    produce(r, produced, 500);
    produced += 500;
    pending_a = r.command({"XPENDING", kStream, "herald", "-", "+", "100000", "a"});
    if (pending_a.is_array() && !pending_a.empty()) break;
  }
  REQUIRE_MESSAGE(pending_a.size() > 0, "no entry pending in consumer a");
  CHECK(a.stop(SIGKILL) == 128 + SIGKILL);
  MESSAGE(pending_a.size() << " entries were pending in a when it was killed");

  produce(r, produced, 2000);  // b goes on with new entries meanwhile
  produced += 2000;
  CHECK(eventually([&] { return drained(r); }, Millis(60'000)));
  CHECK(eventually([&] { return metric(hb, "herald_ingest_claimed_total") > 0; }));

  const std::map<std::string, int> n_of = ns_by_id(r);
  REQUIRE(n_of.size() == static_cast<std::size_t>(produced));
  const std::multiset<int> in_b = stored_ns_all(hb);
  CHECK(duplicates(in_b) == 0);
  std::size_t claimed_stored = 0;
  for (const json& p : pending_a) claimed_stored += in_b.count(n_of.at(p[0].get<std::string>()));
  CHECK(claimed_stored == pending_a.size());
#ifdef HERALD_SERVER_WITH_POSTGRES
  CHECK(in_b.size() == static_cast<std::size_t>(produced));  // the shared store: all, once
#else
  CHECK(in_b.size() < static_cast<std::size_t>(produced));  // a stored (and acked) the rest
#endif
}

// Redis with AOF and fsync on every write is killed with -9 while herald ingests, and
// restarted on the same port and directory: every entry whose XADD was answered is stored
// exactly once (a lost XACK means a redelivery, which the idempotency key absorbs).
TEST_CASE("ingest: Redis killed with -9 and restarted from its AOF during ingest loses nothing it kept") {
  RedisServer redis({"--appendonly", "yes", "--appendfsync", "always"});
  int produced = 0;
  {
    RedisClient r(redis.port());
    produce(r, 0, 20'000);
    produced = 20'000;
  }
  ServerProcess s(ingest_args(redis, {"--ingest-claim-idle", "1"}));
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  CHECK(eventually([&] { return metric(h, "herald_ingest_acked_total") > 0; }));
  const long long acked_before = metric(h, "herald_ingest_acked_total");
  redis.restart();  // SIGKILL, then the same port and directory: the AOF is replayed
  MESSAGE("Redis killed after " << acked_before << " of 20000 entries were acknowledged");

  RedisClient r(redis.port());
  CHECK(r.command({"XLEN", kStream}) == 20'000);  // every answered XADD survived
  produce(r, produced, 2000);
  produced += 2000;
  CHECK(eventually([&] { return drained(r); }, Millis(60'000)));
  const std::multiset<int> stored = stored_ns_all(h);
  CHECK(stored.size() == static_cast<std::size_t>(produced));
  CHECK(duplicates(stored) == 0);
  CHECK(eventually([&] { return metric(h, "herald_ingest_connected") == 1; }));
}

#endif  // HERALD_SERVER_WITH_REDIS
