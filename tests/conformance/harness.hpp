#pragma once
// Test harness of the conformance suites: an io_context run by the test thread, an
// executor over it for completions and broker events, and waits that fail the test instead
// of hanging. Nothing here assumes a completion arrives synchronously: backends may answer
// from their own threads after real network round trips.

// Standard headers first: Asio's configuration reads libstdc++ macros (e.g. for aligned
// allocation), and every translation unit must see the same configuration (src/executor.cpp
// includes Asio after standard headers), or Asio's inline allocator functions differ
// between units (an ODR violation AddressSanitizer reports as alloc-dealloc-mismatch).
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "conformance/fixture.hpp"
#include "herald/broker.hpp"
#include "herald/error.hpp"
#include "herald/executor.hpp"
#include "herald/store.hpp"

namespace herald::conformance {

/// How long any single wait may take before the test fails.
inline constexpr std::chrono::seconds kWaitTimeout{5};

/// The program's fixture, made on first use by make_fixture().
Fixture& fixture();

/// True if the program has the backend; otherwise reports the case as skipped (MESSAGE).
bool have_store();
bool have_registry();
bool have_broker();

/// An io_context the test thread runs while it waits, and an executor over it.
/// Declare the Harness before the backends of a test case, so that they are destroyed first
/// (a backend may still hold completions bound to this executor).
/// The io_context is one for the whole program and is never destroyed: a backend answering
/// from its own threads may still be inside a post() to it when the test case, woken by
/// that very post, has already finished.
class Harness {
 public:
  Harness();
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  const std::shared_ptr<Executor>& executor() const { return executor_; }

  /// Runs the io_context on this thread until `done()` holds, checking it after every
  /// handler. Fails the test (doctest FAIL) if that takes longer than kWaitTimeout.
  void run_until(const std::function<bool()>& done, const std::string& what);

  /// Runs the handlers that are ready now, without waiting for more.
  void poll();

  /// Starts an asynchronous call with a Completion bound to this harness and waits for it.
  /// Fails the test if the completion does not arrive within kWaitTimeout.
  template <class T>
  Result<T> wait(std::function<void(Completion<T>)> start,
                 const std::string& what = "a backend completion") {
    // Shared, so a completion arriving after a failed wait writes into live memory.
    auto slot = std::make_shared<std::optional<Result<T>>>();
    start(Completion<T>(executor_, [slot](Result<T> r) { slot->emplace(std::move(r)); }));
    run_until([&slot] { return slot->has_value(); }, what);
    return std::move(**slot);
  }

 private:
  asio::io_context& io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<Executor> executor_;
};

/// A fixed time for the suites: whole milliseconds, so server backends round-trip it
/// exactly.
inline const TimePoint t0 = from_unix_ms(1'750'000'000'000);

/// The seqs first..last.
inline std::vector<Seq> range(Seq first, Seq last) {
  std::vector<Seq> out;
  for (Seq s = first; s <= last; ++s) out.push_back(s);
  return out;
}

/// An append of `n` to `streams`; its idempotency key (if any) is remembered for
/// `dedup_window` (0: not at all).
inline AppendRequest append_request(std::vector<StreamId> streams,
                                    std::shared_ptr<const Notification> n,
                                    Duration dedup_window = Duration{0}) {
  AppendRequest r;
  r.notification = std::move(n);
  r.streams = std::move(streams);
  r.dedup_window = dedup_window;
  return r;
}

/// The value of a successful result; fails the test (REQUIRE) with the status otherwise.
template <class T>
T ok_value(Result<T> result, const std::string& what) {
  REQUIRE_MESSAGE(result.ok(), what << " failed: " << std::string(to_string(result.status().code())) << ": "
                                    << result.status().message());
  return std::move(result).value();
}
void require_ok(const Result<void>& result, const std::string& what);

/// One message a broker reported.
struct Message {
  std::string channel;
  std::string payload;
  friend bool operator==(const Message& a, const Message& b) {
    return a.channel == b.channel && a.payload == b.payload;
  }
};

/// Records what a broker reports. Events run on the harness executor, i.e. on the test
/// thread while it waits, so the record needs no lock.
class Recorder {
 public:
  Recorder() : record_(std::make_shared<Record>()) {}

  /// Events that append to this record (safe to outlive the Recorder).
  BrokerEvents events() const;

  const std::vector<Message>& messages() const { return record_->messages; }
  std::size_t resets() const { return record_->resets; }
  /// Payloads received on `channel`, in arrival order.
  std::vector<std::string> payloads(const std::string& channel) const;

  /// Runs the harness until at least `n` messages arrived in total.
  void wait_for_messages(Harness& harness, std::size_t n) const;
  /// Runs the harness until `payload` arrived on `channel`.
  void wait_for(Harness& harness, const std::string& channel, const std::string& payload) const;

 private:
  struct Record {
    std::vector<Message> messages;
    std::size_t resets = 0;
  };
  std::shared_ptr<Record> record_;
};

}  // namespace herald::conformance
