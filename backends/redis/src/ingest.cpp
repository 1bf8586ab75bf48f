// RedisIngest: a consumer-group reader of one Redis Stream (see herald/redis/ingest.hpp).
//
// Two connections on one strand: `reader_` only runs the blocking XREADGROUP loop (a BLOCK
// would hold up every command pipelined behind it), `commands_` sends XACK, the dead-letter
// XADD, XAUTOCLAIM and the stats queries. Every member is touched on the strand only,
// except the atomics behind stats().
//
// An entry's life: read (or claimed) → in_flight_ → the host's handler → its outcome:
//   stored   XACK, then out of in_flight_;
//   retry    out of in_flight_, still pending in Redis: claimed again after claim_idle
//            (its delivery count grows; at max_attempts it is dead-lettered);
//   invalid  XADD <stream>:dead (reason, entry id, consumer, the original fields), XACK.
// Reading pauses while in_flight_ holds max_in_flight entries and resumes as they leave.

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "connection.hpp"
#include "herald/redis/ingest.hpp"

#include <asio/post.hpp>

namespace herald::redis {
namespace {

bool printable_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
}

// An entry of an XREADGROUP/XAUTOCLAIM reply: [id, [field, value, …]] (fields nil when the
// entry was deleted).
struct RawEntry {
  std::string id;
  std::vector<std::string> fields;  // field, value, field, value…
};

std::vector<RawEntry> entries_of(const Reply& list) {
  std::vector<RawEntry> out;
  if (list.type != Reply::Type::array) return out;
  for (const Reply& e : list.elements) {
    if (e.type != Reply::Type::array || e.elements.size() != 2) continue;
    RawEntry raw;
    raw.id = e.elements[0].str;
    if (e.elements[1].type != Reply::Type::array) continue;  // deleted meanwhile
    for (const Reply& f : e.elements[1].elements) raw.fields.push_back(f.str);
    out.push_back(std::move(raw));
  }
  return out;
}

class IngestImpl final : public RedisIngest, public std::enable_shared_from_this<IngestImpl> {
 public:
  IngestImpl(asio::io_context& io, IngestOptions options, IngestHandler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        dead_stream_(options_.stream + ":dead"),
        strand_(asio::make_strand(io)),
        claim_timer_(strand_),
        stats_timer_(strand_),
        retry_timer_(strand_) {
    const RedisEndpoint endpoint = checked_endpoint(options_.redis);
    RedisOptions reading = options_.redis;
    // A blocked XREADGROUP answers after `block`: only a longer silence is a dead server.
    reading.command_timeout = options_.block + options_.redis.command_timeout;
    reader_ = std::make_shared<Connection>(strand_, endpoint, reading, "ingest-read");
    commands_ = std::make_shared<Connection>(strand_, endpoint, options_.redis, "ingest");
  }

  ~IngestImpl() override {
    asio::post(strand_, [r = reader_, c = commands_] {
      r->stop();
      c->stop();
    });
  }

  void start() {
    asio::post(strand_, [self = shared_from_this()] {
      std::weak_ptr<IngestImpl> weak = self;
      ConnectionEvents reading;
      reading.on_up = [weak] {
        if (auto s = weak.lock()) s->reader_up();
      };
      self->reader_->start(reading);
      self->commands_->start({});
      self->arm_claim(self->options_.claim_interval);
      self->arm_stats();
    });
  }

  void stop(std::function<void()> done) override {
    asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
      self->stopping_ = true;
      self->stopped_done_ = std::move(done);
      self->reader_->stop();
      self->claim_timer_.cancel();
      self->stats_timer_.cancel();
      self->retry_timer_.cancel();
      self->maybe_finish_stop();
    });
  }

  // The owner let go without stop(): disconnect now, whatever is in flight (it stays
  // pending in Redis).
  void halt() {
    asio::post(strand_, [self = shared_from_this()] {
      self->stopping_ = true;
      self->stopped_done_ = nullptr;
      self->claim_timer_.cancel();
      self->stats_timer_.cancel();
      self->retry_timer_.cancel();
      self->reader_->stop();
      self->commands_->stop();
    });
  }

  IngestStats stats() const override {
    IngestStats s;
    s.consumed = consumed_.load(std::memory_order_relaxed);
    s.acked = acked_.load(std::memory_order_relaxed);
    s.dead_lettered = dead_lettered_.load(std::memory_order_relaxed);
    s.retried = retried_.load(std::memory_order_relaxed);
    s.claimed = claimed_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_count_.load(std::memory_order_relaxed);
    s.pending = pending_.load(std::memory_order_relaxed);
    s.lag = lag_.load(std::memory_order_relaxed);
    return s;
  }

  bool connected() const override { return reader_->up() && commands_->up(); }

  std::string last_error() const override {
    if (!reader_->up()) return reader_->last_error();
    if (!commands_->up()) return commands_->last_error();
    return {};
  }

 private:
  // ---- reading ----------------------------------------------------------------------

  // The group may be missing (first start, or a Redis that restarted empty): create it
  // before the first read on every connection (pipelined: the read waits behind it).
  void reader_up() {
    if (stopping_) return;
    reader_->command({"XGROUP", "CREATE", options_.stream, options_.group, "0", "MKSTREAM"},
                     [](Result<Reply>) {});  // BUSYGROUP (it exists) is the usual answer
    if (!reading_) read();
  }

  std::size_t room() const {
    return in_flight_.size() >= options_.max_in_flight ? 0
                                                       : options_.max_in_flight - in_flight_.size();
  }

  void read() {
    if (stopping_ || reading_) return;
    const std::size_t n = std::min(room(), options_.batch);
    if (n == 0) return;  // resumed by release()
    if (!reader_->up()) return;  // resumed by reader_up()
    reading_ = true;
    reader_->command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                      std::to_string(n), "BLOCK", std::to_string(options_.block.count()),
                      "STREAMS", options_.stream, ">"},
                     [self = shared_from_this()](Result<Reply> r) { self->on_read(std::move(r)); });
  }

  void on_read(Result<Reply> r) {
    reading_ = false;
    if (stopping_) return;
    if (!r.ok()) return;  // the connection is down: reader_up() reads again
    if (r->is_error()) {
      // NOGROUP: the stream or group vanished (Redis restarted empty, or a DEL): create it.
      if (r->str.rfind("NOGROUP", 0) == 0) return reader_up();
      retry_timer_.expires_after(options_.redis.reconnect_max);
      retry_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (!ec) self->read();
      });
      return;
    }
    // [[stream, [entries…]]], or nil after BLOCK with nothing new.
    if (r->type == Reply::Type::array && !r->elements.empty() &&
        r->elements[0].elements.size() == 2) {
      for (RawEntry& e : entries_of(r->elements[0].elements[1])) dispatch(std::move(e), 1);
    }
    read();
  }

  // ---- one entry --------------------------------------------------------------------

  void dispatch(RawEntry entry, std::uint64_t deliveries) {
    if (in_flight_.count(entry.id)) return;  // claimed back while still being handled here
    const std::string* body = nullptr;
    for (std::size_t i = 0; i + 1 < entry.fields.size(); i += 2)
      if (entry.fields[i] == options_.body_field) body = &entry.fields[i + 1];
    in_flight_.insert(entry.id);
    in_flight_count_.store(in_flight_.size(), std::memory_order_relaxed);
    if (!body) {
      return dead_letter(std::move(entry), "no field '" + options_.body_field + "'");
    }
    if (deliveries > options_.max_attempts) {
      return dead_letter(std::move(entry), "delivered " + std::to_string(deliveries) +
                                               " times without being stored (max attempts " +
                                               std::to_string(options_.max_attempts) + ")");
    }
    consumed_.fetch_add(1, std::memory_order_relaxed);
    IngestEntry handed{entry.id, *body, deliveries};
    auto fields = std::make_shared<RawEntry>(std::move(entry));
    std::weak_ptr<IngestImpl> weak = shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    handler_(handed, [weak, fields, deliveries, answered, strand = strand_](IngestOutcome o) {
      if (answered->exchange(true)) return;  // exactly once, whatever the host does
      asio::post(strand, [weak, fields, deliveries, o = std::move(o)]() mutable {
        if (auto self = weak.lock()) self->resolve(std::move(*fields), deliveries, std::move(o));
      });
    });
  }

  void resolve(RawEntry entry, std::uint64_t deliveries, IngestOutcome outcome) {
    switch (outcome.kind) {
      case IngestOutcome::Kind::stored:
        return ack(entry.id, &acked_);
      case IngestOutcome::Kind::invalid:
        return dead_letter(std::move(entry), outcome.reason);
      case IngestOutcome::Kind::retry:
        retried_.fetch_add(1, std::memory_order_relaxed);
        if (deliveries >= options_.max_attempts) {
          return dead_letter(std::move(entry), "not stored after " + std::to_string(deliveries) +
                                                   " attempts: " + outcome.reason);
        }
        return release(entry.id);  // stays pending: claimed again after claim_idle
    }
  }

  // XACK; the entry leaves in_flight_ whatever the answer (a failed XACK leaves it
  // pending: it is claimed again, and the host sees a duplicate).
  void ack(const std::string& id, std::atomic<std::uint64_t>* counter) {
    commands_->command({"XACK", options_.stream, options_.group, id},
                       [self = shared_from_this(), id, counter](Result<Reply> r) {
                         if (r.ok() && !r->is_error()) counter->fetch_add(1, std::memory_order_relaxed);
                         self->release(id);
                       });
  }

  // XADD <stream>:dead reason R entry E consumer C <original fields…>, then XACK.
  void dead_letter(RawEntry entry, const std::string& reason) {
    std::vector<std::string> args{"XADD",  dead_stream_,     "*",        "reason", reason,
                                  "entry", entry.id, "consumer", options_.consumer};
    args.insert(args.end(), entry.fields.begin(), entry.fields.end());
    commands_->command(std::move(args), [self = shared_from_this(), id = entry.id](Result<Reply> r) {
      if (!r.ok() || r->is_error()) return self->release(id);  // stays pending: tried again
      self->ack(id, &self->dead_lettered_);
    });
  }

  void release(const std::string& id) {
    in_flight_.erase(id);
    in_flight_count_.store(in_flight_.size(), std::memory_order_relaxed);
    if (stopping_) return maybe_finish_stop();
    read();
  }

  // ---- claims: entries idle in any consumer ---------------------------------------------

  void arm_claim(Duration after) {
    claim_timer_.expires_after(after);
    claim_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec && !self->stopping_) self->claim();
    });
  }

  void claim() {
    const std::size_t n = std::min(room(), options_.batch);
    if (n == 0 || !commands_->up()) return arm_claim(options_.claim_interval);
    commands_->command(
        {"XAUTOCLAIM", options_.stream, options_.group, options_.consumer,
         std::to_string(options_.claim_idle.count()), claim_cursor_, "COUNT", std::to_string(n)},
        [self = shared_from_this()](Result<Reply> r) { self->on_claim(std::move(r)); });
  }

  // [next cursor, [entries…], [deleted ids…]]. The delivery count of each claimed entry
  // (XAUTOCLAIM raised it) comes from XPENDING, pipelined right behind.
  void on_claim(Result<Reply> r) {
    if (stopping_) return;
    if (!r.ok() || r->is_error() || r->type != Reply::Type::array || r->elements.size() < 2) {
      claim_cursor_ = "0-0";
      return arm_claim(options_.claim_interval);
    }
    claim_cursor_ = r->elements[0].str.empty() ? "0-0" : r->elements[0].str;
    std::vector<RawEntry> claimed = entries_of(r->elements[1]);
    claimed_.fetch_add(claimed.size(), std::memory_order_relaxed);
    for (RawEntry& e : claimed) {
      const std::string id = e.id;
      commands_->command({"XPENDING", options_.stream, options_.group, id, id, "1"},
                         [self = shared_from_this(), e = std::move(e)](Result<Reply> p) mutable {
                           if (self->stopping_) return;
                           std::uint64_t deliveries = 2;  // claimed: delivered before at least once
                           if (p.ok() && p->type == Reply::Type::array && !p->elements.empty() &&
                               p->elements[0].elements.size() == 4)
                             deliveries = static_cast<std::uint64_t>(p->elements[0].elements[3].integer);
                           self->dispatch(std::move(e), deliveries);
                         });
    }
    // More to look at right away if the cursor did not wrap; else at the next interval.
    arm_claim(claim_cursor_ != "0-0" ? Duration::zero() : options_.claim_interval);
  }

  // ---- stats ------------------------------------------------------------------------

  void arm_stats() {
    stats_timer_.expires_after(options_.stats_interval);
    stats_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec && !self->stopping_) self->poll_stats();
    });
  }

  void poll_stats() {
    if (!commands_->up()) return arm_stats();
    // XPENDING summary: [count, smallest id, greatest id, [[consumer, count]…]].
    commands_->command({"XPENDING", options_.stream, options_.group},
                       [self = shared_from_this()](Result<Reply> r) {
                         if (r.ok() && r->type == Reply::Type::array && !r->elements.empty())
                           self->pending_.store(r->elements[0].integer, std::memory_order_relaxed);
                       });
    // XINFO GROUPS: per group a flat [name, g, …, lag, n|nil] (lag since Redis 7).
    commands_->command({"XINFO", "GROUPS", options_.stream},
                       [self = shared_from_this()](Result<Reply> r) {
                         if (r.ok() && r->type == Reply::Type::array) {
                           for (const Reply& g : r->elements) self->read_group_info(g);
                         }
                         self->arm_stats();
                       });
  }

  void read_group_info(const Reply& group) {
    if (group.type != Reply::Type::array) return;
    const auto& f = group.elements;
    bool ours = false;
    std::int64_t lag = -1;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str == "name") ours = f[i + 1].str == options_.group;
      if (f[i].str == "lag" && f[i + 1].type == Reply::Type::integer) lag = f[i + 1].integer;
    }
    if (ours) lag_.store(lag, std::memory_order_relaxed);
  }

  // ---- stop -------------------------------------------------------------------------

  void maybe_finish_stop() {
    if (!stopping_ || !in_flight_.empty() || !stopped_done_) return;
    commands_->stop();
    auto done = std::exchange(stopped_done_, nullptr);
    done();
  }

  const IngestOptions options_;
  const IngestHandler handler_;
  const std::string dead_stream_;
  Strand strand_;
  std::shared_ptr<Connection> reader_;
  std::shared_ptr<Connection> commands_;
  asio::steady_timer claim_timer_;
  asio::steady_timer stats_timer_;
  asio::steady_timer retry_timer_;

  // On the strand:
  std::set<std::string> in_flight_;
  bool reading_ = false;
  bool stopping_ = false;
  std::function<void()> stopped_done_;
  std::string claim_cursor_ = "0-0";

  std::atomic<std::uint64_t> consumed_{0}, acked_{0}, dead_lettered_{0}, retried_{0}, claimed_{0},
      in_flight_count_{0};
  std::atomic<std::int64_t> pending_{-1}, lag_{-1};
};

// Holds the implementation (shared with its handlers) and stops it when dropped.
class IngestHandle final : public RedisIngest {
 public:
  explicit IngestHandle(std::shared_ptr<IngestImpl> impl) : impl_(std::move(impl)) {}
  ~IngestHandle() override { impl_->halt(); }
  IngestHandle(const IngestHandle&) = delete;
  IngestHandle& operator=(const IngestHandle&) = delete;
  void stop(std::function<void()> done) override { impl_->stop(std::move(done)); }
  IngestStats stats() const override { return impl_->stats(); }
  bool connected() const override { return impl_->connected(); }
  std::string last_error() const override { return impl_->last_error(); }

 private:
  std::shared_ptr<IngestImpl> impl_;
};

void check(const IngestOptions& o) {
  if (o.stream.empty()) throw Error("ingest: the stream name is empty");
  if (!printable_name(o.group)) throw Error("ingest: the group must be 1..200 printable characters");
  if (!printable_name(o.consumer))
    throw Error("ingest: the consumer name must be 1..200 printable characters (the instance id)");
  if (o.body_field.empty()) throw Error("ingest: the body field name is empty");
  if (o.max_in_flight == 0) throw Error("ingest: max_in_flight must be at least 1");
  if (o.batch == 0) throw Error("ingest: batch must be at least 1");
  if (o.max_attempts == 0) throw Error("ingest: max_attempts must be at least 1");
  if (o.block <= Duration::zero() || o.claim_idle <= Duration::zero() ||
      o.claim_interval <= Duration::zero() || o.stats_interval <= Duration::zero())
    throw Error("ingest: block, claim_idle, claim_interval and stats_interval must be positive");
}

}  // namespace

IngestSource parse_ingest_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0)
    throw Error("'" + url + "': expected redis://[[user]:password@]host[:port][/db]/stream");
  const std::size_t slash = url.rfind('/');
  if (slash < scheme.size() || slash + 1 == url.size())
    throw Error("'" + url + "': no stream name (redis://host:port/stream)");
  IngestSource out{url.substr(0, slash), url.substr(slash + 1)};
  parse_redis_url(out.redis_url);  // throws on a bad host, port or db
  return out;
}

std::unique_ptr<RedisIngest> RedisIngest::create(asio::io_context& io, IngestOptions options,
                                                 IngestHandler handler) {
  check(options);
  if (!handler) throw Error("ingest: no handler");
  auto impl = std::make_shared<IngestImpl>(io, std::move(options), std::move(handler));
  impl->start();
  return std::make_unique<IngestHandle>(std::move(impl));
}

}  // namespace herald::redis
