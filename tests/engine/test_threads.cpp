// Engines on a real io_context run by several threads, publishers on their own threads:
// the executor contract (one task at a time per engine) holds under real concurrency.
// Run under ASan/UBSan by .ci/run.

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <asio.hpp>

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("three engines on a 2-thread io_context with 4 publisher threads lose and repeat nothing") {
  constexpr int kUsers = 12, kThreads = 4, kPerThread = 150;
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  auto store = MemoryStore::create();
  auto registry = MemoryRegistry::create();
  auto hub = MemoryBrokerHub::create();

  struct Node {
    std::shared_ptr<Executor> executor;
    InProcTransport transport;
    std::unique_ptr<Engine> engine;
  };
  std::vector<std::unique_ptr<Node>> nodes;
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0;
  for (int i = 0; i < 3; ++i) {
    auto n = std::make_unique<Node>();
    n->executor = make_asio_executor(io);
    Backends b;
    b.store = store;
    b.registry = registry;
    b.broker = hub->make_broker(n->executor);
    b.transports = {&n->transport};
    EngineOptions o = World::defaults();
    o.instance_id = "t" + std::to_string(i);
    n->engine = std::make_unique<Engine>(n->executor, std::move(b), o);
    n->engine->start([&](Status s) {
      REQUIRE(s.ok());
      std::lock_guard<std::mutex> lock(mutex);
      ++started;
      changed.notify_all();
    });
    nodes.push_back(std::move(n));
  }
  std::vector<std::thread> loop;
  for (int i = 0; i < 2; ++i) loop.emplace_back([&] { io.run(); });
  auto wait_for = [&](auto pred) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(60), pred);
  };
  REQUIRE(wait_for([&] { return started == 3; }));

  // One client per user, spread over the engines; each records its inbox seqs.
  std::map<std::string, std::vector<Seq>> got;
  std::size_t welcomed = 0, received = 0;
  std::vector<std::shared_ptr<InProcClient>> clients;
  for (int u = 0; u < kUsers; ++u) {
    const std::string user = "user" + std::to_string(u);
    auto c = nodes[u % 3]->transport.connect({"/ws", {{"userId", user}}, {}, "test"});
    c->on_frame([&, user](const std::string& text) {
      json f = json::parse(text);
      std::lock_guard<std::mutex> lock(mutex);
      if (f["op"] == "welcome") ++welcomed;
      if (f["op"] == "notification") {
        got[user].push_back(f["seq"].get<Seq>());
        ++received;
      }
      changed.notify_all();
    });
    clients.push_back(c);
  }
  REQUIRE(wait_for([&] { return welcomed == kUsers; }));

  std::atomic<int> published{0};
  std::vector<std::thread> publishers;
  for (int t = 0; t < kThreads; ++t) {
    publishers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        PublishRequest r;
        r.target = Target::to_users({"user" + std::to_string((t + i) % kUsers)});
        r.type = "stress";
        nodes[(t + i) % 3]->engine->publish(r, [&](Result<PublishResult> x) {
          CHECK(x.ok());
          ++published;
          changed.notify_all();
        });
      }
    });
  }
  for (auto& p : publishers) p.join();
  const std::size_t total = kThreads * kPerThread;
  REQUIRE(wait_for([&] { return published == static_cast<int>(total) && received >= total; }));

  {
    std::lock_guard<std::mutex> lock(mutex);
    std::size_t sum = 0;
    for (auto& [user, seqs_of_user] : got) {
      CAPTURE(user);
      CHECK(seqs_of_user == range(1, seqs_of_user.size()));  // in order, no gap, no duplicate
      sum += seqs_of_user.size();
    }
    CHECK(sum == total);
  }

  int stopped = 0;
  for (auto& n : nodes)
    n->engine->shutdown([&] {
      std::lock_guard<std::mutex> lock(mutex);
      ++stopped;
      changed.notify_all();
    });
  REQUIRE(wait_for([&] { return stopped == 3; }));
  guard.reset();
  io.stop();
  for (auto& t : loop) t.join();
}
