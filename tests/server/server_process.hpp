#pragma once
// The real herald-server binary as a child process, for end-to-end tests: started with
// `--port 0`, its bound port read from the `event=listening … port=N` log line on stderr.
//
//   ServerProcess s({"--ack-timeout", "0.3"});
//   REQUIRE(s.port() != 0);
//   int code = s.stop(SIGTERM);   // exit status, -1 if it did not exit in time (then killed)

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace herald::server::test {

class ServerProcess {
 public:
  using Millis = std::chrono::milliseconds;

  /// Starts HERALD_SERVER_BINARY with `--port 0` and `args`, and waits for it to listen (or
  /// to exit). `with_port` false: no `--port 0` (for command-line tests).
  explicit ServerProcess(std::vector<std::string> args, bool with_port = true,
                         Millis timeout = Millis(10'000)) {
    std::vector<std::string> argv{HERALD_SERVER_BINARY};
    if (with_port) argv.insert(argv.end(), {"--port", "0", "--log-level", "info"});
    argv.insert(argv.end(), args.begin(), args.end());
    spawn(argv);
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return port_ != 0 || eof_; });
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) stop(SIGKILL, Millis(5000));
    if (reader_.joinable()) reader_.join();
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// The bound port; 0 if the server never logged `event=listening`.
  std::uint16_t port() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return port_;
  }
  /// Everything the process wrote to stderr so far.
  std::string log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  /// Waits until the log contains `text`.
  bool wait_log(const std::string& text, Millis timeout = Millis(5000)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return log_.find(text) != std::string::npos || eof_;
    }) && log_.find(text) != std::string::npos;
  }

  /// Sends `sig` and waits up to `timeout` for the exit; returns the exit code (128+n for
  /// a death by signal n), or -1 if it was still running (it is then killed).
  int stop(int sig = SIGTERM, Millis timeout = Millis(15'000)) {
    if (!exited_) ::kill(pid_, sig);
    return wait(timeout);
  }
  /// Sends `sig` without waiting.
  void signal(int sig) {
    if (!exited_) ::kill(pid_, sig);
  }
  /// Waits for the process to exit by itself (see stop()).
  int wait(Millis timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        exited_ = true;
        return -1;
      }
      std::this_thread::sleep_for(Millis(10));
    }
    return code_;
  }

 private:
  void spawn(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      pid_ = -1;
      exited_ = true;
      eof_ = true;
      return;
    }
    reader_ = std::thread([this, fd = fds[0]] { read_all(fd); });
  }

  void read_all(int fd) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mutex_);
      log_.append(buffer, static_cast<std::size_t>(n));
      if (port_ == 0) find_port();
      changed_.notify_all();
    }
    ::close(fd);
    std::lock_guard<std::mutex> lock(mutex_);
    eof_ = true;
    changed_.notify_all();
  }

  void find_port() {
    const std::size_t line = log_.find("event=listening");
    if (line == std::string::npos) return;
    const std::size_t end = log_.find('\n', line);
    const std::size_t at = log_.find(" port=", line);
    if (end == std::string::npos || at == std::string::npos || at > end) return;
    port_ = static_cast<std::uint16_t>(std::stoul(log_.substr(at + 6)));
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  std::uint16_t port_ = 0;
  bool eof_ = false;
};

}  // namespace herald::server::test
