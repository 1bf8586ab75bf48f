#pragma once
// A real-socket world for herald::websocket tests: an io_context run by 2 threads, an Engine
// on the in-memory backends with a websocket::Server as its transport, on 127.0.0.1 with an
// ephemeral port. Waits are bounded; nothing sleeps in place of synchronisation.

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "herald/herald.hpp"
#include "herald/websocket/server.hpp"
#include "ws_client.hpp"

namespace herald::websocket::test {

/// Polls `condition` until it holds or `timeout` passes (for state that has no event to wait
/// on, such as counters). Returns the last value of the condition.
template <class Condition>
bool eventually(Condition condition, Millis timeout = kWait) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return condition();
    std::this_thread::sleep_for(Millis(2));
  }
  return true;
}

/// Waits for a callback-style result: `call(done)` must call `done(value)` once.
template <class T, class Call>
std::optional<T> await(Call call, Millis timeout = kWait) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  call([promise](T value) { promise->set_value(std::move(value)); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

/// This process's resident set size in bytes (VmRSS), for memory bounds.
inline std::size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoul(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

/// Under AddressSanitizer freed memory waits in a quarantine (and ThreadSanitizer keeps
/// shadow memory and histories), so RSS says nothing about what the server holds: memory
/// bounds then rest on ServerStats::buffered_bytes alone.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

/// HERALD_TEST_IO_THREADS=N gives every server of these tests N threads of its own
/// (ServerOptions::io_threads): CMake registers the suite twice, as "websocket:" without
/// and as "websocket-loops:" with 2, so every case also runs on the shared-nothing loops.
inline unsigned test_io_threads() {
  const char* n = std::getenv("HERALD_TEST_IO_THREADS");
  return n ? static_cast<unsigned>(std::strtoul(n, nullptr, 10)) : 0;
}

/// Threads that run the host's io_context in these tests. As ServerOptions::io_threads asks:
/// one next to loops of the server's own; otherwise two (its strands serialize the work).
inline unsigned test_host_threads() {
  return test_io_threads() > 0 ? 1 : 2;
}

inline ServerOptions test_server_options() {
  ServerOptions o;
  o.io_threads = test_io_threads();
  o.port = 0;
  o.close_timeout = Millis(2000);
  return o;
}

inline EngineOptions test_engine_options() {
  EngineOptions o;
  o.rate_limit.enabled = false;
  o.instance_id = "ws-test";
  return o;
}

class WsWorld {
 public:
  explicit WsWorld(ServerOptions server_options = test_server_options(),
                   EngineOptions engine_options = test_engine_options(), HttpHandler http = nullptr)
      : guard_(asio::make_work_guard(io)),
        store(MemoryStore::create()),
        registry(MemoryRegistry::create()),
        hub(MemoryBrokerHub::create()),
        executor(make_asio_executor(io)) {
    for (unsigned i = 0; i < test_host_threads(); ++i) threads_.emplace_back([this] { io.run(); });
    server = Server::create(io, server_options, std::move(http));
    Backends b;
    b.store = store;
    b.registry = registry;
    b.broker = hub->make_broker(executor);
    b.transports = {server.get()};
    engine = std::make_unique<Engine>(executor, std::move(b), engine_options);
    auto started = await<Status>([&](auto done) { engine->start(done); });
    REQUIRE(started.has_value());
    start_status = *started;
  }

  ~WsWorld() { stop(); }

  /// Engine shutdown (close 1001 to every session), then close_all, then the io threads.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (start_status.ok())
      await<bool>([&](auto done) { engine->shutdown([done] { done(true); }); });
    server->close_all();
    eventually([&] { return server->connections() == 0; });
    guard_.reset();
    io.stop();
    for (auto& t : threads_) t.join();
  }

  std::uint16_t port() const { return server->port(); }

  Result<PublishResult> publish(PublishRequest r) {
    auto out =
        await<Result<PublishResult>>([&](auto done) { engine->publish(std::move(r), done); });
    return out ? *out : Result<PublishResult>(Status(Errc::internal, "publish timed out"));
  }

  Result<PublishResult> notify(std::vector<UserId> users, std::string data = "{}") {
    PublishRequest r;
    r.target = Target::to_users(std::move(users));
    r.type = "test.note";
    r.data = std::move(data);
    return publish(std::move(r));
  }

  Result<PublishResult> broadcast(std::string data = "{}") {
    PublishRequest r;
    r.target = Target::to_everyone();
    r.type = "test.all";
    r.data = std::move(data);
    return publish(std::move(r));
  }

  /// Sessions the engine holds (authenticated, not yet forgotten).
  std::int64_t sessions() const { return engine->metrics().connections.value(); }

  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;

 public:
  std::shared_ptr<MemoryStore> store;
  std::shared_ptr<MemoryRegistry> registry;
  std::shared_ptr<MemoryBrokerHub> hub;
  std::shared_ptr<Executor> executor;
  std::unique_ptr<Server> server;
  std::unique_ptr<Engine> engine;
  Status start_status;
};

/// Connects `user` and reads its welcome frame.
inline std::unique_ptr<WsClient> connect_user(WsWorld& w, const std::string& user,
                                              WsClient::Options options = {}) {
  auto c = std::make_unique<WsClient>(w.port(), "/ws?userId=" + user, options);
  REQUIRE(c->ok());
  json welcome = c->next_op("welcome");
  REQUIRE_MESSAGE(!welcome.is_null(), "no welcome for " << user);
  return c;
}

}  // namespace herald::websocket::test
