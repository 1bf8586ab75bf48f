// RedisBroker: the Broker contract (herald/broker.hpp) over Redis Pub/Sub.
//
// Two connections on one strand: `pub_` pipelines PUBLISH commands; `sub_` is in subscriber
// mode and only ever sends (UN)SUBSCRIBE (hiredis 0.14 breaks a subscribed context that
// sends anything else). Channels are the engine's names behind RedisOptions::channel_prefix.
//
// Subscriptions: `desired_` is what the engine asked for; `confirmed_` what Redis confirmed
// on the current subscriber connection. A subscribe completes on Redis's confirmation, so
// a message published after it by anyone reaches us. When the subscriber connection comes
// back, every desired channel is subscribed again and, once all are confirmed, on_reset is
// reported (messages in between may be lost; the engine re-reads from the Store).
//
// Liveness: the subscriber cannot PING, so the broker publishes a token to a channel of its
// own every liveness_interval; a token not echoed within command_timeout means the
// subscriber connection is dead (e.g. a network cut without a TCP reset) and it is dropped.
//
// The engine's side (its executor, the completions it handed us) lives in a Gate, never on
// the strand: when the RedisBroker object is destroyed the gate closes at once, on the
// destroying thread, and drops them — the engine and its io_context may go right after,
// while our strand still finishes the disconnect. Events are posted through the gate and
// check `reporting` when they run: stop() clears it before its completion is posted, so
// nothing is reported after that completion.

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#include "connection.hpp"
#include "herald/redis/redis.hpp"

namespace herald::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string random_token() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  return std::to_string(v);
}

// The engine's executor and the completions in flight, usable from any thread.
class Gate {
 public:
  explicit Gate(std::shared_ptr<Executor> executor) : executor_(std::move(executor)) {}

  using Id = std::uint64_t;  // 0: none (the gate was closed)

  /// Keeps `done` until finish(id, …) or close().
  Id hold(Done done) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!executor_) return 0;
    held_.emplace(++next_, std::move(done));
    return next_;
  }
  /// Completes a held completion once; no-op if it was finished or the gate closed.
  void finish(Id id, const Status& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = held_.find(id);
    if (it == held_.end()) return;
    Done done = std::move(it->second);
    held_.erase(it);
    done(s);
  }
  /// Posts `task` to the engine's executor unless closed.
  void post(Executor::Task task) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (executor_) executor_->post(std::move(task));
  }
  /// Drops everything that refers to the engine. Nothing is posted after this returns.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_.clear();
    executor_.reset();
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<Executor> executor_;
  std::map<Id, Done> held_;
  Id next_ = 0;
};

// The broker's state and work, on one strand (see the top of the file).
class BrokerCore : public std::enable_shared_from_this<BrokerCore> {
 public:
  using Id = Gate::Id;

  BrokerCore(asio::io_context& io, std::shared_ptr<Executor> events, RedisOptions options)
      : options_(std::move(options)),
        strand_(asio::make_strand(io)),
        gate_(std::move(events)),
        pub_(std::make_shared<Connection>(strand_, checked_endpoint(options_), options_,
                                          "broker publisher")),
        sub_(std::make_shared<Connection>(strand_, checked_endpoint(options_), options_,
                                          "broker subscriber")),
        liveness_channel_(options_.channel_prefix + "herald:liveness:" + random_token()),
        liveness_timer_(strand_) {}

  Gate& gate() { return gate_; }
  bool connected() const { return pub_->up() && sub_->up(); }
  std::string last_error() const {
    std::string e = sub_->last_error();
    return e.empty() ? pub_->last_error() : e;
  }
  /// From now on no event is reported (stop() was called). Any thread.
  void mute() { reporting_->store(false, std::memory_order_release); }

  template <class Work>
  void on_strand(Work work) {
    asio::post(strand_, [self = shared_from_this(), work = std::move(work)]() mutable {
      work(*self);
    });
  }

  // ---- Broker operations, on the strand; `done` is a completion held by the gate ----

  void start(BrokerEvents events, Id done) {
    if (started_ || stopped_) return finish(done, Status(Errc::invalid_argument, "broker already started"));
    started_ = true;
    events_ = std::make_shared<const BrokerEvents>(std::move(events));
    start_done_ = done;
    std::weak_ptr<BrokerCore> weak = weak_from_this();
    ConnectionEvents sub_events;
    sub_events.on_up = [weak] {
      if (auto self = weak.lock()) self->on_sub_up();
    };
    sub_events.on_down = [weak](const std::string& reason) {
      if (auto self = weak.lock()) self->on_sub_down(reason);
    };
    sub_events.on_push = [weak](const Reply& push) {
      if (auto self = weak.lock()) self->on_push(push);
    };
    sub_->start(std::move(sub_events));
    pub_->start({});
    arm_liveness();
  }

  void subscribe(const std::string& channel, Id done) {
    if (Status s = usable(); !s.ok()) return finish(done, s);
    if (confirmed_.count(channel) != 0) return finish(done, Status::ok_status());
    desired_.insert(channel);
    if (!sub_->up()) return finish(done, down_status());  // restored when the subscriber is back
    auto& waiting = pending_sub_[channel];
    waiting.push_back(done);
    if (waiting.size() == 1) sub_->subscribe({options_.channel_prefix + channel});
  }

  void unsubscribe(const std::string& channel, Id done) {
    if (Status s = usable(); !s.ok()) return finish(done, s);
    desired_.erase(channel);
    const bool on_server = confirmed_.erase(channel) != 0 || pending_sub_.count(channel) != 0;
    if (!on_server || !sub_->up()) return finish(done, Status::ok_status());
    auto& waiting = pending_unsub_[channel];
    waiting.push_back(done);
    if (waiting.size() == 1) sub_->unsubscribe({options_.channel_prefix + channel});
  }

  void publish(const std::string& channel, std::string payload, Id done) {
    if (Status s = usable(); !s.ok()) return finish(done, s);
    pub_->command({"PUBLISH", options_.channel_prefix + channel, std::move(payload)},
                  [self = shared_from_this(), done](Result<Reply> r) {
                    Status s = r.ok() ? Status() : r.status();
                    if (r.ok() && r->is_error()) s = Status(Errc::internal, "PUBLISH: " + r->str);
                    self->finish(done, s);
                  });
  }

  void stop(Id done) {
    shutdown();
    finish(done, Status::ok_status());
  }

  // Stops reporting and disconnects. Idempotent.
  void shutdown() {
    mute();
    if (stopped_) return;
    stopped_ = true;
    liveness_timer_.cancel();
    pub_->stop();
    sub_->stop();
    const Status stopped(Errc::shutting_down, "redis broker: stopped");
    complete_all(pending_sub_, stopped);
    complete_all(pending_unsub_, stopped);
    finish_start(stopped);
  }

 private:
  Status usable() const {
    if (stopped_) return Status(Errc::shutting_down, "redis broker: stopped");
    if (!started_) return Status(Errc::invalid_argument, "redis broker: start() must be called first");
    return {};
  }

  Status down_status() const {
    return Status(Errc::unavailable, "redis broker: " + sub_->last_error());
  }

  void finish(Id done, const Status& s) { gate_.finish(done, s); }

  // Completes start() once: with the first confirmed subscription or the first failure.
  void finish_start(const Status& s) {
    if (start_done_ == 0) return;
    finish(std::exchange(start_done_, 0), s);
  }

  // ---- subscriber connection events ----

  // A (new) subscriber connection: subscribe our liveness channel and every desired one.
  void on_sub_up() {
    confirmed_.clear();
    liveness_confirmed_ = false;
    ping_outstanding_ = false;
    restoring_ = ever_up_;
    ever_up_ = true;
    std::vector<std::string> all{liveness_channel_};
    for (const std::string& c : desired_) all.push_back(options_.channel_prefix + c);
    sub_->subscribe(all);
  }

  void on_sub_down(const std::string& reason) {
    confirmed_.clear();
    liveness_confirmed_ = false;
    ping_outstanding_ = false;
    // An unsubscribe whose connection is gone has taken effect: the next connection will
    // not subscribe the channel again.
    complete_all(pending_unsub_, Status::ok_status());
    complete_all(pending_sub_, Status(Errc::unavailable, "redis broker: " + reason));
    finish_start(Status(Errc::unavailable, "redis broker: " + reason));
  }

  // ["subscribe"|"unsubscribe"|"message", channel, count|payload]
  void on_push(const Reply& push) {
    if (push.type != Reply::Type::array || push.elements.size() != 3) return;
    const std::string& kind = push.elements[0].str;
    const std::string& full = push.elements[1].str;
    if (full == liveness_channel_) return on_liveness(kind, push.elements[2]);
    if (full.compare(0, options_.channel_prefix.size(), options_.channel_prefix) != 0) return;
    const std::string channel = full.substr(options_.channel_prefix.size());
    if (kind == "message") {
      if (desired_.count(channel) != 0) report_message(channel, push.elements[2].str);
    } else if (kind == "subscribe") {
      if (desired_.count(channel) != 0) confirmed_.insert(channel);
      complete_one(pending_sub_, channel, Status::ok_status());
      check_restored();
    } else if (kind == "unsubscribe") {
      complete_one(pending_unsub_, channel, Status::ok_status());
    }
  }

  void on_liveness(const std::string& kind, const Reply& value) {
    if (kind == "subscribe") {
      liveness_confirmed_ = true;
      finish_start(Status::ok_status());
      check_restored();
    } else if (kind == "message" && value.str == ping_token_) {
      ping_outstanding_ = false;
    }
  }

  // After a reconnect: once every desired channel is confirmed, tell the engine.
  void check_restored() {
    if (!restoring_ || !liveness_confirmed_) return;
    for (const std::string& c : desired_)
      if (confirmed_.count(c) == 0) return;
    restoring_ = false;
    report([](const BrokerEvents& e) {
      if (e.on_reset) e.on_reset();
    });
  }

  // ---- liveness ----

  void arm_liveness() {
    liveness_timer_.expires_after(options_.liveness_interval);
    liveness_timer_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopped_) return;
      self->check_liveness();
      self->arm_liveness();
    });
  }

  void check_liveness() {
    if (!sub_->up() || !liveness_confirmed_ || !pub_->up()) return;
    if (ping_outstanding_) {
      if (SteadyClock::now() - ping_sent_ < options_.command_timeout) return;
      ping_outstanding_ = false;
      return sub_->drop("the liveness ping was not echoed within " +
                        std::to_string(options_.command_timeout.count()) + " ms");
    }
    ping_token_ = std::to_string(++pings_);
    ping_outstanding_ = true;
    ping_sent_ = SteadyClock::now();
    pub_->command({"PUBLISH", liveness_channel_, ping_token_}, [](Result<Reply>) {});
  }

  // ---- reporting ----

  template <class Report>
  void report(Report r) {
    gate_.post([events = events_, reporting = reporting_, r = std::move(r)] {
      if (reporting->load(std::memory_order_acquire)) r(*events);
    });
  }

  void report_message(const std::string& channel, const std::string& payload) {
    report([channel, payload](const BrokerEvents& e) {
      if (e.on_message) e.on_message(channel, payload);
    });
  }

  using Waiting = std::map<std::string, std::vector<Id>>;

  void complete_one(Waiting& waiting, const std::string& channel, const Status& s) {
    auto it = waiting.find(channel);
    if (it == waiting.end()) return;
    std::vector<Id> ids = std::move(it->second);
    waiting.erase(it);
    for (Id id : ids) finish(id, s);
  }

  void complete_all(Waiting& waiting, const Status& s) {
    Waiting all;
    all.swap(waiting);
    for (auto& entry : all)
      for (Id id : entry.second) finish(id, s);
  }

  const RedisOptions options_;
  Strand strand_;
  Gate gate_;
  const std::shared_ptr<Connection> pub_;
  const std::shared_ptr<Connection> sub_;
  const std::string liveness_channel_;  // full name, prefix included
  asio::steady_timer liveness_timer_;
  // False once stop() was called: events still queued on the engine's executor are dropped.
  const std::shared_ptr<std::atomic<bool>> reporting_ = std::make_shared<std::atomic<bool>>(true);

  // On the strand:
  bool started_ = false;
  bool stopped_ = false;
  bool ever_up_ = false;
  bool restoring_ = false;  // resubscribing after a reconnect: on_reset when done
  bool liveness_confirmed_ = false;
  bool ping_outstanding_ = false;
  std::uint64_t pings_ = 0;
  std::string ping_token_;
  SteadyClock::time_point ping_sent_{};
  Id start_done_ = 0;
  std::shared_ptr<const BrokerEvents> events_;
  std::set<std::string> desired_;
  std::set<std::string> confirmed_;
  Waiting pending_sub_;
  Waiting pending_unsub_;
};

// The object the engine holds: hands completions to the gate and the work to the strand.
class RedisBrokerImpl final : public RedisBroker {
 public:
  explicit RedisBrokerImpl(std::shared_ptr<BrokerCore> core) : core_(std::move(core)) {}
  ~RedisBrokerImpl() override {
    core_->mute();
    core_->gate().close();  // the engine may be gone next: drop everything that refers to it
    core_->on_strand([](BrokerCore& c) { c.shutdown(); });
  }

  void start(BrokerEvents events, Done done) override {
    core_->on_strand([events = std::move(events), id = hold(done)](BrokerCore& c) mutable {
      c.start(std::move(events), id);
    });
  }
  void subscribe(std::string channel, Done done) override {
    core_->on_strand([channel = std::move(channel), id = hold(done)](BrokerCore& c) {
      c.subscribe(channel, id);
    });
  }
  void unsubscribe(std::string channel, Done done) override {
    core_->on_strand([channel = std::move(channel), id = hold(done)](BrokerCore& c) {
      c.unsubscribe(channel, id);
    });
  }
  void publish(std::string channel, std::string payload, Done done) override {
    core_->on_strand([channel = std::move(channel), payload = std::move(payload),
                      id = hold(done)](BrokerCore& c) mutable {
      c.publish(channel, std::move(payload), id);
    });
  }
  void stop(Done done) override {
    core_->mute();  // no event is reported after this call, so none after stop's completion
    core_->on_strand([id = hold(done)](BrokerCore& c) { c.stop(id); });
  }
  bool connected() const override { return core_->connected(); }
  std::string last_error() const override { return core_->last_error(); }

 private:
  Gate::Id hold(Done& done) { return core_->gate().hold(std::move(done)); }

  std::shared_ptr<BrokerCore> core_;
};

}  // namespace

std::unique_ptr<RedisBroker> RedisBroker::create(asio::io_context& io,
                                                 std::shared_ptr<Executor> events,
                                                 RedisOptions options) {
  if (!events) throw Error("herald::redis: RedisBroker::create needs the engine's executor");
  return std::make_unique<RedisBrokerImpl>(
      std::make_shared<BrokerCore>(io, std::move(events), std::move(options)));
}

}  // namespace herald::redis
