#pragma once
// The backend fixture of the conformance suites. The suites (tests/conformance/*.cpp) are
// written once; each backend's test program links them and defines make_fixture() to say
// which backends it has and how to make fresh ones.

#include <memory>
#include <string>

#include "herald/broker.hpp"
#include "herald/executor.hpp"
#include "herald/registry.hpp"
#include "herald/store.hpp"

namespace herald::conformance {

/// What a backend test program provides. Made once per program (see fixture() in
/// harness.hpp) and used from the test thread only.
class Fixture {
 public:
  virtual ~Fixture() = default;

  /// Shown in skip messages, e.g. "memory", "postgres".
  virtual std::string name() const = 0;

  /// Which of the three interfaces this program implements. The suite of an interface the
  /// program does not have reports each of its cases as skipped (a doctest MESSAGE).
  virtual bool has_store() const = 0;
  virtual bool has_registry() const = 0;
  virtual bool has_broker() const = 0;

  /// A fresh, empty Store (a server backend: a fresh schema or database). Every call
  /// returns one that shares nothing with the previous ones.
  virtual std::shared_ptr<Store> make_store() = 0;

  /// A fresh, empty Registry whose TTLs are measured by the clock expire() moves.
  virtual std::shared_ptr<Registry> make_registry() = 0;

  /// A broker whose events are posted onto `executor`. Brokers made by one fixture reach
  /// each other (they are instances of one service). Channels are shared by every broker
  /// the fixture ever made: each test case uses channel names of its own.
  virtual std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor> executor) = 0;

  /// Lets `d` pass for the registries' TTLs: a fake clock advances; a server backend waits.
  /// Returns once a TTL that ran out within `d` is observed as expired.
  virtual void expire(Duration d) = 0;
};

/// Defined by each backend test program.
std::unique_ptr<Fixture> make_fixture();

}  // namespace herald::conformance
