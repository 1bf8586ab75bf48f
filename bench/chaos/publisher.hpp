#pragma once
// The chaos run's producer: unicast publishes (POST /notify) at a steady rate, open loop,
// each to a random user, each with its own idempotency key, to a random instance. A publish
// not answered 202 is retried with the same key (to another instance when there are
// several) after a backoff, until it is answered 202, refused for good (a 4xx other than
// 408/429), or the retry deadline passes; every attempt's outcome goes to the Ledger.
//
// Thread: one; every call and handler on the io_context's thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <asio.hpp>

#include "http_pool.hpp"
#include "ledger.hpp"

namespace herald::chaos {

struct PublisherOptions {
  std::vector<std::uint16_t> ports;  // instances on 127.0.0.1
  std::size_t users = 0;
  double rate = 0;                  // publishes per second
  std::size_t max_in_flight = 256;  // exchanges at once; more wait (and fall behind the rate)
};

class Publisher {
 public:
  using Clock = std::chrono::steady_clock;

  Publisher(asio::io_context& io, Ledger& ledger, HttpPool& http, PublisherOptions options,
            std::uint32_t seed);

  /// Publishes from `start` (now or a moment ago) until `publish_until`: publish k is due
  /// at start + k / rate. Retries until `retry_until`, then gives up.
  void start(Clock::time_point start, Clock::time_point publish_until,
             Clock::time_point retry_until);
  /// Every publish is answered 202 or given up, and no new one will start.
  bool finished() const { return done_scheduling_ && open_ == 0; }
  /// Publishes that started later than their scheduled time by more than 100 ms.
  std::uint64_t late() const { return late_; }

 private:
  struct Job {
    std::int64_t k = 0;
    std::string body;
    std::uint16_t last_port = 0;
    std::chrono::milliseconds backoff{100};
  };

  void tick();
  void attempt(const std::shared_ptr<Job>& job);
  void on_result(const std::shared_ptr<Job>& job, const HttpResult& r);
  void retry_later(const std::shared_ptr<Job>& job);
  void close(const std::shared_ptr<Job>& job);
  std::uint16_t pick_port(std::uint16_t avoid);

  asio::io_context& io_;
  Ledger& ledger_;
  HttpPool& http_;
  PublisherOptions options_;
  std::mt19937 rng_;
  asio::steady_timer tick_timer_;
  Clock::time_point start_, publish_until_, retry_until_;
  std::uint64_t scheduled_ = 0;  // publishes started by the pacing
  std::uint64_t late_ = 0;
  std::size_t open_ = 0;  // publishes neither accepted nor given up
  bool done_scheduling_ = false;
  std::deque<std::shared_ptr<Job>> waiting_;  // attempts beyond max_in_flight
};

}  // namespace herald::chaos
