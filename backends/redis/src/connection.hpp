#pragma once
// One hiredis asynchronous connection driven by an Asio strand: resolve, non-blocking
// connect, AUTH/SELECT, pipelined commands with timeouts, subscriber mode, and reconnect
// with backoff.
//
// Threading: every method except up() and last_error() must be called on the strand, and
// every callback and event runs on it — always posted, never inline, so a callback may
// call back into the connection.
//
// Lifetime: owned through shared_ptr (handlers hold it); destroy it before its io_context.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "herald/error.hpp"
#include "herald/redis/redis.hpp"

struct redisAsyncContext;

// GCC 12 (-O2 and -O3) reports Reply::type inside the std::optional<Reply> of a Result as
// "maybe uninitialized" wherever a callback reads it; it is always initialized (a false
// positive). Every translation unit of this backend includes this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace herald::redis {

using Strand = asio::strand<asio::io_context::executor_type>;

/// A Redis reply, copied out of hiredis (which frees its own after the callback).
struct Reply {
  enum class Type { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;  // string, status and error
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
};

/// What a connection reports, on its strand.
struct ConnectionEvents {
  std::function<void()> on_up;                              // connected and authenticated
  std::function<void(const std::string& reason)> on_down;   // lost, or an attempt failed
  std::function<void(const Reply& push)> on_push;           // subscriber mode messages
};

/// Parses the URL and checks the durations of `options`; throws herald::Error.
RedisEndpoint checked_endpoint(const RedisOptions& options);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// Yields the reply (an error reply is a value: the caller decides), or Errc::unavailable
  /// if the connection failed or the command timed out.
  using Callback = std::function<void(Result<Reply>)>;

  Connection(Strand strand, RedisEndpoint endpoint, const RedisOptions& options,
             std::string name);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects, and reconnects after every loss until stop().
  void start(ConnectionEvents events);
  /// Sends a command (pipelined). While connecting it is queued behind the handshake (and
  /// fails with the connection attempt); while down it fails at once with
  /// Errc::unavailable.
  void command(std::vector<std::string> args, Callback done);
  /// Subscriber mode: (UN)SUBSCRIBE `channels`; confirmations and messages go to on_push.
  /// No-op while down (the owner resubscribes in on_up).
  void subscribe(const std::vector<std::string>& channels);
  void unsubscribe(const std::vector<std::string>& channels);
  /// Declares the connection dead (e.g. a liveness check failed): drops it, reconnects.
  void drop(const std::string& reason);
  /// Disconnects for good. No event is reported afterwards, and commands in flight are
  /// dropped without their callback (the owner is going away).
  void stop();

  /// True from on_up to on_down. Any thread.
  bool up() const { return up_.load(std::memory_order_acquire); }
  /// The reason of the last failure, "" while up. Any thread.
  std::string last_error() const;
  /// "redis host:port", for messages.
  const std::string& where() const { return where_; }
  const Strand& strand() const { return strand_; }

 private:
  struct Watch;
  struct Pending;
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_push_reply(redisAsyncContext* ac, void* reply, void* privdata);

  void connect();
  void open(const std::string& ip);
  void handshake();
  void send(std::vector<std::string> args, Callback done, bool timed);
  void pubsub(const char* verb, const std::vector<std::string>& channels);
  void arm_deadline();
  void teardown(const std::string& reason);
  void context_gone(std::uint64_t generation, const std::string& reason);
  void schedule_reconnect();
  void set_error(const std::string& reason);
  void fail_queued();
  void report_down(const std::string& reason);
  Status unavailable(const std::string& what) const;

  Strand strand_;
  const RedisEndpoint endpoint_;
  const RedisOptions options_;
  const std::string name_;   // "broker-sub", "registry", … for messages
  const std::string where_;  // "redis host:port"
  ConnectionEvents events_;

  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer deadline_timer_;

  redisAsyncContext* ac_ = nullptr;  // the live context, or null
  std::shared_ptr<Watch> watch_;     // its Asio side
  std::uint64_t generation_ = 0;     // of the current context; older ones are ignored
  bool stopped_ = false;
  bool resolving_ = false;         // between connect() and open()
  struct Queued {
    std::vector<std::string> args;
    Callback done;
  };
  std::vector<Queued> queued_;     // commands sent while resolving
  bool deadline_armed_ = false;
  Duration backoff_;
  std::deque<std::chrono::steady_clock::time_point> deadlines_;  // of timed commands, FIFO

  std::atomic<bool> up_{false};
  mutable std::mutex error_mutex_;
  std::string last_error_ = "not connected yet";
};

}  // namespace herald::redis
