#pragma once
// A private redis-server for tests: loopback, a free port, no persistence (unless `extra`
// turns AOF on), a temporary directory; killed, restarted (empty without AOF, on the same
// port and directory), paused and resumed by the test.
// Fails the test (doctest REQUIRE) if redis-server cannot be started: never a silent skip.

#include <unistd.h>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "support/child_process.hpp"
#include "support/free_port.hpp"

namespace herald::test {

class RedisServer {
 public:
  /// Starts redis-server with `extra` arguments (e.g. {"--requirepass", "s3cret"}).
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    char dir[] = "/tmp/herald-redis-XXXXXX";
    REQUIRE_MESSAGE(::mkdtemp(dir) != nullptr, "cannot create a temporary directory");
    dir_ = dir;
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_port();
      if (!launch()) process_.reset();  // the port was taken meanwhile: another one
    }
    REQUIRE_MESSAGE(process_ != nullptr, "redis-server did not start: " << last_log_);
  }
  ~RedisServer() {
    process_.reset();  // SIGKILL if still running
    std::error_code ignored;  // with --appendonly yes the directory holds the AOF
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }

  /// Kills the server (SIGKILL) and waits for it to be gone.
  void kill() {
    if (process_) process_->stop(SIGKILL);
    process_.reset();
  }
  /// Starts it again, empty, on the same port.
  void restart() {
    kill();
    REQUIRE_MESSAGE(launch(), "redis-server did not restart: " << last_log_);
  }
  /// Freezes (SIGSTOP) and thaws (SIGCONT) the server: connections stay open, unanswered.
  void pause() { process_->signal(SIGSTOP); }
  void resume() { process_->signal(SIGCONT); }

 private:
  bool launch() {
    std::vector<std::string> argv{"/usr/bin/redis-server", "--port", std::to_string(port_),
                                  "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                  "--dir", dir_, "--daemonize", "no", "--logfile", ""};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    process_ = std::make_unique<ChildProcess>(argv);
    const bool ready = process_->wait_log("Ready to accept connections");
    last_log_ = process_->log();
    if (!ready) process_.reset();
    return ready;
  }

  std::vector<std::string> extra_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::string last_log_;
};

}  // namespace herald::test
