#pragma once
// What the Redis backend's own tests share: the backends' io_context run by one thread for
// the duration of a case, and a bounded wait for a condition.

#include <chrono>
#include <functional>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace herald::redis {

class BackendLoop {
 public:
  BackendLoop() : work_(asio::make_work_guard(io)), thread_([this] { io.run(); }) {}
  ~BackendLoop() {
    work_.reset();
    thread_.join();
  }
  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

// Waits (bounded) until `ok()` holds; the backends reconnect on their own timers.
inline bool eventually(const std::function<bool()>& ok,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!ok()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace herald::redis
