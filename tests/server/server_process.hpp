#pragma once
// The real herald-server binary as a child process, for end-to-end tests: started with
// `--port 0`, its bound port read from the `event=listening … port=N` log line, and with
// `--store memory` unless the test names a store (--store, --postgres) or asks for the
// default one (kDefaultStore): tests run side by side in one directory, where the default
// ./herald.db would be shared between them and outlive them.
//
//   ServerProcess s({"--ack-timeout", "0.3"});
//   REQUIRE(s.port() != 0);
//   int code = s.stop(SIGTERM);   // exit status, -1 if it did not exit in time (then killed)

#include <cstdint>
#include <string>
#include <vector>

#include "support/child_process.hpp"

namespace herald::server::test {

class ServerProcess : public herald::test::ChildProcess {
 public:
  /// An argument that only tells the constructor not to add --dev-auth.
  static constexpr const char* kNoDevAuth = "<no --dev-auth>";
  /// An argument that only tells the constructor not to add --store memory (the server then
  /// keeps its default store: run it in a directory of its own, see `cwd`).
  static constexpr const char* kDefaultStore = "<default store>";

  /// Starts HERALD_SERVER_BINARY with `--port 0` and `args`, and waits for it to listen (or
  /// to exit). `with_port` false: no `--port 0` (for command-line tests).
  /// `cwd`: the working directory of the server (empty: the test's).
  explicit ServerProcess(const std::vector<std::string>& args, bool with_port = true,
                         Millis timeout = Millis(10'000), const std::string& cwd = {})
      : ChildProcess(command(args, with_port), cwd) {
    wait_output([this](const std::string& log) { return (port_ = find_port(log)) != 0; }, timeout);
  }

  /// The bound port; 0 if the server never logged `event=listening`.
  std::uint16_t port() const { return port_; }

 private:
  // Development authentication unless the test configures credentials itself (an
  // argument starting with --api-key or --jwt) or asks for none (`kNoDevAuth`).
  static std::vector<std::string> command(const std::vector<std::string>& args, bool with_port) {
    std::vector<std::string> argv{HERALD_SERVER_BINARY};
    bool dev_auth = true;
    bool memory = true;
    bool level = false;  // the test sets --log-level itself
    for (const std::string& a : args) {
      if (a == "--log-level") level = true;
      if (a.rfind("--api-key", 0) == 0 || a.rfind("--jwt", 0) == 0 || a == kNoDevAuth)
        dev_auth = false;
      if (a.rfind("--store", 0) == 0 || a.rfind("--postgres", 0) == 0 || a == kDefaultStore)
        memory = false;
    }
    if (dev_auth) argv.push_back("--dev-auth");
    if (with_port) argv.insert(argv.end(), {"--port", "0"});
    if (with_port && !level) argv.insert(argv.end(), {"--log-level", "info"});
    if (memory) argv.insert(argv.end(), {"--store", "memory"});
    for (const std::string& a : args)
      if (a != kNoDevAuth && a != kDefaultStore) argv.push_back(a);
    return argv;
  }

  static std::uint16_t find_port(const std::string& log) {
    const std::size_t line = log.find("event=listening");
    if (line == std::string::npos) return 0;
    const std::size_t end = log.find('\n', line);
    const std::size_t at = log.find(" port=", line);
    if (end == std::string::npos || at == std::string::npos || at > end) return 0;
    return static_cast<std::uint16_t>(std::stoul(log.substr(at + 6)));
  }

  std::uint16_t port_ = 0;
};

}  // namespace herald::server::test
