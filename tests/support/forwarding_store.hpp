#pragma once
// A Store that forwards every call to another one. Tests derive from it and override the
// one call they observe or break (recording append sizes, a store that never answers…);
// HoldingStore holds appends until the test lets them go.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "herald/store.hpp"

namespace herald::test {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}

  void append(AppendRequest r, Completion<AppendResult> d) override { inner_->append(r, d); }
  void read(StreamId s, ReadQuery q, Completion<ReadResult> d) override { inner_->read(s, q, d); }
  void inbox_state(UserId u, TimePoint n, Completion<InboxState> d) override {
    inner_->inbox_state(u, n, d);
  }
  void mark_read(UserId u, std::vector<Seq> s, Completion<std::uint64_t> d) override {
    inner_->mark_read(u, s, d);
  }
  void remove(UserId u, std::vector<Seq> s, Completion<std::uint64_t> d) override {
    inner_->remove(u, s, d);
  }
  void advance_ack_cursor(UserId u, Seq s, Completion<Seq> d) override {
    inner_->advance_ack_cursor(u, s, d);
  }
  void subscribe(UserId u, std::string t, Completion<bool> d) override { inner_->subscribe(u, t, d); }
  void unsubscribe(UserId u, std::string t, Completion<bool> d) override {
    inner_->unsubscribe(u, t, d);
  }
  void subscribers(std::string t, UserId a, std::size_t l,
                   Completion<std::vector<UserId>> d) override {
    inner_->subscribers(t, a, l, d);
  }
  void subscriptions(UserId u, std::string a, std::size_t l,
                     Completion<std::vector<std::string>> d) override {
    inner_->subscriptions(u, a, l, d);
  }
  void add_dead_letter(DeadLetter l, Done d) override { inner_->add_dead_letter(l, d); }
  void dead_letters(UserId u, Seq a, std::size_t l,
                    Completion<std::vector<DeadLetter>> d) override {
    inner_->dead_letters(u, a, l, d);
  }
  void remove_dead_letter(UserId u, Seq s, Completion<bool> d) override {
    inner_->remove_dead_letter(u, s, d);
  }
  void purge_expired(TimePoint n, Completion<std::uint64_t> d) override {
    inner_->purge_expired(n, d);
  }
  void set_preferences(UserId u, Preferences p, Done d) override {
    inner_->set_preferences(u, p, d);
  }
  void preferences(std::vector<UserId> u, Completion<std::vector<UserPreferences>> d) override {
    inner_->preferences(u, d);
  }
  bool any_preferences() const noexcept override { return inner_->any_preferences(); }
  void trim_inboxes(InboxRetention r, Completion<std::uint64_t> d) override {
    inner_->trim_inboxes(r, d);
  }
  void topics(std::string after, std::size_t limit,
              Completion<std::vector<TopicCount>> d) override {
    inner_->topics(std::move(after), limit, d);
  }

 protected:
  std::shared_ptr<Store> inner_;
};

// A Store that holds every append until the test releases it (to the real store, or as a
// failure), so a test sees which chunks are in flight at once.
class HoldingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  struct Held {
    AppendRequest request;
    Completion<AppendResult> done;
  };
  std::vector<Held> held;
  std::size_t appends = 0;

  void append(AppendRequest r, Completion<AppendResult> d) override {
    ++appends;
    held.push_back(Held{std::move(r), std::move(d)});
  }
  // Lets the oldest held append go (stored) or fail.
  void release(bool fail = false) {
    Held h = std::move(held.front());
    held.erase(held.begin());
    if (fail) return h.done(Status(Errc::unavailable, "store down"));
    inner_->append(std::move(h.request), std::move(h.done));
  }
};

}  // namespace herald::test
