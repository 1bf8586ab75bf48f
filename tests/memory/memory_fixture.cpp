// The conformance fixture of the in-memory backends: a fresh MemoryStore and MemoryRegistry
// per case, one MemoryBrokerHub for every broker, and a fake clock for registry TTLs.

#include <memory>
#include <mutex>
#include <string>

#include "conformance/fixture.hpp"
#include "herald/memory.hpp"

namespace herald::conformance {
namespace {

// A clock that moves only when told to. Shared with the registries it was given to.
class FakeClock {
 public:
  TimePoint now() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return now_;
  }
  void advance(Duration d) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ += d;
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_ = from_unix_ms(1'750'000'000'000);
};

class MemoryFixture final : public Fixture {
 public:
  std::string name() const override { return "memory"; }
  bool has_store() const override { return true; }
  bool has_registry() const override { return true; }
  bool has_broker() const override { return true; }

  std::shared_ptr<Store> make_store() override { return MemoryStore::create(); }

  std::shared_ptr<Registry> make_registry() override {
    return MemoryRegistry::create([clock = clock_] { return clock->now(); });
  }

  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor> executor) override {
    return hub_->make_broker(std::move(executor));
  }

  void expire(Duration d) override { clock_->advance(d); }

 private:
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::shared_ptr<MemoryBrokerHub> hub_ = MemoryBrokerHub::create();
};

}  // namespace

std::unique_ptr<Fixture> make_fixture() {
  return std::make_unique<MemoryFixture>();
}

}  // namespace herald::conformance
