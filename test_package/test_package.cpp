// Conan's test_package (also built against an installed herald by scripts/check-install.sh):
// herald::core with the in-memory backends on a hand-driven executor. No servers, no threads.
#include <cstdio>
#include <herald/herald.hpp>

int main() {
  auto executor = std::make_shared<herald::ManualExecutor>();
  herald::Engine engine(executor, {herald::MemoryStore::create(),
                                   herald::MemoryRegistry::create(),
                                   herald::MemoryBrokerHub::create()->make_broker(executor),
                                   {}});
  std::uint64_t unread = 0;
  engine.start([&](herald::Status) {
    herald::PublishRequest hello;
    hello.target = herald::Target::to_users({"alice"});
    hello.type = "greeting";
    engine.publish(hello, [&](herald::Result<herald::PublishResult>) {
      engine.unread_count("alice",
                          [&](herald::Result<std::uint64_t> n) { unread = n.ok() ? *n : 0; });
    });
  });
  executor->run();
  engine.shutdown([] {});
  executor->advance(std::chrono::minutes(1));
  std::printf("herald %s: alice has %llu unread\n", herald::version(),
              static_cast<unsigned long long>(unread));
  return unread == 1 ? 0 : 1;
}
