#pragma once
// In-memory backends: a complete engine in one process with no servers. Several engines in
// one process can share them and then behave as separate instances of one service.

#include <functional>
#include <memory>

#include "herald/broker.hpp"
#include "herald/export.hpp"
#include "herald/registry.hpp"
#include "herald/store.hpp"

namespace herald {

/// Fault switches of the in-memory backends, for tests of the engine's fault handling.
/// Thread-safe. While `available` is false every call yields Errc::unavailable.
class HERALD_API FaultSwitch {
 public:
  virtual ~FaultSwitch() = default;
  virtual void set_available(bool available) = 0;
};

/// A Store in process memory. Its epoch is random per object: a new MemoryStore is a store
/// whose history was lost, and clients resuming from the old one are told so.
class HERALD_API MemoryStore : public Store, public FaultSwitch {
 public:
  static std::shared_ptr<MemoryStore> create();
  /// The epoch every stream of this store has.
  virtual Epoch epoch() const = 0;
};

/// A Registry in process memory. `clock` gives the time TTLs are measured against (the
/// engine's executor clock in tests).
class HERALD_API MemoryRegistry : public Registry, public FaultSwitch {
 public:
  static std::shared_ptr<MemoryRegistry> create(std::function<TimePoint()> clock = Clock::now);
};

/// The shared medium of in-memory brokers: every broker made by one hub reaches the others.
class HERALD_API MemoryBrokerHub : public FaultSwitch {
 public:
  static std::shared_ptr<MemoryBrokerHub> create();
  /// A broker for one engine; its events are posted to `executor`.
  virtual std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor> executor) = 0;
  /// Silently drops the next `n` messages (to any subscriber), as a lossy network would.
  virtual void drop_next(std::size_t n) = 0;
  /// Makes every broker of this hub report on_reset (a reconnect).
  virtual void reset_all() = 0;
};

}  // namespace herald
