#pragma once
// The chaos run's fault schedule: one fault every `every`, the plan's kinds in turn (all
// four by default, in this order):
//   redis:    kill -9 redis-server, start it again (empty) after `down`;
//   postgres: stop PostgreSQL (`pg_ctl stop -m immediate`), start it again after `down`;
//   kill:     kill -9 the herald-server instance holding the most sessions, start it again
//             after `down` (its clients move to the others);
//   term:     SIGTERM the instance holding the most sessions (graceful shutdown), start it
//             again once it exited.
// Between faults, and during them, it looks for servers that exited by themselves
// (crashes): those are restarted and reported.
//
// Thread: the caller's (not the I/O thread: starting a server blocks for seconds).

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster.hpp"

namespace herald::chaos {

enum class FaultKind { redis, postgres, kill, term };

/// "redis,postgres,kill,term" (any of them, in any order) -> the kinds; throws
/// std::invalid_argument naming an unknown one.
std::vector<FaultKind> parse_fault_kinds(const std::string& list);

struct FaultPlan {
  std::vector<FaultKind> kinds{FaultKind::redis, FaultKind::postgres, FaultKind::kill,
                               FaultKind::term};
  std::chrono::milliseconds warmup{5000};  // before the first fault
  std::chrono::milliseconds every{8000};   // from one fault's start to the next one's
  std::chrono::milliseconds down{2000};    // how long a killed server stays down
};

struct FaultLog {
  std::map<std::string, int> done;   // fault name -> times
  std::vector<std::string> crashes;  // Cluster::take_crashes()
  std::vector<int> terminate_codes;  // exit codes of the SIGTERMed instances
};

class FaultSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  /// `say` prints one line of progress; `busiest` names the instance holding the most
  /// sessions now.
  FaultSchedule(Cluster& cluster, FaultPlan plan, std::function<void(const std::string&)> say,
                std::function<std::size_t()> busiest)
      : cluster_(cluster),
        plan_(std::move(plan)),
        say_(std::move(say)),
        busiest_(std::move(busiest)) {}

  /// Runs faults from `start` on; none starts unless it (with its `down` time and a second
  /// to recover) ends before `until`. Returns when the last one is over, every server up.
  void run(Clock::time_point start, Clock::time_point until);
  const FaultLog& log() const { return log_; }
  /// Looks for crashed servers now (run() does it all along).
  void collect_crashes();

 private:
  void apply(int step);
  void outage(const std::string& name, const std::string& action, const std::function<void()>& stop,
              const std::function<void()>& start);
  void say(const std::string& what);
  /// Waits until `t`, collecting crashes meanwhile.
  void wait_until(Clock::time_point t);

  Cluster& cluster_;
  FaultPlan plan_;
  std::function<void(const std::string&)> say_;
  std::function<std::size_t()> busiest_;
  Clock::time_point start_;
  FaultLog log_;
};

}  // namespace herald::chaos
