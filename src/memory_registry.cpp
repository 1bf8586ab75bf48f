// MemoryRegistry: the Registry contract (include/herald/registry.hpp) in process memory.
//
// Liveness: an instance is live while clock() < its expiry (clock() + ttl at its last
// heartbeat); a session is live iff its instance is live. Expired instances are collected
// by every heartbeat (as in the Redis registry), before it renews its own instance, so an
// expiry is final: the sessions of an expired instance are gone, and a later heartbeat of
// the same instance id does not revive them (they belonged to a process that crashed).
// Until then an expired instance's sessions are not live (reads skip them) but still count
// as the user's session records (registry.hpp: presence transitions).
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
      collect_expired();
      instances_[instance] = now_ + ttl;
      return std::exchange(departures_, {});
    });
  }

  void remove_instance(InstanceId instance,
                       Completion<std::vector<Departure>> done) override {
    run(done, [&]() -> Result<std::vector<Departure>> {
      std::vector<Departure> out;
      for (const UserId& user : erase_instance(instance))
        out.push_back(Departure{user, instance});
      return out;
    });
  }

  void add_session(SessionRecord session, Completion<bool> done) override {
    run(done, [&]() -> Result<bool> {
      const SessionId id = session.session;
      const bool first = by_user_.count(session.user) == 0;
      erase_session(id);  // a re-added session may have moved to another user or instance
      by_user_[session.user].insert(id);
      by_instance_[session.instance].insert(id);
      sessions_.emplace(id, std::move(session));
      return first;
    });
  }

  void remove_session(SessionRecord session, Completion<bool> done) override {
    run(done, [&]() -> Result<bool> { return erase_session(session.session); });
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

  // Exactly what locate() would see now: an instance that has not heartbeated yet reports
  // no sessions there either.
  bool alone(const InstanceId& self) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!available_) return false;
    const TimePoint now = clock_();
    for (const auto& [instance, expiry] : instances_)
      if (instance != self && expiry > now) return false;
    return true;
  }

  void sessions(UserId user, Completion<std::vector<SessionRecord>> done) override {
    run(done, [&]() -> Result<std::vector<SessionRecord>> {
      std::vector<SessionRecord> out;
      auto ids = by_user_.find(user);
      if (ids == by_user_.end()) return out;
      for (const SessionId& id : ids->second) {  // ascending session id
        const SessionRecord& record = sessions_.at(id);
        if (live(record.instance)) out.push_back(record);
      }
      return out;
    });
  }

  void instances(Completion<std::vector<InstanceId>> done) override {
    run(done, [&]() -> Result<std::vector<InstanceId>> {
      std::vector<InstanceId> out;
      for (const auto& entry : instances_)
        if (live(entry.first)) out.push_back(entry.first);  // sorted
      return out;
    });
  }

  void report_load(InstanceId instance, InstanceLoad load, Done done) override {
    run(done, [&]() -> Result<void> {
      if (live(instance)) loads_[instance] = load;
      return {};
    });
  }

  void instance_loads(Completion<std::vector<InstanceStatus>> done) override {
    run(done, [&]() -> Result<std::vector<InstanceStatus>> {
      std::vector<InstanceStatus> out;
      out.reserve(instances_.size());
      for (const auto& entry : instances_) {  // sorted
        if (!live(entry.first)) continue;  // expired, not yet collected by a heartbeat
        auto load = loads_.find(entry.first);
        out.push_back({entry.first, load == loads_.end() ? InstanceLoad{} : load->second});
      }
      return out;
    });
  }

 private:
  // Reads the clock before `work`, all under the lock.
  template <class T, class Work>
  void run(const Completion<T>& done, Work&& work) {
    memory::run_locked(mutex_, available_, "registry", done, [&] {
      now_ = clock_();
      return work();
    });
  }

  bool live(const InstanceId& instance) const {
    auto it = instances_.find(instance);
    return it != instances_.end() && it->second > now_;
  }

  // One Location per (user, instance) with a live session of `user`, instances ascending.
  void add_locations(const UserId& user, const std::set<SessionId>& ids,
                     std::vector<Location>& out) const {
    const std::size_t first = out.size();
    for (const SessionId& id : ids) {
      const InstanceId& instance = sessions_.at(id).instance;
      if (live(instance)) out.push_back(Location{user, instance});
    }
    auto by_instance = [](const Location& a, const Location& b) { return a.instance < b.instance; };
    auto same_instance = [](const Location& a, const Location& b) {
      return a.instance == b.instance;
    };
    const auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
    std::sort(begin, out.end(), by_instance);
    out.erase(std::unique(begin, out.end(), same_instance), out.end());
  }

  // Erases expired instances with their sessions; users left with no session record become
  // departures (kept for the next heartbeat, whichever instance sends it).
  void collect_expired() {
    std::vector<InstanceId> expired;
    for (const auto& [instance, expiry] : instances_) {
      if (expiry <= now_) expired.push_back(instance);
    }
    for (const InstanceId& instance : expired)
      for (UserId& user : erase_instance(instance))
        departures_.push_back(Departure{std::move(user), instance});
  }

  // Erases the instance with its sessions. Yields the users whose last session record it
  // held (sorted: a deterministic answer).
  std::vector<UserId> erase_instance(const InstanceId& instance) {
    instances_.erase(instance);
    std::vector<UserId> last;
    loads_.erase(instance);
    auto ids = by_instance_.find(instance);
    if (ids == by_instance_.end()) return last;
    const std::set<SessionId> doomed = std::move(ids->second);
    by_instance_.erase(ids);
    for (const SessionId& id : doomed) {
      UserId user = sessions_.at(id).user;
      if (erase_session(id)) last.push_back(std::move(user));
    }
    std::sort(last.begin(), last.end());
    return last;
  }

  // Erases a session; true if it was its user's last one.
  bool erase_session(const SessionId& id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    const SessionRecord& record = it->second;
    auto erase_from = [&id](auto& index, const auto& key) {
      auto set = index.find(key);
      if (set == index.end()) return false;
      set->second.erase(id);
      if (!set->second.empty()) return false;
      index.erase(set);
      return true;
    };
    const bool last = erase_from(by_user_, record.user);
    erase_from(by_instance_, record.instance);
    sessions_.erase(it);
    return last;
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
