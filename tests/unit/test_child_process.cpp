// Test hygiene: the children a test program starts die with it, even when it aborts.

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cerrno>

#include <chrono>
#include <thread>

#include "support/child_process.hpp"

using namespace herald::test;

TEST_CASE("test hygiene: a child process dies with a test program that aborts") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t program = ::fork();
  REQUIRE(program >= 0);
  if (program == 0) {  // a test program that starts a child, then aborts
    ::close(fds[0]);
    auto* child = new ChildProcess({"/bin/sleep", "60"});  // never destroyed
    const pid_t pid = child->pid();
    [[maybe_unused]] ssize_t n = ::write(fds[1], &pid, sizeof pid);
    ::signal(SIGABRT, SIG_DFL);
    std::abort();
  }
  ::close(fds[1]);
  pid_t child = 0;
  REQUIRE(::read(fds[0], &child, sizeof child) == sizeof child);
  ::close(fds[0]);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(program, &status, 0) == program);
  CHECK(WIFSIGNALED(status));
  // The watchdog kills it; init reaps it. Bounded polling: no event tells us.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::kill(child, 0) == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(::kill(child, 0) == -1);
  CHECK(errno == ESRCH);
}
