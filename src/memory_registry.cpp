// MemoryRegistry: the Registry contract (include/herald/registry.hpp) in process memory.
//
// Liveness: an instance is live while clock() < its expiry (clock() + ttl at its last
// heartbeat); a session is live iff its instance is live. Expired instances are collected
// at the start of every call, so an expiry is observed as final: the sessions of an expired
// instance are gone, and a later heartbeat of the same instance id does not revive them
// (they belonged to a process that crashed).
//
// A session added for an instance that has not heartbeated yet (or was collected) is still
// recorded; it is not reported anywhere until that instance heartbeats, and then it is live.
// The engine heartbeats before it accepts sessions, so this only smooths over a race.
//
// One mutex guards all state; the work is done under it, the Completion is called after.

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "herald/memory.hpp"
#include "memory_common.hpp"

namespace herald {
namespace {

class MemoryRegistryImpl final : public MemoryRegistry {
 public:
  explicit MemoryRegistryImpl(std::function<TimePoint()> clock) : clock_(std::move(clock)) {}

  void set_available(bool available) override {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = available;
  }

  void heartbeat(InstanceId instance, Duration ttl,
                 Completion<std::vector<Departure>> done) override {
    run(done, [&]() -> Result<std::vector<Departure>> {
      if (ttl <= Duration::zero()) {
        return Status(Errc::invalid_argument, "heartbeat: ttl must be positive");
      }
      instances_[instance] = now_ + ttl;
      return std::exchange(departures_, {});
    });
  }

  void remove_instance(InstanceId instance, Done done) override {
    run(done, [&]() -> Result<void> {
      erase_instance(instance);
      return {};
    });
  }

  void add_session(SessionRecord session, Done done) override {
    run(done, [&]() -> Result<void> {
      const SessionId id = session.session;
      erase_session(id);  // a re-added session may have moved to another user or instance
      by_user_[session.user].insert(id);
      by_instance_[session.instance].insert(id);
      sessions_.emplace(id, std::move(session));
      return {};
    });
  }

  void remove_session(SessionRecord session, Done done) override {
    run(done, [&]() -> Result<void> {
      erase_session(session.session);
      return {};
    });
  }

  void locate(std::vector<UserId> users, Completion<std::vector<Location>> done) override {
    run(done, [&]() -> Result<std::vector<Location>> {
      std::vector<Location> out;
      // A user listed twice is reported once (a set only when there is more than one user).
      std::unordered_set<std::string_view> seen;
      for (const UserId& user : users) {
        if (users.size() > 1 && !seen.insert(user).second) continue;
        auto ids = by_user_.find(user);
        if (ids != by_user_.end()) add_locations(user, ids->second, out);
      }
      return out;
    });
  }

  void sessions(UserId user, Completion<std::vector<SessionRecord>> done) override {
    run(done, [&]() -> Result<std::vector<SessionRecord>> {
      std::vector<SessionRecord> out;
      auto ids = by_user_.find(user);
      if (ids == by_user_.end()) return out;
      for (const SessionId& id : ids->second) {  // ascending session id
        const SessionRecord& record = sessions_.at(id);
        if (instances_.count(record.instance) != 0) out.push_back(record);
      }
      return out;
    });
  }

  void instances(Completion<std::vector<InstanceId>> done) override {
    run(done, [&]() -> Result<std::vector<InstanceId>> {
      std::vector<InstanceId> out;
      out.reserve(instances_.size());
      for (const auto& entry : instances_) out.push_back(entry.first);  // sorted
      return out;
    });
  }

  void report_load(InstanceId instance, InstanceLoad load, Done done) override {
    run(done, [&]() -> Result<void> {
      if (instances_.count(instance) != 0) loads_[instance] = load;
      return {};
    });
  }

  void instance_loads(Completion<std::vector<InstanceStatus>> done) override {
    run(done, [&]() -> Result<std::vector<InstanceStatus>> {
      std::vector<InstanceStatus> out;
      out.reserve(instances_.size());
      for (const auto& entry : instances_) {  // sorted
        auto load = loads_.find(entry.first);
        out.push_back({entry.first, load == loads_.end() ? InstanceLoad{} : load->second});
      }
      return out;
    });
  }

 private:
  // Reads the clock and collects expired instances before `work`, all under the lock.
  template <class T, class Work>
  void run(const Completion<T>& done, Work&& work) {
    memory::run_locked(mutex_, available_, "registry", done, [&] {
      now_ = clock_();
      collect_expired();
      return work();
    });
  }

  // One Location per (user, instance) with a live session of `user`, instances ascending.
  void add_locations(const UserId& user, const std::set<SessionId>& ids,
                     std::vector<Location>& out) const {
    const std::size_t first = out.size();
    for (const SessionId& id : ids) {
      const InstanceId& instance = sessions_.at(id).instance;
      if (instances_.count(instance) != 0) out.push_back(Location{user, instance});
    }
    auto by_instance = [](const Location& a, const Location& b) { return a.instance < b.instance; };
    auto same_instance = [](const Location& a, const Location& b) {
      return a.instance == b.instance;
    };
    const auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
    std::sort(begin, out.end(), by_instance);
    out.erase(std::unique(begin, out.end(), same_instance), out.end());
  }

  // Erases expired instances with their sessions; their users left with no live session
  // become departures (kept for the next heartbeat, whichever instance sends it).
  void collect_expired() {
    std::vector<InstanceId> expired;
    for (const auto& [instance, expiry] : instances_) {
      if (expiry <= now_) expired.push_back(instance);
    }
    std::vector<Departure> candidates;
    for (const InstanceId& instance : expired) {
      if (auto ids = by_instance_.find(instance); ids != by_instance_.end()) {
        for (const SessionId& id : ids->second)
          candidates.push_back(Departure{sessions_.at(id).user, instance});
      }
      erase_instance(instance);
    }
    auto by_user = [](const Departure& a, const Departure& b) { return a.user < b.user; };
    auto same_user = [](const Departure& a, const Departure& b) { return a.user == b.user; };
    std::sort(candidates.begin(), candidates.end(), by_user);
    candidates.erase(std::unique(candidates.begin(), candidates.end(), same_user),
                     candidates.end());
    for (Departure& d : candidates)
      if (!has_live_session(d.user)) departures_.push_back(std::move(d));
  }

  bool has_live_session(const UserId& user) const {
    auto ids = by_user_.find(user);
    if (ids == by_user_.end()) return false;
    for (const SessionId& id : ids->second)
      if (instances_.count(sessions_.at(id).instance) != 0) return true;
    return false;
  }

  void erase_instance(const InstanceId& instance) {
    instances_.erase(instance);
    loads_.erase(instance);
    auto ids = by_instance_.find(instance);
    if (ids == by_instance_.end()) return;
    const std::set<SessionId> doomed = std::move(ids->second);
    by_instance_.erase(ids);
    for (const SessionId& id : doomed) erase_session(id);
  }

  void erase_session(const SessionId& id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    const SessionRecord& record = it->second;
    auto erase_from = [&id](auto& index, const auto& key) {
      auto set = index.find(key);
      if (set == index.end()) return;
      set->second.erase(id);
      if (set->second.empty()) index.erase(set);
    };
    erase_from(by_user_, record.user);
    erase_from(by_instance_, record.instance);
    sessions_.erase(it);
  }

  const std::function<TimePoint()> clock_;
  std::mutex mutex_;
  bool available_ = true;
  TimePoint now_{};                            // clock() at the start of the current call
  std::map<InstanceId, TimePoint> instances_;  // instance -> expiry
  std::map<InstanceId, InstanceLoad> loads_;   // of live instances that reported one
  std::unordered_map<SessionId, SessionRecord> sessions_;
  std::unordered_map<UserId, std::set<SessionId>> by_user_;  // ascending session ids per user
  std::map<InstanceId, std::set<SessionId>> by_instance_;
  std::vector<Departure> departures_;  // collected, not yet yielded by a heartbeat
};

}  // namespace

std::shared_ptr<MemoryRegistry> MemoryRegistry::create(std::function<TimePoint()> clock) {
  if (!clock) throw Error("MemoryRegistry::create: the clock function is empty");
  return std::make_shared<MemoryRegistryImpl>(std::move(clock));
}

}  // namespace herald
