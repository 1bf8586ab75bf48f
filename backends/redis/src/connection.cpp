// Connection: hiredis's asynchronous API on Asio (see connection.hpp for the contract).
//
// The adapter (Watch) follows hiredis's own libuv adapter: hiredis calls addRead/addWrite
// when it wants the socket to be readable/writable and cleanup when it frees the context;
// we wait with async_wait on a stream_descriptor over hiredis's fd and call
// redisAsyncHandleRead/Write. hiredis owns (and closes) the fd: the descriptor is released,
// never closed.
//
// A context is freed by hiredis itself (connect error, I/O error, the server closing) or by
// us (timeout, drop, stop); either way its cleanup hook runs, and context_gone() is the one
// place that turns a lost context into "down + reconnect later". Before a context is freed
// hiredis calls every pending reply callback with a NULL reply: those commands fail with
// Errc::unavailable.

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <chrono>
#include <string>
#include <utility>

#include "connection.hpp"

#include <asio/bind_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace herald::redis {
namespace {

Reply convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = r->type == REDIS_REPLY_STRING   ? Reply::Type::string
                 : r->type == REDIS_REPLY_STATUS ? Reply::Type::status
                                                 : Reply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = Reply::Type::nil;
  }
  return out;
}

std::string millis(Duration d) { return std::to_string(d.count()) + " ms"; }

}  // namespace

// ---- the Asio adapter of one hiredis context ------------------------------------------

struct Connection::Watch : std::enable_shared_from_this<Watch> {
  Watch(const Strand& strand, int fd, std::weak_ptr<Connection> owner_, std::uint64_t gen)
      : descriptor(strand, fd), owner(std::move(owner_)), generation(gen) {}

  asio::posix::stream_descriptor descriptor;
  redisAsyncContext* ac = nullptr;  // null once hiredis freed the context
  std::weak_ptr<Connection> owner;
  const std::uint64_t generation;
  bool want[2] = {false, false};   // [0] read, [1] write: what hiredis asked for
  bool armed[2] = {false, false};  // an async_wait is outstanding

  // Waits for readiness in direction `d` (0 read, 1 write) if hiredis wants it.
  void arm(int d) {
    if (!want[d] || armed[d] || !ac) return;
    armed[d] = true;
    const auto what = d == 0 ? asio::posix::descriptor_base::wait_read
                             : asio::posix::descriptor_base::wait_write;
    descriptor.async_wait(what, [self = shared_from_this(), d](const std::error_code& ec) {
      self->armed[d] = false;
      if (ec || !self->ac || !self->want[d]) return;
      if (d == 0) {
        redisAsyncHandleRead(self->ac);
      } else {
        redisAsyncHandleWrite(self->ac);
      }
      self->arm(d);  // no-op if hiredis freed the context meanwhile
    });
  }

  static Watch& of(void* privdata) { return *static_cast<Watch*>(privdata); }
  static void add_read(void* p) { of(p).want[0] = true, of(p).arm(0); }
  static void del_read(void* p) { of(p).want[0] = false; }
  static void add_write(void* p) { of(p).want[1] = true, of(p).arm(1); }
  static void del_write(void* p) { of(p).want[1] = false; }

  // hiredis is freeing the context and will close the fd.
  static void cleanup(void* p) {
    Watch& w = of(p);
    const std::string reason = w.ac && w.ac->err ? std::string(w.ac->errstr) : std::string();
    w.ac = nullptr;
    w.want[0] = w.want[1] = false;
    std::error_code ignored;
    w.descriptor.cancel(ignored);
    w.descriptor.release();
    if (auto c = w.owner.lock()) c->context_gone(w.generation, reason);
  }
};

struct Connection::Pending {
  Callback done;
  bool timed;
  std::uint64_t generation;
};

// ---- lifecycle ------------------------------------------------------------------------

Connection::Connection(Strand strand, RedisEndpoint endpoint, const RedisOptions& options,
                       std::string name)
    : strand_(std::move(strand)),
      endpoint_(std::move(endpoint)),
      options_(options),
      name_(std::move(name)),
      where_("redis " + endpoint_.host + ":" + std::to_string(endpoint_.port)),
      resolver_(strand_),
      connect_timer_(strand_),
      retry_timer_(strand_),
      deadline_timer_(strand_),
      backoff_(options.reconnect_min) {}

Connection::~Connection() {
  if (!ac_) return;
  // No callback may reach a destroyed object: detach before hiredis runs them.
  ac_->data = nullptr;
  watch_->owner.reset();
  redisAsyncFree(ac_);
}

void Connection::start(ConnectionEvents events) {
  events_ = std::move(events);
  connect();
}

void Connection::stop() {
  stopped_ = true;
  up_.store(false, std::memory_order_release);
  events_ = {};
  resolver_.cancel();
  queued_.clear();
  connect_timer_.cancel();
  retry_timer_.cancel();
  if (ac_) teardown("stopped");
}

void Connection::connect() {
  if (stopped_) return;
  resolving_ = true;
  resolver_.async_resolve(
      endpoint_.host, std::to_string(endpoint_.port),
      [self = shared_from_this()](const std::error_code& ec,
                                  asio::ip::tcp::resolver::results_type results) {
        if (self->stopped_ || ec == asio::error::operation_aborted) return;
        self->resolving_ = false;
        if (ec || results.empty()) {
          self->fail_queued();
          self->set_error("cannot resolve " + self->endpoint_.host + ": " + ec.message());
          self->report_down(self->last_error());
          return self->schedule_reconnect();
        }
        self->open(results.begin()->endpoint().address().to_string());
      });
}

// Starts hiredis's non-blocking connect to an address (hiredis's own resolution would
// block the loop thread), attaches the adapter and queues the handshake.
void Connection::open(const std::string& ip) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), endpoint_.port);
  if (!ac || ac->err) {
    set_error(where_ + ": " + (ac ? std::string(ac->errstr) : std::string("out of memory")));
    if (ac) redisAsyncFree(ac);
    fail_queued();
    report_down(last_error());
    return schedule_reconnect();
  }
  ++generation_;
  watch_ = std::make_shared<Watch>(strand_, ac->c.fd, weak_from_this(), generation_);
  watch_->ac = ac;
  ac->data = this;
  ac->ev.data = watch_.get();
  ac->ev.addRead = &Watch::add_read;
  ac->ev.delRead = &Watch::del_read;
  ac->ev.addWrite = &Watch::add_write;
  ac->ev.delWrite = &Watch::del_write;
  ac->ev.cleanup = &Watch::cleanup;
  ac_ = ac;

  handshake();
  for (Queued& q : std::exchange(queued_, {})) send(std::move(q.args), std::move(q.done), true);

  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this(), gen = generation_](const std::error_code& ec) {
    if (ec || gen != self->generation_ || !self->ac_ || self->up()) return;
    self->teardown(self->where_ + ": no connection within " + millis(self->options_.connect_timeout));
  });
}

// AUTH and SELECT when configured, then PING: its answer proves the connection works.
void Connection::handshake() {
  auto check = [self = shared_from_this(), gen = generation_](const char* step) {
    return [self, gen, step](Result<Reply> r) {
      if (gen != self->generation_ || !r.ok()) return;  // the loss is handled elsewhere
      if (r->is_error()) self->teardown(self->where_ + ": " + step + " failed: " + r->str);
    };
  };
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!endpoint_.user.empty()) auth.push_back(endpoint_.user);
    auth.push_back(endpoint_.password);
    send(std::move(auth), check("AUTH"), false);
  }
  if (endpoint_.db != 0) send({"SELECT", std::to_string(endpoint_.db)}, check("SELECT"), false);
  send({"PING"},
       [self = shared_from_this(), gen = generation_](Result<Reply> r) {
         if (gen != self->generation_ || !r.ok() || r->is_error() || self->stopped_) return;
         self->connect_timer_.cancel();
         self->backoff_ = self->options_.reconnect_min;
         self->set_error("");
         self->up_.store(true, std::memory_order_release);
         if (self->events_.on_up) self->events_.on_up();
       },
       false);
}

void Connection::schedule_reconnect() {
  if (stopped_) return;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
  retry_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (!ec) self->connect();
  });
}

void Connection::drop(const std::string& reason) {
  if (ac_) teardown(where_ + ": " + reason);
}

void Connection::teardown(const std::string& reason) {
  set_error(reason);
  redisAsyncFree(ac_);  // never called from inside a hiredis callback: frees now
}

// The one place a lost context is handled (called from hiredis's cleanup hook).
void Connection::context_gone(std::uint64_t generation, const std::string& reason) {
  if (generation != generation_ || !ac_) return;
  ac_ = nullptr;
  watch_.reset();
  deadlines_.clear();
  connect_timer_.cancel();
  up_.store(false, std::memory_order_release);
  if (!reason.empty()) set_error(where_ + ": " + reason);
  if (stopped_) return;
  report_down(last_error());
  schedule_reconnect();
}

void Connection::report_down(const std::string& reason) {
  if (stopped_ || !events_.on_down) return;
  asio::post(strand_, [self = shared_from_this(), reason] {
    if (!self->stopped_ && self->events_.on_down) self->events_.on_down(reason);
  });
}

// ---- commands -------------------------------------------------------------------------

void Connection::command(std::vector<std::string> args, Callback done) {
  send(std::move(args), std::move(done), true);
}

void Connection::send(std::vector<std::string> args, Callback done, bool timed) {
  if (!ac_ && resolving_ && !stopped_) {  // the address is being looked up: wait for it
    queued_.push_back(Queued{std::move(args), std::move(done)});
    return;
  }
  if (!ac_) {
    asio::post(strand_, [done = std::move(done), status = unavailable("not connected")] {
      done(status);
    });
    return;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* pending = new Pending{std::move(done), timed, generation_};
  if (redisAsyncCommandArgv(ac_, &Connection::on_reply, pending, static_cast<int>(argv.size()),
                            argv.data(), lengths.data()) != REDIS_OK) {
    std::unique_ptr<Pending> owned(pending);
    asio::post(strand_, [done = std::move(owned->done), status = unavailable("disconnecting")] {
      done(status);
    });
    return;
  }
  if (!timed) return;
  deadlines_.push_back(std::chrono::steady_clock::now() + options_.command_timeout);
  arm_deadline();
}

// One timer for the oldest unanswered command (replies come in command order). It is
// never cancelled: when it fires it re-reads the queue, which teardown may have emptied.
void Connection::arm_deadline() {
  if (deadline_armed_ || deadlines_.empty()) return;
  deadline_armed_ = true;
  deadline_timer_.expires_at(deadlines_.front());
  deadline_timer_.async_wait([self = shared_from_this()](const std::error_code&) {
    self->deadline_armed_ = false;
    if (self->stopped_ || self->deadlines_.empty()) return;
    if (self->deadlines_.front() <= std::chrono::steady_clock::now()) {
      return self->teardown(self->where_ + ": no answer within " +
                            millis(self->options_.command_timeout));
    }
    self->arm_deadline();
  });
}

void Connection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(privdata));
  auto* self = static_cast<Connection*>(ac->data);
  // Destroyed or stopped: the owner is gone or going, and nobody waits for the answer.
  if (!self || self->stopped_) return;
  if (pending->timed && pending->generation == self->generation_ && !self->deadlines_.empty())
    self->deadlines_.pop_front();
  Result<Reply> result = reply ? Result<Reply>(convert(static_cast<redisReply*>(reply)))
                               : Result<Reply>(self->unavailable("connection lost"));
  asio::post(self->strand_, [done = std::move(pending->done), r = std::move(result)]() mutable {
    done(std::move(r));
  });
}

// ---- subscriber mode ------------------------------------------------------------------

void Connection::subscribe(const std::vector<std::string>& channels) {
  pubsub("SUBSCRIBE", channels);
}

void Connection::unsubscribe(const std::vector<std::string>& channels) {
  pubsub("UNSUBSCRIBE", channels);
}

// (UN)SUBSCRIBE: hiredis files the callback under each channel; it then gets the
// confirmations and the messages of that channel.
void Connection::pubsub(const char* verb, const std::vector<std::string>& channels) {
  if (!ac_ || channels.empty()) return;
  std::vector<const char*> argv{verb};
  std::vector<std::size_t> lengths{std::char_traits<char>::length(verb)};
  for (const std::string& c : channels) {
    argv.push_back(c.data());
    lengths.push_back(c.size());
  }
  redisAsyncCommandArgv(ac_, &Connection::on_push_reply, nullptr, static_cast<int>(argv.size()),
                        argv.data(), lengths.data());
}

void Connection::on_push_reply(redisAsyncContext* ac, void* reply, void*) {
  auto* self = static_cast<Connection*>(ac->data);
  if (!self || !reply || self->stopped_) return;  // NULL: the context is being freed
  asio::post(self->strand_, [self = self->shared_from_this(),
                             push = convert(static_cast<redisReply*>(reply))] {
    if (!self->stopped_ && self->events_.on_push) self->events_.on_push(push);
  });
}

// ---- errors ---------------------------------------------------------------------------

void Connection::fail_queued() {
  for (Queued& q : std::exchange(queued_, {})) {
    asio::post(strand_, [done = std::move(q.done), status = unavailable("cannot connect")] {
      done(status);
    });
  }
}

void Connection::set_error(const std::string& reason) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  last_error_ = reason;
}

std::string Connection::last_error() const {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return last_error_;
}

Status Connection::unavailable(const std::string& what) const {
  std::string reason = last_error();
  return Status(Errc::unavailable,
                where_ + " (" + name_ + "): " + what + (reason.empty() ? "" : "; " + reason));
}

}  // namespace herald::redis
