#pragma once
// The servers of a chaos run, all private and on 127.0.0.1: one redis-server (no
// persistence: a restart comes back empty), one PostgreSQL (the tests' PgServer: initdb'd
// data directory, `pg_ctl stop -m immediate` to kill it) and N herald-server instances on
// both (--redis, --store postgresql://…, --dev-auth). Each server keeps its port and name
// across restarts. Children die with this process (ChildProcess' watchdog, PgServer's).
//
// Thread: one (the fault schedule's); the methods block until the server is down or up.
// Setup and restart failures throw std::runtime_error with the server's log.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pg_server.hpp"
#include "support/child_process.hpp"

namespace herald::chaos {

struct ClusterOptions {
  std::string server_binary;  // herald-server
  std::size_t instances = 3;
  std::string ack_timeout = "1";  // --ack-timeout, seconds
};

class Cluster {
 public:
  explicit Cluster(const ClusterOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::vector<std::uint16_t> instance_ports() const;
  std::size_t instances() const { return instances_.size(); }
  /// One line: the servers and their ports.
  std::string describe() const;

  void kill_redis();  // SIGKILL
  void start_redis();
  void stop_postgres();  // pg_ctl stop -m immediate
  void start_postgres();
  void kill_instance(std::size_t i);  // SIGKILL
  /// SIGTERM; returns the exit code (0 for a graceful stop), -1 if it had to be killed.
  int terminate_instance(std::size_t i);
  void start_instance(std::size_t i);

  /// Servers that exited without being stopped here, since the last call: one line each
  /// with its exit code and the end of its log. Crashed instances are started again.
  std::vector<std::string> take_crashes();

 private:
  struct Instance {
    std::string name;
    std::uint16_t port = 0;
    std::unique_ptr<herald::test::ChildProcess> process;
  };

  std::vector<std::string> instance_args(const Instance& instance) const;
  std::string redis_url() const;

  ClusterOptions options_;
  herald::postgres::test::PgServer postgres_;
  std::uint16_t redis_port_ = 0;
  std::unique_ptr<herald::test::ChildProcess> redis_;
  std::vector<Instance> instances_;
};

}  // namespace herald::chaos
