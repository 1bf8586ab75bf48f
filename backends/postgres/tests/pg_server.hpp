#pragma once
// A private PostgreSQL server for the tests: a data directory copied from a template made
// once per build by initdb, started by pg_ctl on a free port of 127.0.0.1, stopped and
// removed at exit. As root, the server runs as the `postgres` OS user (initdb refuses root).
// A watchdog process stops and removes it too if the test process dies without cleaning up
// (a crash, an abort from a sanitizer).
// Not thread-safe: used from the test thread.

#include <string>
#include <vector>

namespace herald::postgres::test {

/// How the private server runs. The tests' defaults trade durability for speed.
struct PgServerOptions {
  /// false (tests): fsync and full_page_writes off. true (benchmarks): the server's defaults,
  /// every commit flushed to disk.
  bool fsync = false;
  /// More `name=value` settings passed as `-c` (e.g. "shared_buffers=1GB"); they override
  /// the defaults.
  std::vector<std::string> settings;
};

class PgServer {
 public:
  /// Finds the binaries (/usr/lib/postgresql/<newest>/bin, or $HERALD_PG_BINDIR) and starts
  /// the server. Throws std::runtime_error saying what failed (with the server log).
  explicit PgServer(PgServerOptions options = {});
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  /// postgresql://postgres@127.0.0.1:<port>/postgres
  std::string url() const;
  int port() const { return port_; }

  /// `pg_ctl stop -m immediate`: the server dies at once (connections drop, crash recovery
  /// at the next start). Throws on failure.
  void kill();
  /// Starts the stopped server again on the same port and data; returns once it accepts
  /// connections. Throws on failure.
  void start();

 private:
  std::string ctl(const std::string& args) const;
  bool try_start();
  std::string log_tail() const;
  void start_watchdog();

  PgServerOptions options_;
  std::string bindir_;
  std::string dir_;  // temporary directory: data/, log, socket
  int port_ = 0;
  bool running_ = false;
  int watchdog_ = -1;  // write end of the pipe the watchdog process waits on
};

/// Runs `command` through the shell (as the postgres user when we are root); returns its
/// exit status, its output appended to `output`.
int run_as_postgres(const std::string& command, std::string* output = nullptr);

}  // namespace herald::postgres::test
