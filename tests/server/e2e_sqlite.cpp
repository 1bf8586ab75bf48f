// End to end: herald-server's durable default, the SQLite store. A server killed with
// SIGKILL in the middle of publishing loses nothing it answered 202 for and stores nothing
// twice; read state, subscriptions and ack cursors survive a restart, and a client resumes
// across it without a reset. And --redis with a store only one instance sees is refused.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "support/temp_dir.hpp"

using namespace herald::server::test;
using herald::test::TempDir;

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

#ifdef HERALD_SERVER_WITH_SQLITE

namespace {

// Every entry of the user's inbox, oldest first (through the REST pages).
std::vector<json> inbox(HttpClient& h, const std::string& user) {
  std::vector<json> out;
  std::string before;
  for (;;) {
    json page = get(h, "/users/" + user + "/notifications?limit=500" +
                           (before.empty() ? "" : "&before=" + before));
    for (const json& item : page["items"]) out.insert(out.begin(), item);
    if (page["nextBefore"].is_null()) return out;
    before = std::to_string(page["nextBefore"].get<std::uint64_t>());
  }
}

json to_user(const std::string& user, int i) {
  return {{"to", {{"users", {user}}}}, {"type", "n"}, {"data", {{"i", i}}}};
}

}  // namespace

TEST_CASE("SQLite store - a publish answered 202 survives kill -9 of the server, stored once") {
  TempDir dir;
  const std::string store = "sqlite:" + dir.path() + "/herald.db";
  constexpr int kPublishes = 500;
  auto first = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--store", store, "--rate-limit", "0"});
  REQUIRE_MESSAGE(first->port() != 0, first->log());
  CHECK(first->log().find("backends=\"store=" + store) != std::string::npos);
  auto reader = session(first->port(), "userId=ann", nullptr);  // a live consumer meanwhile

  // A publisher thread; the test kills the server once a fifth of the publishes were answered.
  std::mutex mutex;
  std::condition_variable progress;
  std::vector<int> accepted;  // i of every publish answered 202
  bool finished = false;
  std::thread publisher([&, port = first->port()] {
    HttpClient h(port);
    for (int i = 0; i < kPublishes; ++i) {
      const auto r = h.request("POST", "/notify", to_user("ann", i).dump());
      std::lock_guard<std::mutex> lock(mutex);
      if (r.status != 202) break;  // the server is gone
      accepted.push_back(i);
      progress.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
    progress.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mutex);
    progress.wait(lock, [&] { return finished || accepted.size() >= kPublishes / 5; });
  }
  first->signal(SIGKILL);
  CHECK(first->wait(Millis(5000)) == 128 + SIGKILL);
  publisher.join();
  reader.reset();
  CHECK(accepted.size() >= kPublishes / 5);
  CHECK(accepted.size() < kPublishes);  // killed mid-publish, not after

  ServerProcess second({"--store", store, "--rate-limit", "0"});
  REQUIRE_MESSAGE(second.port() != 0, second.log());
  HttpClient h(second.port());
  const std::vector<json> items = inbox(h, "ann");
  std::map<int, int> times;  // i -> entries holding it
  std::set<std::string> ids;
  std::uint64_t expected_seq = 1;
  bool gap_free = true;
  for (const json& item : items) {
    ++times[item["data"]["i"].get<int>()];
    ids.insert(item["id"].get<std::string>());
    gap_free = gap_free && item["seq"].get<std::uint64_t>() == expected_seq++;
  }
  int lost = 0;
  for (int i : accepted) lost += times.count(i) == 0 ? 1 : 0;
  CHECK(lost == 0);
  CHECK(ids.size() == items.size());  // no notification twice
  for (const auto& [i, n] : times) CHECK_MESSAGE(n == 1, "publish " << i << " stored " << n << " times");
  // At most the publish in flight at the kill is stored without its 202.
  CHECK(items.size() >= accepted.size());
  CHECK(items.size() <= accepted.size() + 1);
  CHECK(gap_free);
  // Publishing goes on where it stopped.
  post(h, "/notify", to_user("ann", kPublishes));
  CHECK(inbox(h, "ann").back()["seq"] == items.size() + 1);
}

TEST_CASE("SQLite store - /metrics shows the WAL and who copied it, other stores show none") {
  TempDir dir;
  ServerProcess s({"--store", "sqlite:" + dir.path() + "/herald.db", "--rate-limit", "0"});
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  for (int i = 0; i < 20; ++i) post(h, "/notify", to_user("mia", i));
  const std::string metrics = h.request("GET", "/metrics").body;
  // Twenty commits wrote pages into the WAL; nothing reached the 1,000 of a checkpoint yet.
  const auto at = metrics.find("\nherald_sqlite_wal_frames ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoull(metrics.substr(at + 26)) > 0);
  for (const char* line : {"herald_sqlite_wal_rewinds_total 0\n",
                           "herald_sqlite_checkpoints_total{thread=\"checkpointer\"} 0\n",
                           "herald_sqlite_checkpoints_total{thread=\"writer\"} 0\n",
                           "herald_sqlite_checkpointed_frames_total{thread=\"checkpointer\"} 0\n",
                           "herald_sqlite_checkpointed_frames_total{thread=\"writer\"} 0\n"}) {
    CHECK_MESSAGE(metrics.find(line) != std::string::npos, line);
  }
  CHECK(s.stop() == 0);

  ServerProcess memory({});
  REQUIRE_MESSAGE(memory.port() != 0, memory.log());
  HttpClient m(memory.port());
  CHECK(m.request("GET", "/metrics").body.find("herald_sqlite_") == std::string::npos);
  CHECK(memory.stop() == 0);
}

TEST_CASE("SQLite store - read state, subscriptions and the ack cursor survive a kill -9, and a client resumes without reset") {
  TempDir dir;
  const std::vector<std::string> args{"--store", "sqlite:" + dir.path() + "/herald.db"};
  std::string epoch;
  {
    ServerProcess s(args);
    REQUIRE_MESSAGE(s.port() != 0, s.log());
    HttpClient h(s.port());
    for (int i = 1; i <= 3; ++i) post(h, "/notify", to_user("bob", i));
    json welcome;
    auto bob = session(s.port(), "userId=bob", &welcome);
    epoch = welcome["epoch"].get<std::string>();
    REQUIRE(seqs_of(notes(*bob, "inbox:bob", 3)) == std::vector<std::uint64_t>{1, 2, 3});
    bob->send_text(R"({"op":"ack","seq":2})");
    CHECK(post(h, "/users/bob/notifications/read", {{"ids", {1}}}, 200)["updated"] == 1);
    CHECK(h.request("PUT", "/users/bob/subscriptions/news").status == 200);
    // The ack cursor is written asynchronously: stored once a new session starts after it.
    bool stored = false;
    for (int attempt = 0; attempt < 100 && !stored; ++attempt) {
      json w;
      auto probe = session(s.port(), "userId=bob", &w);
      stored = w["cursor"] == 2;
    }
    REQUIRE(stored);
    s.signal(SIGKILL);
    CHECK(s.wait(Millis(5000)) == 128 + SIGKILL);
  }

  ServerProcess s(args);
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  HttpClient h(s.port());
  json page = get(h, "/users/bob/notifications");
  CHECK(page["epoch"] == epoch);
  CHECK(page["head"] == 3);
  CHECK(page["unread"] == 2);
  REQUIRE(page["items"].size() == 3);
  CHECK(page["items"][2]["seq"] == 1);
  CHECK(page["items"][2]["read"] == true);
  CHECK(page["items"][1]["read"] == false);
  CHECK(get(h, "/users/bob/subscriptions")["topics"] == json::array({"news"}));

  // Without since: the stored ack cursor; the backlog is what was not acked.
  json welcome;
  auto plain = session(s.port(), "userId=bob", &welcome);
  CHECK(welcome["epoch"] == epoch);
  CHECK(welcome["cursor"] == 2);
  CHECK(seqs_of(notes(*plain, "inbox:bob", 1)) == std::vector<std::uint64_t>{3});
  plain.reset();

  // With its last since + epoch: resumed, no reset, and the next publish follows.
  auto resumed = session(s.port(), "userId=bob&since=3&epoch=" + epoch, &welcome);
  CHECK(welcome["cursor"] == 3);
  post(h, "/notify", to_user("bob", 4));
  bool reset = false;
  json next;
  for (int frames = 0; frames < 20 && next.is_null(); ++frames) {
    json f = resumed->next_json();
    if (f.is_null()) break;
    if (f["op"] == "reset") reset = true;
    if (f["op"] == "notification" && f["stream"] == "inbox:bob") next = f;
  }
  CHECK_FALSE(reset);
  REQUIRE(next.is_object());
  CHECK(next["seq"] == 4);
  CHECK(next["epoch"] == epoch);
}

TEST_CASE("herald-server without a store flag keeps its store in ./herald.db") {
  TempDir dir;
  ServerProcess s({ServerProcess::kDefaultStore}, true, Millis(10'000), dir.path());
  REQUIRE_MESSAGE(s.port() != 0, s.log());
  CHECK(s.log().find("backends=\"store=sqlite:./herald.db ") != std::string::npos);
  CHECK(exists(dir.path() + "/herald.db"));
  HttpClient h(s.port());
  post(h, "/notify", to_user("cat", 1));
  CHECK(s.stop() == 0);
  ServerProcess again({ServerProcess::kDefaultStore}, true, Millis(10'000), dir.path());
  REQUIRE_MESSAGE(again.port() != 0, again.log());
  HttpClient h2(again.port());
  CHECK(get(h2, "/users/cat/notifications")["head"] == 1);
}

TEST_CASE("a second herald-server on the same SQLite file without --redis is refused") {
  TempDir dir;
  const std::vector<std::string> args{"--store", "sqlite:" + dir.path() + "/herald.db"};
  ServerProcess first(args);
  REQUIRE_MESSAGE(first.port() != 0, first.log());
  ServerProcess second(args);
  CHECK(second.wait(Millis(10'000)) == 2);
  CHECK(second.log().find("another herald-server uses this database") != std::string::npos);
  CHECK(second.log().find("--redis") != std::string::npos);
  // The lock goes with its process, however it ends.
  CHECK(first.stop(SIGKILL) == 128 + SIGKILL);
  ServerProcess third(args);
  REQUIRE_MESSAGE(third.port() != 0, third.log());
  const int code = third.stop();
  CHECK_MESSAGE(code == 0, third.log());
}

#endif  // HERALD_SERVER_WITH_SQLITE

TEST_CASE("--redis with a store other instances cannot share is refused, naming the shared store") {
  TempDir dir;
  // Refused before anything connects: the Redis URL is never used.
  ServerProcess sqlite({"--redis", "redis://127.0.0.1:1", ServerProcess::kDefaultStore}, false,
                       Millis(10'000), dir.path());
  CHECK(sqlite.wait(Millis(5000)) == 2);
  ServerProcess memory({"--redis", "redis://127.0.0.1:1", "--store", "memory"}, false);
  CHECK(memory.wait(Millis(5000)) == 2);
  for (const ServerProcess* s : {&sqlite, &memory}) {
    CHECK(s->log().find("--store postgresql://") != std::string::npos);
    CHECK(s->log().find("--postgres URL") != std::string::npos);
    CHECK(s->log().find("--allow-unshared-store") != std::string::npos);
  }
  CHECK(sqlite.log().find("--redis with --store sqlite:./herald.db") != std::string::npos);
  CHECK(memory.log().find("--redis with --store memory") != std::string::npos);
  CHECK_FALSE(exists(dir.path() + "/herald.db"));  // refused before the store was opened

  ServerProcess bad({"--store", "mysql://x"}, false);
  CHECK(bad.wait(Millis(5000)) == 2);
  CHECK(bad.log().find("expected sqlite:PATH, memory or postgresql://") != std::string::npos);
  ServerProcess both({"--store", "memory", "--postgres", "postgresql://127.0.0.1:1/x"}, false);
  CHECK(both.wait(Millis(5000)) == 2);
  CHECK(both.log().find("two different stores") != std::string::npos);
}
