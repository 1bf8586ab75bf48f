#include "conformance/harness.hpp"

#include <algorithm>

namespace herald::conformance {

Fixture& fixture() {
  static const std::unique_ptr<Fixture> instance = make_fixture();
  return *instance;
}

namespace {
bool have(bool present, const char* what) {
  if (!present) {
    MESSAGE("skipped: the " << fixture().name() << " test program has no " << std::string(what) << " backend");
  }
  return present;
}
}  // namespace

bool have_store() {
  return have(fixture().has_store(), "Store");
}
bool have_registry() {
  return have(fixture().has_registry(), "Registry");
}
bool have_broker() {
  return have(fixture().has_broker(), "Broker");
}

namespace {
asio::io_context& program_io() {
  static asio::io_context* io = new asio::io_context;  // never destroyed (see harness.hpp)
  return *io;
}
}  // namespace

Harness::Harness()
    : io_(program_io()), work_(asio::make_work_guard(io_)), executor_(make_asio_executor(io_)) {
  io_.restart();  // the previous case may have let it run out of work (it is then stopped)
}

Harness::~Harness() {
  executor_.reset();
  work_.reset();
}

void Harness::run_until(const std::function<bool()>& done, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitTimeout;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      FAIL("timed out after " << kWaitTimeout.count() << " s waiting for: " << what);
    }
    // The work guard keeps the io_context from running out of work, so this blocks until
    // a handler ran (a completion or event was posted from any thread) or the time is up.
    io_.run_one_for(deadline - now);
  }
}

void Harness::poll() {
  io_.poll();
}

void require_ok(const Result<void>& result, const std::string& what) {
  REQUIRE_MESSAGE(result.ok(), what << " failed: " << std::string(to_string(result.status().code())) << ": "
                                    << result.status().message());
}

BrokerEvents Recorder::events() const {
  BrokerEvents events;
  events.on_message = [record = record_](const std::string& channel, const std::string& payload) {
    record->messages.push_back(Message{channel, payload});
  };
  events.on_reset = [record = record_] { ++record->resets; };
  return events;
}

std::vector<std::string> Recorder::payloads(const std::string& channel) const {
  std::vector<std::string> out;
  for (const Message& m : record_->messages) {
    if (m.channel == channel) out.push_back(m.payload);
  }
  return out;
}

void Recorder::wait_for_messages(Harness& harness, std::size_t n) const {
  harness.run_until([&] { return record_->messages.size() >= n; },
                    std::to_string(n) + " broker messages");
}

void Recorder::wait_for(Harness& harness, const std::string& channel,
                        const std::string& payload) const {
  const Message wanted{channel, payload};
  harness.run_until(
      [&] {
        return std::find(record_->messages.begin(), record_->messages.end(), wanted) !=
               record_->messages.end();
      },
      "broker message '" + payload + "' on channel '" + channel + "'");
}

}  // namespace herald::conformance
