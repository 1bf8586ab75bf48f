#pragma once
// A child process for tests (herald-server, redis-server, nginx, …): started with
// posix_spawn, its stdout and stderr collected by a reader thread, stopped by its PID only.
//
//   ChildProcess p({"/usr/bin/redis-server", "--port", "6390"});
//   REQUIRE(p.wait_log("Ready to accept connections"));
//   int code = p.stop(SIGTERM);  // exit status, 128+n for death by signal n
//
// Children die with the test program, even when it aborts or is killed: a watchdog process
// (one per test program, ChildWatchdog) holds their PIDs and SIGKILLs those still running
// once the test program's end of its pipe closes.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace herald::test {

/// The watchdog of a test program's children: a forked process that reads "+pid" and
/// "-pid" lines from a pipe and, at end of file (the test program exited, however),
/// SIGKILLs every PID still listed. Forked before any child it guards; it uses only
/// async-signal-safe calls (the test program may have threads).
class ChildWatchdog {
 public:
  /// This process's watchdog (a forked process gets its own: it must not register its
  /// children with its parent's, which outlives it).
  static ChildWatchdog& instance() {
    static std::mutex mutex;
    static ChildWatchdog* current = nullptr;  // leaked on purpose: lives until exit
    std::lock_guard<std::mutex> lock(mutex);
    if (!current || current->owner_ != ::getpid()) current = new ChildWatchdog();
    return *current;
  }
  void watch(pid_t pid) { tell('+', pid); }
  /// Before the PID is reaped (until then it cannot be reused).
  void forget(pid_t pid) { tell('-', pid); }

 private:
  static constexpr int kMaxChildren = 4096;

  ChildWatchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      return;
    }
    if (pid == 0) {
      ::close(fds[1]);
      guard(fds[0]);  // never returns
    }
    ::close(fds[0]);
    fd_ = fds[1];
  }

  [[noreturn]] static void guard(int fd) {
    // Holds nothing of the test program's: an inherited socket or another child's output
    // pipe kept open here would never see its end.
    ::dup2(fd, STDIN_FILENO);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (::close_range(3, ~0U, 0) != 0)
      for (int other = 3; other < 65536; ++other) ::close(other);
    fd = STDIN_FILENO;
    static pid_t children[kMaxChildren];
    int count = 0;
    char line[32];
    int used = 0;
    char c;
    while (::read(fd, &c, 1) == 1) {
      if (c != '\n') {
        if (used < static_cast<int>(sizeof line) - 1) line[used++] = c;
        continue;
      }
      pid_t pid = 0;
      for (int i = 1; i < used; ++i) pid = pid * 10 + (line[i] - '0');
      if (used > 1 && line[0] == '+' && count < kMaxChildren) children[count++] = pid;
      for (int i = 0; used > 1 && line[0] == '-' && i < count; ++i)
        if (children[i] == pid) children[i] = children[--count];
      used = 0;
    }
    for (int i = 0; i < count; ++i) ::kill(children[i], SIGKILL);
    ::_exit(0);
  }

  void tell(char op, pid_t pid) {
    if (fd_ < 0 || pid <= 0) return;
    const std::string line = op + std::to_string(pid) + "\n";
    std::lock_guard<std::mutex> lock(mutex_);
    [[maybe_unused]] const ssize_t n = ::write(fd_, line.data(), line.size());  // atomic: < PIPE_BUF
  }

  const pid_t owner_ = ::getpid();
  int fd_ = -1;
  std::mutex mutex_;
};

class ChildProcess {
 public:
  using Millis = std::chrono::milliseconds;

  /// Starts argv[0] (a path) with the arguments, in the directory `cwd` (empty: this
  /// process's). If it cannot be started, running() is false and log() says why.
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& cwd = {}) {
    spawn(argv, cwd);
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exited_) stop(SIGKILL, Millis(5000));
    if (reader_.joinable()) reader_.join();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }

  /// Everything the process wrote to stdout and stderr so far.
  std::string log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  /// Waits until the output contains `text`; false on timeout or if the output ended.
  bool wait_log(const std::string& text, Millis timeout = Millis(10'000)) const {
    return wait_output([&](const std::string& log) { return log.find(text) != std::string::npos; },
                       timeout);
  }
  /// Waits until `found(output)` holds; false on timeout or if the output ended first.
  bool wait_output(const std::function<bool(const std::string&)>& found, Millis timeout) const {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return found(log_) || eof_; });
    return found(log_);
  }

  /// Sends `sig` and waits up to `timeout` for the exit; returns the exit code (128+n for
  /// a death by signal n), or -1 if it was still running (it is then killed).
  int stop(int sig = SIGTERM, Millis timeout = Millis(15'000)) {
    signal(sig);
    return wait(timeout);
  }
  /// Sends `sig` without waiting.
  void signal(int sig) {
    if (pid_ > 0 && !exited_) ::kill(pid_, sig);
  }
  /// Waits for the process to exit by itself (see stop()).
  int wait(Millis timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0 && !exited_) {
      int status = 0;
      siginfo_t info{};
      // Exited but not reaped yet (WNOWAIT): its PID cannot be reused before waitpid below.
      if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid_)
        ChildWatchdog::instance().forget(pid_);
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= until) {
        ::kill(pid_, SIGKILL);
        ChildWatchdog::instance().forget(pid_);
        ::waitpid(pid_, &status, 0);
        exited_ = true;
        return -1;
      }
      std::this_thread::sleep_for(Millis(10));  // polling waitpid: no child-exit event here
    }
    return code_;
  }

 private:
  void spawn(const std::vector<std::string>& args, const std::string& cwd) {
    // The watchdog first: forked after the pipe, it would hold the pipe's write end open
    // (fork keeps every descriptor) and the reader would never see the end of this child.
    ChildWatchdog& watchdog = ChildWatchdog::instance();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return fail("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    if (rc == 0) watchdog.watch(pid_);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      return fail("cannot start " + args[0] + ": error " + std::to_string(rc));
    }
    reader_ = std::thread([this, fd = fds[0]] { read_all(fd); });
  }

  void fail(const std::string& why) {
    pid_ = -1;
    exited_ = true;
    std::lock_guard<std::mutex> lock(mutex_);
    log_ = why;
    eof_ = true;
  }

  void read_all(int fd) {
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mutex_);
      log_.append(buffer, static_cast<std::size_t>(n));
      changed_.notify_all();
    }
    ::close(fd);
    std::lock_guard<std::mutex> lock(mutex_);
    eof_ = true;
    changed_.notify_all();
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::string log_;
  bool eof_ = false;
};

}  // namespace herald::test
