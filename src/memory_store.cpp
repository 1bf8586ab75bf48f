// MemoryStore: the Store contract (include/herald/store.hpp) in process memory.
//
// One mutex guards all state. Every call does its work synchronously under the lock,
// releases it, and only then hands the result to the Completion (which posts it onto the
// caller's executor), so no callback ever runs while the lock is held.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "herald/memory.hpp"
#include "memory_common.hpp"

namespace herald {
namespace {

// One entry of one stream. The notification is shared by every stream that lists it.
struct StoredEntry {
  std::shared_ptr<const Notification> notification;
  bool read = false;
};

struct Stream {
  Seq head = 0;             // highest seq ever assigned; never lowered (seqs are not reused)
  Seq trimmed_through = 0;  // highest seq dropped by topic retention
  std::map<Seq, StoredEntry> entries;
};

struct StreamIdHash {
  std::size_t operator()(const StreamId& id) const noexcept {
    const std::size_t h = std::hash<std::string>{}(id.name());
    return id.is_inbox() ? h : ~h;
  }
};

// What an idempotency key points at: the first notification recorded under it, and the
// fingerprint of the request it was recorded for.
struct IdempotencyRecord {
  NotificationId id = 0;
  TimePoint created_at{};
  std::string fingerprint;
};

// Idempotency keys are unique per scope: (scope, key).
using IdempotencyKey = std::pair<std::string, std::string>;

// Whether a recorded fingerprint and a new one stand for the same request; an empty one
// (not given) matches any, as the Store contract says.
bool same_request(const std::string& recorded, const std::string& fingerprint) {
  return recorded.empty() || fingerprint.empty() || recorded == fingerprint;
}

// A random nonzero epoch: a new MemoryStore is a store whose history was lost.
Epoch random_epoch() {
  std::random_device device;
  std::mt19937_64 engine((std::uint64_t{device()} << 32) ^ device());
  Epoch epoch = 0;
  while (epoch == 0) epoch = engine();
  return epoch;
}

class MemoryStoreImpl final : public MemoryStore {
 public:
  MemoryStoreImpl() : epoch_(random_epoch()) {}

  void set_available(bool available) override {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = available;
  }

  Epoch epoch() const override { return epoch_; }

  void append(AppendRequest request, Completion<AppendResult> done) override {
    run(done, [&] { return append_locked(request); });
  }

  void read(StreamId stream, ReadQuery query, Completion<ReadResult> done) override {
    run(done, [&] { return read_locked(stream, query); });
  }

  void inbox_state(UserId user, TimePoint now, Completion<InboxState> done) override {
    run(done, [&]() -> Result<InboxState> {
      const StreamId id = StreamId::inbox(user);
      InboxState state;
      state.info = info_locked(id);
      auto ack = ack_cursors_.find(user);
      if (ack != ack_cursors_.end()) state.ack_cursor = ack->second;
      if (const Stream* stream = find_stream(id)) {
        for (const auto& [seq, entry] : stream->entries) {
          if (!entry.read && !entry.notification->expired(now)) ++state.unread;
        }
      }
      return state;
    });
  }

  void mark_read(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    run(done, [&]() -> Result<std::uint64_t> {
      auto it = streams_.find(StreamId::inbox(user));
      if (it == streams_.end()) return std::uint64_t{0};
      auto& entries = it->second.entries;
      std::uint64_t changed = 0;
      auto flip = [&changed](StoredEntry& entry) {
        if (!entry.read) {
          entry.read = true;
          ++changed;
        }
      };
      if (seqs.empty()) {
        for (auto& [seq, entry] : entries) flip(entry);
      } else {
        for (Seq seq : seqs) {
          auto found = entries.find(seq);
          if (found != entries.end()) flip(found->second);
        }
      }
      return changed;
    });
  }

  // An empty `seqs` removes nothing (unlike mark_read, "all" is not implied for a delete).
  void remove(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    run(done, [&]() -> Result<std::uint64_t> {
      auto it = streams_.find(StreamId::inbox(user));
      if (it == streams_.end()) return std::uint64_t{0};
      std::uint64_t removed = 0;
      for (Seq seq : seqs) removed += it->second.entries.erase(seq);
      return removed;
    });
  }

  void advance_ack_cursor(UserId user, Seq seq, Completion<Seq> done) override {
    run(done, [&]() -> Result<Seq> {
      Seq& cursor = ack_cursors_[user];
      cursor = std::max(cursor, seq);
      return cursor;
    });
  }

  void subscribe(UserId user, std::string topic, Completion<bool> done) override {
    run(done, [&]() -> Result<bool> {
      const bool added = subscribers_[topic].insert(user).second;
      subscriptions_[user].insert(topic);
      return added;
    });
  }

  void unsubscribe(UserId user, std::string topic, Completion<bool> done) override {
    run(done, [&]() -> Result<bool> {
      bool existed = false;
      auto by_topic = subscribers_.find(topic);
      if (by_topic != subscribers_.end()) {
        existed = by_topic->second.erase(user) > 0;
        if (by_topic->second.empty()) subscribers_.erase(by_topic);
      }
      auto by_user = subscriptions_.find(user);
      if (by_user != subscriptions_.end()) {
        by_user->second.erase(topic);
        if (by_user->second.empty()) subscriptions_.erase(by_user);
      }
      return existed;
    });
  }

  void subscribers(std::string topic, UserId after, std::size_t limit,
                   Completion<std::vector<UserId>> done) override {
    run(done, [&]() -> Result<std::vector<UserId>> {
      std::vector<UserId> page;
      auto it = subscribers_.find(topic);
      if (it == subscribers_.end()) return page;
      for (auto user = it->second.upper_bound(after);
           user != it->second.end() && page.size() < limit; ++user) {
        page.push_back(*user);
      }
      return page;
    });
  }

  void subscriptions(UserId user, std::string after, std::size_t limit,
                     Completion<std::vector<std::string>> done) override {
    run(done, [&]() -> Result<std::vector<std::string>> {
      std::vector<std::string> page;
      auto it = subscriptions_.find(user);
      if (it == subscriptions_.end()) return page;
      for (auto topic = it->second.upper_bound(after);
           topic != it->second.end() && page.size() < limit; ++topic) {
        page.push_back(*topic);
      }
      return page;
    });
  }

  void add_dead_letter(DeadLetter letter, Done done) override {
    run(done, [&]() -> Result<void> {
      const Seq seq = letter.seq;
      dead_letters_[letter.user].insert_or_assign(seq, std::move(letter));
      return {};
    });
  }

  void dead_letters(UserId user, Seq after, std::size_t limit,
                    Completion<std::vector<DeadLetter>> done) override {
    run(done, [&]() -> Result<std::vector<DeadLetter>> {
      std::vector<DeadLetter> out;
      auto it = dead_letters_.find(user);
      if (it == dead_letters_.end()) return out;
      for (auto letter = it->second.upper_bound(after);
           letter != it->second.end() && out.size() < limit; ++letter) {
        out.push_back(letter->second);
      }
      return out;
    });
  }

  void remove_dead_letter(UserId user, Seq seq, Completion<bool> done) override {
    run(done, [&]() -> Result<bool> {
      auto it = dead_letters_.find(user);
      if (it == dead_letters_.end()) return false;
      const bool existed = it->second.erase(seq) > 0;
      if (it->second.empty()) dead_letters_.erase(it);
      return existed;
    });
  }

  void purge_expired(TimePoint now, Completion<std::uint64_t> done) override {
    run(done, [&]() -> Result<std::uint64_t> {
      std::uint64_t purged = 0;
      for (auto& [id, stream] : streams_) {
        for (auto it = stream.entries.begin(); it != stream.entries.end();) {
          if (it->second.notification->expired(now)) {
            it = stream.entries.erase(it);
            ++purged;
          } else {
            ++it;
          }
        }
      }
      return purged;
    });
  }

  void set_preferences(UserId user, Preferences preferences, Done done) override {
    run(done, [&]() -> Result<void> {
      if (preferences.empty()) {
        preferences_.erase(user);
      } else {
        preferences_[user] = std::move(preferences);
      }
      any_preferences_.store(!preferences_.empty(), std::memory_order_relaxed);
      return {};
    });
  }

  void preferences(std::vector<UserId> users,
                   Completion<std::vector<UserPreferences>> done) override {
    run(done, [&]() -> Result<std::vector<UserPreferences>> {
      std::vector<UserPreferences> out;
      if (preferences_.empty()) return out;
      for (UserId& user : users) {
        auto it = preferences_.find(user);
        if (it != preferences_.end()) out.push_back(UserPreferences{std::move(user), it->second});
      }
      return out;
    });
  }

  bool any_preferences() const noexcept override {
    return any_preferences_.load(std::memory_order_relaxed);
  }

  void trim_inboxes(InboxRetention rule, Completion<std::uint64_t> done) override {
    run(done, [&]() -> Result<std::uint64_t> {
      std::uint64_t removed = 0;
      for (auto& [id, stream] : streams_) {
        if (!id.is_inbox()) continue;
        auto& entries = stream.entries;
        for (auto it = entries.begin(); it != entries.end() && removed < rule.limit;) {
          const bool too_many = rule.max_entries > 0 && entries.size() > rule.max_entries;
          if (too_many || it->second.notification->id < rule.before_id) {
            it = entries.erase(it);  // `too_many` removes the oldest: `it` is still the first
            ++removed;
          } else {
            ++it;
          }
        }
        if (removed == rule.limit) break;
      }
      return removed;
    });
  }

  void topics(std::string after, std::size_t limit,
              Completion<std::vector<TopicCount>> done) override {
    run(done, [&]() -> Result<std::vector<TopicCount>> {
      std::vector<TopicCount> page;
      // unsubscribe erases a topic's set when its last subscriber leaves: every count >= 1
      for (auto it = subscribers_.upper_bound(after);
           it != subscribers_.end() && page.size() < limit; ++it) {
        page.push_back(TopicCount{it->first, it->second.size()});
      }
      return page;
    });
  }

 private:
  template <class T, class Work>
  void run(const Completion<T>& done, Work&& work) {
    memory::run_locked(mutex_, available_, "store", done, std::forward<Work>(work));
  }

  const Stream* find_stream(const StreamId& id) const {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }

  // Unknown streams are empty streams of this store's epoch.
  StreamInfo info_locked(const StreamId& id) const {
    StreamInfo info;
    info.epoch = epoch_;
    if (const Stream* stream = find_stream(id)) {
      info.head = stream->head;
      info.trimmed_through = stream->trimmed_through;
    }
    return info;
  }

  Result<AppendResult> append_locked(const AppendRequest& request) {
    if (!request.notification) {
      return Status(Errc::invalid_argument, "append: the request carries no notification");
    }
    const Notification& notification = *request.notification;
    AppendResult out;
    out.id = notification.id;

    // Only the first chunk of a publish checks and records the key: the following chunks of
    // a fan-out carry the same notification and must not be mistaken for retries.
    if (request.first_chunk && !notification.idempotency_key.empty()) {
      prune_idempotency(notification.created_at, request.dedup_window);
      IdempotencyKey key{request.idempotency_scope, notification.idempotency_key};
      auto it = idempotency_.find(key);
      if (it != idempotency_.end() &&
          it->second.created_at > notification.created_at - request.dedup_window) {
        if (!same_request(it->second.fingerprint, request.fingerprint))
          return idempotency_conflict(notification.idempotency_key);
        out.duplicate = true;
        out.id = it->second.id;
        return out;
      }
      idempotency_[std::move(key)] =
          IdempotencyRecord{notification.id, notification.created_at, request.fingerprint};
    }

    out.positions.reserve(request.streams.size());
    for (const StreamId& id : request.streams) {
      Stream& stream = streams_[id];
      const Seq seq = ++stream.head;
      stream.entries.emplace_hint(stream.entries.end(), seq,
                                  StoredEntry{request.notification, false});
      out.positions.push_back(Position{id, seq, epoch_});
    }

    if (request.topic_retention > 0) {
      for (const StreamId& id : request.streams) {
        if (id.kind() != StreamId::Kind::topic) continue;  // inboxes are never trimmed
        Stream& stream = streams_[id];
        while (stream.entries.size() > request.topic_retention) {
          auto oldest = stream.entries.begin();
          stream.trimmed_through = std::max(stream.trimmed_through, oldest->first);
          stream.entries.erase(oldest);
        }
      }
    }
    return out;
  }

  // Forgets idempotency records that no request can match any more. Amortised: a sweep runs
  // only when the table doubled since the last one. It measures age against the largest
  // window seen so far, so a smaller window in one request never drops a record a larger
  // window still needs (clock skew between publishers beyond the window is not covered).
  void prune_idempotency(TimePoint now, Duration window) {
    max_dedup_window_ = std::max(max_dedup_window_, window);
    if (idempotency_.size() < prune_threshold_) return;
    const TimePoint horizon = now - max_dedup_window_;
    for (auto it = idempotency_.begin(); it != idempotency_.end();) {
      if (it->second.created_at <= horizon) {
        it = idempotency_.erase(it);
      } else {
        ++it;
      }
    }
    prune_threshold_ = std::max<std::size_t>(kMinPruneThreshold, 2 * idempotency_.size());
  }

  Result<ReadResult> read_locked(const StreamId& id, const ReadQuery& query) const {
    ReadResult out;
    out.info = info_locked(id);
    const Stream* stream = find_stream(id);
    if (stream == nullptr || query.limit == 0 || query.before <= query.after) return out;

    const auto first = stream->entries.upper_bound(query.after);
    const auto last = stream->entries.lower_bound(query.before);
    // Takes one matching entry; reports false once the page is full and another matched.
    auto take = [&](std::map<Seq, StoredEntry>::const_iterator it) {
      if (it->second.notification->expired(query.now)) return true;
      if (out.entries.size() == query.limit) {
        out.more = true;
        return false;
      }
      out.entries.push_back(Entry{id, it->first, it->second.read, it->second.notification});
      return true;
    };
    if (query.order == ReadQuery::Order::ascending) {
      for (auto it = first; it != last; ++it) {
        if (!take(it)) break;
      }
    } else {
      for (auto it = last; it != first;) {
        if (!take(--it)) break;
      }
    }
    return out;
  }

  static constexpr std::size_t kMinPruneThreshold = 1024;

  const Epoch epoch_;
  mutable std::mutex mutex_;
  bool available_ = true;
  std::unordered_map<StreamId, Stream, StreamIdHash> streams_;
  std::map<IdempotencyKey, IdempotencyRecord> idempotency_;
  Duration max_dedup_window_{0};
  std::size_t prune_threshold_ = kMinPruneThreshold;
  std::map<UserId, Seq> ack_cursors_;
  std::map<std::string, std::set<UserId>> subscribers_;    // topic -> users
  std::map<UserId, std::set<std::string>> subscriptions_;  // user -> topics
  std::map<UserId, std::map<Seq, DeadLetter>> dead_letters_;
  std::unordered_map<UserId, Preferences> preferences_;  // only non-empty ones
  std::atomic<bool> any_preferences_{false};              // !preferences_.empty()
};

}  // namespace

std::shared_ptr<MemoryStore> MemoryStore::create() {
  return std::make_shared<MemoryStoreImpl>();
}

}  // namespace herald
