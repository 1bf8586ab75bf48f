// The conformance fixture of the Redis backends: one private redis-server per test program,
// the backends on an io_context run by two threads (so the strands are really exercised),
// a fresh key prefix per registry and one channel prefix for every broker of the program.

#include <chrono>  // standard headers first: Asio picks its allocator by what they define
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "conformance/fixture.hpp"
#include "herald/redis/redis.hpp"
#include "support/redis_server.hpp"

namespace herald::conformance {
namespace {

class RedisFixture final : public Fixture {
 public:
  RedisFixture() : work_(asio::make_work_guard(io_)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~RedisFixture() override {
    work_.reset();
    for (std::thread& t : threads_) t.join();
  }

  std::string name() const override { return "redis"; }
  bool has_store() const override { return false; }
  bool has_registry() const override { return true; }
  bool has_broker() const override { return true; }

  std::shared_ptr<Store> make_store() override { return nullptr; }

  std::shared_ptr<Registry> make_registry() override {
    redis::RedisOptions o = options();
    o.key_prefix = prefix_ + "registry" + std::to_string(++registries_) + ":";
    return redis::RedisRegistry::create(io_, o);
  }

  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor> executor) override {
    return redis::RedisBroker::create(io_, std::move(executor), options());
  }

  // TTLs are measured by Redis's own clock: they pass only in real time.
  void expire(Duration d) override { std::this_thread::sleep_for(d); }

 private:
  redis::RedisOptions options() const {
    redis::RedisOptions o;
    o.url = server_.url();
    o.channel_prefix = prefix_;
    return o;
  }

  test::RedisServer server_;  // declared first: outlives the backends and the io threads
  const std::string prefix_ = "conformance" + std::to_string(::getpid()) + ":";
  int registries_ = 0;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Fixture> make_fixture() {
  return std::make_unique<RedisFixture>();
}

}  // namespace herald::conformance
