// End to end: several herald-server processes on one private Redis and one private
// PostgreSQL act as one service — delivery across instances, an instance killed with -9,
// Redis restarted under a steady publish load, and an nginx front (seed 000).

#include <doctest/doctest.h>

#if defined(HERALD_SERVER_WITH_REDIS) && defined(HERALD_SERVER_WITH_POSTGRES)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "support/nginx.hpp"
#include "pg_server.hpp"
#include "support/redis_server.hpp"

using namespace herald::server::test;
using herald::test::Nginx;
using PostgresServer = herald::postgres::test::PgServer;
using herald::test::RedisServer;

namespace {

// Redis, PostgreSQL and `n` herald-server instances named a, b, c, … on both.
class Cluster {
 public:
  explicit Cluster(int n, std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    for (int i = 0; i < n; ++i) start(i);
  }

  ServerProcess& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  std::uint16_t port(int i) { return node(i).port(); }
  HttpClient& http(int i) {
    auto& h = http_[i];
    if (!h) h = std::make_unique<HttpClient>(port(i));
    return *h;
  }
  /// (Re)starts instance i (its name stays: "a" + i).
  void start(int i) {
    std::vector<std::string> args{"--redis", redis.url(), "--postgres", postgres.url(),
                                  "--instance-id", std::string(1, static_cast<char>('a' + i)),
                                  "--rate-limit", "0"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    if (nodes_.size() <= static_cast<std::size_t>(i)) nodes_.resize(static_cast<std::size_t>(i) + 1);
    http_.erase(i);
    nodes_[static_cast<std::size_t>(i)] = std::make_unique<ServerProcess>(args);
    REQUIRE_MESSAGE(port(i) != 0, node(i).log());
  }

  RedisServer redis;
  PostgresServer postgres;

 private:
  std::vector<std::string> extra_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
  std::map<int, std::unique_ptr<HttpClient>> http_;
};

json native_to_user(const std::string& user, const std::string& text) {
  return {{"to", {{"users", {user}}}}, {"type", "message"}, {"data", {{"text", text}}}};
}


// Reads `n` notifications of the user's inbox, acking as it goes (the ack window is bounded:
// a client that never acks stops receiving after EngineOptions::max_unacked entries).
std::vector<json> acked_notes(WsClient& c, const std::string& user, std::size_t n, Millis timeout) {
  std::vector<json> out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < until) {
    auto some = notes(c, "inbox:" + user, std::min<std::size_t>(n - out.size(), 64),
                      std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now()));
    if (some.empty()) break;
    c.send_text(R"({"op":"ack","seq":)" + std::to_string(some.back()["seq"].get<std::uint64_t>()) + "}");
    out.insert(out.end(), some.begin(), some.end());
  }
  return out;
}

// Runs `sql` with psql on the cluster's PostgreSQL; returns its unaligned, tuples-only output
// (fields separated by '|'), without the final newline.
std::string psql(const PostgresServer& pg, const std::string& sql) {
  std::string out;
  const int rc = herald::postgres::test::run_as_postgres(
      "psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(pg.port()) +
          " -U postgres -d postgres -c \"" + sql + "\"",
      &out);
  REQUIRE_MESSAGE(rc == 0, "psql failed: " << out);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<std::string> texts(const std::vector<json>& notes) {
  std::vector<std::string> out;
  for (const json& n : notes) out.push_back(n["data"]["text"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("three instances on one Redis and PostgreSQL deliver across instances") {
  Cluster c(3);
  auto bob = session(c.port(1), "userId=bob", nullptr);
  bob->send_text(R"({"op":"subscribe","topic":"room:7","rid":"r"})");
  CHECK(bob->next_op("subscribed")["rid"] == "r");
  auto alice_a = session(c.port(0), "userId=alice", nullptr);
  auto alice_c = session(c.port(2), "userId=alice", nullptr);
  REQUIRE(c.http(0).request("PUT", "/users/bob/subscriptions/carol").status == 200);

  // Published through a, received on b: private, room, broadcast, followers.
  post(c.http(0), "/notify", native_to_user("bob", "private"));
  CHECK(texts(notes(*bob, "inbox:bob", 1)) == std::vector<std::string>{"private"});
  post(c.http(0), "/notify", seed003("x", "room", 7, "room"));
  CHECK(notes(*bob, "topic:room:7", 1).size() == 1);
  post(c.http(0), "/notify", seed003("x", "everyone", nullptr, "broadcast"));
  CHECK(notes(*bob, "topic:$broadcast", 1).size() == 1);
  CHECK(notes(*alice_a, "topic:$broadcast", 1).size() == 1);
  CHECK(notes(*alice_c, "topic:$broadcast", 1).size() == 1);
  post(c.http(0), "/notify",
       {{"to", {{"followersOf", "carol"}}}, {"type", "post"}, {"data", {{"text", "followers"}}}});
  CHECK(texts(notes(*bob, "inbox:bob", 1)) == std::vector<std::string>{"followers"});

  // One user with sessions on a and c receives on both.
  post(c.http(1), "/notify", native_to_user("alice", "twice"));
  CHECK(texts(notes(*alice_a, "inbox:alice", 1)) == std::vector<std::string>{"twice"});
  CHECK(texts(notes(*alice_c, "inbox:alice", 1)) == std::vector<std::string>{"twice"});

  // Presence is the same on every instance.
  for (int i = 0; i < 3; ++i) {
    json p = get(c.http(i), "/users/alice/presence");
    std::multiset<std::string> where;
    for (const json& s : p["sessions"]) where.insert(s["instance"].get<std::string>());
    CHECK(where == std::multiset<std::string>{"a", "c"});
  }
}

TEST_CASE("an instance killed with -9: its sessions expire, users resume elsewhere with no loss") {
  Cluster c(3, {"--registry-ttl", "1"});
  json welcome;
  auto dan = session(c.port(1), "userId=dan", &welcome);
  const std::string epoch = welcome["epoch"].get<std::string>();
  for (int i = 1; i <= 3; ++i) post(c.http(0), "/notify", native_to_user("dan", std::to_string(i)));
  auto first = notes(*dan, "inbox:dan", 3);
  REQUIRE(first.size() == 3);
  dan->send_text(R"({"op":"ack","seq":2})");  // seq 3 seen but not acked

  CHECK(c.node(1).stop(SIGKILL) == 128 + SIGKILL);
  dan.reset();
  for (int i = 4; i <= 6; ++i) post(c.http(0), "/notify", native_to_user("dan", std::to_string(i)));
  CHECK(eventually_get(c.http(0), "/users/dan/presence", [](int status, const json& body) {
    return status == 200 && body["online"] == false;
  }));

  // Resume on c after the last seq the client saw: 4, 5, 6 exactly once, in order.
  auto back = session(c.port(2), "userId=dan&since=3&epoch=" + epoch, nullptr);
  auto rest = notes(*back, "inbox:dan", 3);
  CHECK(texts(rest) == std::vector<std::string>{"4", "5", "6"});
  CHECK(seqs_of(rest) == std::vector<std::uint64_t>{4, 5, 6});
  CHECK(back->next_op("notification", Millis(300)).is_null());
}

TEST_CASE("Redis restarted under a steady publish load: every stored notification arrives once, in order") {
  Cluster c(2, {"--ack-timeout", "30"});
  auto erin = session(c.port(1), "userId=erin", nullptr);
  std::vector<std::string> accepted;
  constexpr int kCount = 300;  // 100/s for 3 s, Redis restarted after 1 s
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) {
    if (i == 100) c.redis.restart();
    std::this_thread::sleep_until(start + Millis(10 * i));  // pacing, not synchronisation
    auto r = c.http(0).request("POST", "/notify", native_to_user("erin", std::to_string(i)).dump());
    if (r.status == 202) accepted.push_back(std::to_string(i));
  }
  MESSAGE(accepted.size() << " of " << kCount << " publishes accepted (202)");
  REQUIRE(accepted.size() >= kCount / 2);  // the store is PostgreSQL: Redis does not gate 202
  auto got = acked_notes(*erin, "erin", accepted.size(), Millis(20'000));
  CHECK(got.size() == accepted.size());
  const std::vector<std::string> received = texts(got);
  const auto first_difference =
      std::mismatch(received.begin(), received.end(), accepted.begin(), accepted.end());
  CHECK_MESSAGE(received == accepted,
                "first difference at index " << (first_difference.first - received.begin()));
  std::vector<std::uint64_t> expected;
  for (std::size_t i = 1; i <= accepted.size(); ++i) expected.push_back(i);
  CHECK(seqs_of(got) == expected);
  CHECK(erin->next_op("notification", Millis(300)).is_null());
}

TEST_CASE("through an nginx ip_hash front, a client receives what either instance publishes") {
  Cluster c(2);
  Nginx front({c.port(0), c.port(1)});
  auto fay = session(front.port(), "userId=fay", nullptr);
  post(c.http(0), "/notify", native_to_user("fay", "via a"));
  post(c.http(1), "/notify", native_to_user("fay", "via b"));
  std::vector<std::string> got = texts(notes(*fay, "inbox:fay", 2));
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"via a", "via b"});
  // REST through the front too, over one keep-alive connection.
  HttpClient through(front.port());
  for (int i = 0; i < 5; ++i) post(through, "/notify", native_to_user("fay", "front"));
  CHECK(notes(*fay, "inbox:fay", 5).size() == 5);
  CHECK(get(through, "/users/fay/unread-count")["unread"] == 7);
}

TEST_CASE("every instance restarted: the offline backlog arrives complete, in order, once") {
  Cluster c(2);
  for (int i = 1; i <= 5; ++i) post(c.http(0), "/notify", native_to_user("gil", std::to_string(i)));
  CHECK(c.http(1).request("POST", "/users/gil/notifications/read", R"({"ids":[2]})").status == 200);
  for (int i = 0; i < 2; ++i) {
    CHECK(c.node(i).stop(SIGTERM) == 0);
    c.start(i);
  }
  auto gil = session(c.port(1), "userId=gil", nullptr);
  auto got = notes(*gil, "inbox:gil", 5);
  CHECK(texts(got) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(seqs_of(got) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(gil->next_op("notification", Millis(300)).is_null());
  CHECK(get(c.http(0), "/users/gil/unread-count")["unread"] == 4);
  json page = get(c.http(0), "/users/gil/notifications?limit=10");
  std::map<std::uint64_t, bool> read;
  for (const json& n : page["items"]) read[n["seq"].get<std::uint64_t>()] = n["read"].get<bool>();
  CHECK(read == std::map<std::uint64_t, bool>{{1, false}, {2, true}, {3, false}, {4, false}, {5, false}});
}

TEST_CASE("PostgreSQL killed under a steady publish load: every 202 is stored and delivered") {
  Cluster c(2, {"--ack-timeout", "30"});
  auto hal = session(c.port(1), "userId=hal", nullptr);
  std::vector<std::string> accepted;
  int failed = 0;
  constexpr int kCount = 240;  // 80/s for 3 s; PostgreSQL down from the 1st to the 2nd second
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) {
    if (i == 80) c.postgres.kill();
    if (i == 160) c.postgres.start();
    std::this_thread::sleep_until(start + Millis(12 * i));  // pacing, not synchronisation
    auto r = c.http(0).request("POST", "/notify", native_to_user("hal", std::to_string(i)).dump());
    if (r.status == 202) {
      accepted.push_back(std::to_string(i));
    } else {
      CHECK_MESSAGE(r.status == 503, r.status << " " << r.body);
      ++failed;
    }
  }
  MESSAGE(accepted.size() << " accepted, " << failed << " refused with 503");
  CHECK(failed > 0);
  REQUIRE(accepted.size() >= 100);
  auto got = acked_notes(*hal, "hal", accepted.size(), Millis(20'000));
  CHECK(texts(got) == accepted);
  std::vector<std::uint64_t> expected;
  for (std::size_t i = 1; i <= accepted.size(); ++i) expected.push_back(i);
  CHECK(seqs_of(got) == expected);  // nothing half-written: refused publishes took no seq
}

TEST_CASE("follower fan-out to 100,000 subscribers writes every inbox once without blocking other traffic (other users keep receiving meanwhile)") {
  constexpr int kFollowers = 100'000;
  Cluster c(2);
  // The followers f0000001 … f0100000 of "star", bulk-loaded into herald's schema (made by
  // the instances' migrations); one of them is connected to b, as is pat (no follower).
  psql(c.postgres, "INSERT INTO herald.subscriptions (topic, user_id) SELECT 'star', 'f' || "
                   "lpad(g::text, 7, '0') FROM generate_series(1, " +
                       std::to_string(kFollowers) + ") g");
  REQUIRE(psql(c.postgres, "SELECT count(*) FROM herald.subscriptions WHERE topic = 'star'") ==
          std::to_string(kFollowers));
  auto follower = session(c.port(1), "userId=f0004242", nullptr);
  auto pat = session(c.port(1), "userId=pat", nullptr);

  // The fan-out, published through a: its answer comes once every inbox is written.
  std::atomic<bool> fanned_out{false};
  HttpClient fan_http(c.port(0));
  HttpClient::Reply fan_reply;
  std::thread fan([&] {
    fan_reply = fan_http.request(
        "POST", "/notify",
        json{{"to", {{"followersOf", "star"}}}, {"type", "post"}, {"data", {{"text", "fan"}}}}.dump(),
        {}, Millis(60'000));
    fanned_out = true;
  });

  // Meanwhile: private notifications to pat through a, one after another, each awaited.
  std::vector<std::string> sent;
  std::vector<json> got;
  std::vector<double> latency_ms;
  std::size_t during = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(45);
  while ((sent.empty() || !fanned_out) && sent.size() < 10'000 && std::chrono::steady_clock::now() < until) {
    sent.push_back("p" + std::to_string(sent.size()));
    const auto t0 = std::chrono::steady_clock::now();
    post(c.http(0), "/notify", native_to_user("pat", sent.back()));
    auto one = notes(*pat, "inbox:pat", 1, Millis(10'000));
    if (one.empty()) break;
    // Acked as it goes: a session stops receiving at EngineOptions::max_unacked (256).
    pat->send_text(R"({"op":"ack","seq":)" + std::to_string(one.front()["seq"].get<std::uint64_t>()) + "}");
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    got.push_back(one.front());
    if (!fanned_out) ++during;
  }
  fan.join();
  REQUIRE_MESSAGE(fan_reply.status == 202, fan_reply.status << " " << fan_reply.body);
  CHECK(json::parse(fan_reply.body)["recipients"] == kFollowers);
  CHECK(texts(got) == sent);  // every one arrived, in order
  std::vector<std::uint64_t> expected;
  for (std::size_t i = 1; i <= sent.size(); ++i) expected.push_back(i);
  CHECK(seqs_of(got) == expected);
  std::sort(latency_ms.begin(), latency_ms.end());
  std::ostringstream lat;
  if (!latency_ms.empty()) {
    lat << "p50 " << latency_ms[latency_ms.size() / 2] << " ms, max " << latency_ms.back() << " ms";
  }
  MESSAGE(sent.size() << " private notifications published and received one by one while the "
                      << "fan-out ran (" << during << " completed before its answer); publish-to-"
                      << "receive latency " << lat.str());

  // The connected follower received it live; every inbox holds it exactly once.
  auto live = notes(*follower, "inbox:f0004242", 1, Millis(30'000));
  REQUIRE(live.size() == 1);
  CHECK(live.front()["data"]["text"] == "fan");
  CHECK(live.front()["seq"] == 1);
  CHECK(psql(c.postgres,
             "SELECT count(*) FILTER (WHERE n = 1), count(*), sum(n) FROM ("
             "SELECT sub.user_id, count(e.seq) AS n FROM herald.subscriptions sub "
             "LEFT JOIN herald.streams s ON s.name = 'inbox:' || sub.user_id "
             "LEFT JOIN herald.entries e ON e.stream_id = s.id "
             "WHERE sub.topic = 'star' GROUP BY sub.user_id) AS t") ==
        "100000|100000|100000");
  CHECK(psql(c.postgres,
             "SELECT count(DISTINCT e.notification_id), min(e.seq), max(e.seq), max(s.head) "
             "FROM herald.entries e JOIN herald.streams s ON s.id = e.stream_id "
             "WHERE s.name LIKE 'inbox:f%'") == "1|1|1|1");
}

#endif  // HERALD_SERVER_WITH_REDIS && HERALD_SERVER_WITH_POSTGRES
