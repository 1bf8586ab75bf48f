#include "cluster.hpp"

#include <sys/wait.h>
#include <csignal>
#include <set>
#include <stdexcept>

#include "support/free_port.hpp"

namespace herald::chaos {

using herald::test::ChildProcess;
using Millis = std::chrono::milliseconds;

namespace {

const Millis kStartTimeout{20'000};

// The Snowflake node herald derives from an instance id (src/engine/engine.cpp, node_from):
// instances with the same node could issue the same notification id, which the ledger
// would take for one notification.
unsigned snowflake_node(const std::string& instance_id) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : instance_id) h = (h ^ c) * 16777619u;
  return h % 1024;
}

std::string tail(const std::string& log) {
  constexpr std::size_t kTail = 3000;
  return log.size() > kTail ? "…" + log.substr(log.size() - kTail) : log;
}

// The process exited (not reaped: ChildProcess::wait does that).
bool has_exited(const ChildProcess& p) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(p.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == p.pid();
}

}  // namespace

Cluster::Cluster(const ClusterOptions& options) : options_(options) {
  redis_port_ = herald::test::free_port();
  start_redis();
  std::set<unsigned> nodes;
  for (std::size_t i = 0; instances_.size() < options.instances; ++i) {
    Instance instance;
    instance.name = "chaos-" + std::to_string(i);
    if (!nodes.insert(snowflake_node(instance.name)).second) continue;
    instance.port = herald::test::free_port();
    instances_.push_back(std::move(instance));
    start_instance(instances_.size() - 1);
  }
}

Cluster::~Cluster() {
  for (Instance& instance : instances_)
    if (instance.process) instance.process->stop(SIGTERM, Millis(10'000));
}

std::vector<std::uint16_t> Cluster::instance_ports() const {
  std::vector<std::uint16_t> ports;
  for (const Instance& instance : instances_) ports.push_back(instance.port);
  return ports;
}

std::string Cluster::describe() const {
  std::string s = "redis-server :" + std::to_string(redis_port_) +
                  ", PostgreSQL :" + std::to_string(postgres_.port()) + ", herald-server";
  for (const Instance& instance : instances_)
    s += " " + instance.name + " :" + std::to_string(instance.port);
  return s;
}

std::string Cluster::redis_url() const {
  return "redis://127.0.0.1:" + std::to_string(redis_port_);
}

void Cluster::kill_redis() {
  redis_->stop(SIGKILL);
  redis_.reset();
}

void Cluster::start_redis() {
  redis_ = std::make_unique<ChildProcess>(std::vector<std::string>{
      "/usr/bin/redis-server", "--port", std::to_string(redis_port_), "--bind", "127.0.0.1",
      "--save", "", "--appendonly", "no", "--logfile", ""});
  if (!redis_->wait_log("Ready to accept connections", kStartTimeout))
    throw std::runtime_error("redis-server did not start: " + tail(redis_->log()));
}

void Cluster::stop_postgres() {
  postgres_.kill();
}

void Cluster::start_postgres() {
  postgres_.start();
}

void Cluster::kill_instance(std::size_t i) {
  instances_.at(i).process->stop(SIGKILL);
  instances_.at(i).process.reset();
}

int Cluster::terminate_instance(std::size_t i) {
  const int code = instances_.at(i).process->stop(SIGTERM);
  instances_.at(i).process.reset();
  return code;
}

// The flags of a multi-instance deployment (docs/operations.md, "Several instances"), with
// a short ack timeout so that redeliveries happen within the run, no rate limit (one
// producer address publishes everything) and one I/O thread (the machine is shared).
std::vector<std::string> Cluster::instance_args(const Instance& instance) const {
  return {options_.server_binary,
          "--dev-auth",
          "--port",
          std::to_string(instance.port),
          "--instance-id",
          instance.name,
          "--redis",
          redis_url(),
          "--store",
          postgres_.url(),
          "--ack-timeout",
          options_.ack_timeout,
          "--rate-limit",
          "0",
          "--threads",
          "1",
          "--shutdown-timeout",
          "5",
          "--log-level",
          "info"};
}

void Cluster::start_instance(std::size_t i) {
  Instance& instance = instances_.at(i);
  instance.process = std::make_unique<ChildProcess>(instance_args(instance));
  if (!instance.process->wait_log("event=listening", kStartTimeout))
    throw std::runtime_error("herald-server " + instance.name +
                             " did not start: " + tail(instance.process->log()));
}

std::vector<std::string> Cluster::take_crashes() {
  std::vector<std::string> crashes;
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    Instance& instance = instances_[i];
    if (!instance.process || !has_exited(*instance.process)) continue;
    const int code = instance.process->wait(Millis(1000));
    crashes.push_back("herald-server " + instance.name + " exited by itself with " +
                      std::to_string(code) + "; its log ends:\n" + tail(instance.process->log()));
    start_instance(i);
  }
  if (redis_ && has_exited(*redis_)) {
    const int code = redis_->wait(Millis(1000));
    crashes.push_back("redis-server exited by itself with " + std::to_string(code) +
                      "; its log ends:\n" + tail(redis_->log()));
    start_redis();
  }
  return crashes;
}

}  // namespace herald::chaos
