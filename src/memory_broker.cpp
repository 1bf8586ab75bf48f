// MemoryBrokerHub and its brokers: the Broker contract (include/herald/broker.hpp) within
// one process. The hub is the "network": per channel it keeps the brokers subscribed to it.
//
// Ordering: publish() posts one delivery task per subscriber onto that subscriber's own
// executor while holding the hub's lock, so every subscriber sees the hub's publish order
// (per-channel FIFO and more), because executors run posted tasks in post order.
//
// Lifetime: the hub's view of a broker is a shared BrokerState. Queued delivery tasks hold
// the state, not the Broker object, so a Broker may be destroyed while tasks are queued;
// stop() and the destructor drop the state's events, and every task checks them before
// reporting, so nothing is reported after stop's completion or after destruction.
// Brokers hold the hub, so the hub outlives them however the host orders destruction.
//
// Lock order: hub mutex, then a state's events mutex. Delivery tasks take only the latter
// and call the engine without holding any lock.

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "herald/memory.hpp"
#include "memory_common.hpp"

namespace herald {
namespace {

// One broker as the hub sees it.
struct BrokerState {
  explicit BrokerState(std::shared_ptr<Executor> ex) : executor(std::move(ex)) {}

  // Calls `report` with the events unless the broker is stopped, destroyed or not started.
  template <class Report>
  void report(Report&& report_to) {
    std::shared_ptr<const BrokerEvents> current;
    {
      std::lock_guard<std::mutex> lock(events_mutex);
      current = events;
    }
    if (current) report_to(*current);
  }

  void set_events(std::shared_ptr<const BrokerEvents> next) {
    std::lock_guard<std::mutex> lock(events_mutex);
    events = std::move(next);
  }

  const std::shared_ptr<Executor> executor;  // where this broker's events run

  // Guarded by the hub's mutex.
  bool started = false;
  bool stopped = false;
  std::set<std::string> channels;

  std::mutex events_mutex;
  std::shared_ptr<const BrokerEvents> events;  // null unless started and not stopped
};

using StatePtr = std::shared_ptr<BrokerState>;

class HubImpl final : public MemoryBrokerHub, public std::enable_shared_from_this<HubImpl> {
 public:
  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor> executor) override;

  void set_available(bool available) override {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = available;
  }

  // Replaces any pending count, so drop_next(0) cancels an earlier drop_next(n).
  void drop_next(std::size_t n) override {
    std::lock_guard<std::mutex> lock(mutex_);
    drops_ = n;
  }

  void reset_all() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const StatePtr& state : brokers_) {
      if (!state->started || state->stopped) continue;
      state->executor->post([state] {
        state->report([](const BrokerEvents& events) {
          if (events.on_reset) events.on_reset();
        });
      });
    }
  }

  Status start(const StatePtr& state, BrokerEvents events) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!available_) return memory::unavailable("broker");
    if (state->stopped) return stopped_status();
    if (state->started) return Status(Errc::invalid_argument, "memory broker: already started");
    state->started = true;
    state->set_events(std::make_shared<const BrokerEvents>(std::move(events)));
    return {};
  }

  Status subscribe(const StatePtr& state, const std::string& channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status status = check_usable(*state);
    if (!status.ok()) return status;
    if (state->channels.insert(channel).second) channels_[channel].push_back(state);
    return {};
  }

  Status unsubscribe(const StatePtr& state, const std::string& channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status status = check_usable(*state);
    if (!status.ok()) return status;
    if (state->channels.erase(channel) != 0) erase_subscriber(channel, state);
    return {};
  }

  Status publish(const StatePtr& state, const std::string& channel, std::string payload) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status status = check_usable(*state);
    if (!status.ok()) return status;
    auto it = channels_.find(channel);
    if (it == channels_.end()) return {};
    // One immutable copy of the payload, shared by every delivery.
    auto message = std::make_shared<const std::string>(std::move(payload));
    auto name = std::make_shared<const std::string>(channel);
    for (const StatePtr& subscriber : it->second) {
      if (drops_ > 0) {  // a lossy network: the publisher is not told
        --drops_;
        continue;
      }
      subscriber->executor->post([subscriber, name, message] {
        subscriber->report([&](const BrokerEvents& events) {
          if (events.on_message) events.on_message(*name, *message);
        });
      });
    }
    return {};
  }

  // Unsubscribes everything; no event is reported afterwards. Always succeeds: it is a local
  // teardown, and a stopping engine must be able to finish even while the network is down.
  void stop(const StatePtr& state) {
    std::lock_guard<std::mutex> lock(mutex_);
    detach(state);
    state->stopped = true;
  }

  // Called by a Broker's destructor.
  void unregister(const StatePtr& state) {
    std::lock_guard<std::mutex> lock(mutex_);
    detach(state);
    state->stopped = true;
    brokers_.erase(std::remove(brokers_.begin(), brokers_.end(), state), brokers_.end());
  }

 private:
  static Status stopped_status() { return Status(Errc::shutting_down, "memory broker: stopped"); }

  Status check_usable(const BrokerState& state) const {
    if (!available_) return memory::unavailable("broker");
    if (state.stopped) return stopped_status();
    if (!state.started) {
      return Status(Errc::invalid_argument, "memory broker: start() must be called first");
    }
    return {};
  }

  void detach(const StatePtr& state) {
    for (const std::string& channel : state->channels) erase_subscriber(channel, state);
    state->channels.clear();
    state->set_events(nullptr);  // queued deliveries see this and report nothing
  }

  void erase_subscriber(const std::string& channel, const StatePtr& state) {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    auto& subscribers = it->second;
    subscribers.erase(std::remove(subscribers.begin(), subscribers.end(), state),
                      subscribers.end());
    if (subscribers.empty()) channels_.erase(it);
  }

  std::mutex mutex_;
  bool available_ = true;
  std::size_t drops_ = 0;
  std::map<std::string, std::vector<StatePtr>> channels_;  // channel -> subscribers
  std::vector<StatePtr> brokers_;                          // every live Broker object
};

class MemoryBroker final : public Broker {
 public:
  MemoryBroker(std::shared_ptr<HubImpl> hub, StatePtr state)
      : hub_(std::move(hub)), state_(std::move(state)) {}
  ~MemoryBroker() override { hub_->unregister(state_); }

  MemoryBroker(const MemoryBroker&) = delete;
  MemoryBroker& operator=(const MemoryBroker&) = delete;

  void start(BrokerEvents events, Done done) override {
    done(hub_->start(state_, std::move(events)));
  }
  void subscribe(std::string channel, Done done) override {
    done(hub_->subscribe(state_, channel));
  }
  void unsubscribe(std::string channel, Done done) override {
    done(hub_->unsubscribe(state_, channel));
  }
  void publish(std::string channel, std::string payload, Done done) override {
    done(hub_->publish(state_, channel, std::move(payload)));
  }
  void stop(Done done) override {
    hub_->stop(state_);
    done(Status::ok_status());
  }

 private:
  std::shared_ptr<HubImpl> hub_;
  StatePtr state_;
};

std::unique_ptr<Broker> HubImpl::make_broker(std::shared_ptr<Executor> executor) {
  if (!executor) throw Error("MemoryBrokerHub::make_broker: the executor is null");
  auto state = std::make_shared<BrokerState>(std::move(executor));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    brokers_.push_back(state);
  }
  return std::make_unique<MemoryBroker>(shared_from_this(), std::move(state));
}

}  // namespace

std::shared_ptr<MemoryBrokerHub> MemoryBrokerHub::create() {
  return std::make_shared<HubImpl>();
}

}  // namespace herald
