#include "faults.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace herald::chaos {

namespace {

// What a fault takes besides its `down` time: stopping and starting servers (PostgreSQL's
// start and a herald-server's graceful stop take a few seconds on a loaded machine).
constexpr std::chrono::seconds kFaultOverhead{3};
constexpr std::chrono::milliseconds kPoll{100};

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  char text[32];
  std::snprintf(text, sizeof text, "%6.1f s",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return text;
}

}  // namespace

std::vector<FaultKind> parse_fault_kinds(const std::string& list) {
  static const std::map<std::string, FaultKind> names{{"redis", FaultKind::redis},
                                                      {"postgres", FaultKind::postgres},
                                                      {"kill", FaultKind::kill},
                                                      {"term", FaultKind::term}};
  std::vector<FaultKind> kinds;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const auto kind = names.find(list.substr(at, comma - at));
    if (kind == names.end())
      throw std::invalid_argument("unknown fault \"" + list.substr(at, comma - at) +
                                  "\" (redis, postgres, kill, term)");
    kinds.push_back(kind->second);
    at = comma + 1;
  }
  return kinds;
}

void FaultSchedule::run(Clock::time_point start, Clock::time_point until) {
  start_ = start;
  auto next = start + plan_.warmup;
  for (int step = 0; next + plan_.down + kFaultOverhead < until; ++step, next += plan_.every) {
    wait_until(next);
    apply(step);
  }
  collect_crashes();
}

void FaultSchedule::apply(int step) {
  switch (plan_.kinds[static_cast<std::size_t>(step) % plan_.kinds.size()]) {
    case FaultKind::redis:
      return outage(
          "redis kill -9", "kill -9 redis-server", [this] { cluster_.kill_redis(); },
          [this] { cluster_.start_redis(); });
    case FaultKind::postgres:
      return outage(
          "postgres stop -m immediate", "stop PostgreSQL (immediate)",
          [this] { cluster_.stop_postgres(); }, [this] { cluster_.start_postgres(); });
    case FaultKind::kill: {
      const std::size_t i = busiest_();
      return outage(
          "instance kill -9", "kill -9 instance " + std::to_string(i),
          [this, i] { cluster_.kill_instance(i); }, [this, i] { cluster_.start_instance(i); });
    }
    case FaultKind::term: {
      const std::size_t i = busiest_();
      say("SIGTERM instance " + std::to_string(i));
      const int code = cluster_.terminate_instance(i);
      log_.terminate_codes.push_back(code);
      cluster_.start_instance(i);
      say("instance " + std::to_string(i) + " exited with " + std::to_string(code) +
          ", started again");
      ++log_.done["instance SIGTERM"];
      return;
    }
  }
}

// Stops a server, keeps it down for plan_.down, starts it again.
void FaultSchedule::outage(const std::string& name, const std::string& action,
                           const std::function<void()>& stop, const std::function<void()>& start) {
  say(action);
  stop();
  wait_until(Clock::now() + plan_.down);
  start();
  say("up again after: " + action);
  ++log_.done[name];
}

void FaultSchedule::say(const std::string& what) {
  say_(seconds_since(start_) + ": " + what);
}

// Sleeping here paces the schedule (the servers go on by themselves meanwhile); crashes
// are looked for every kPoll.
void FaultSchedule::wait_until(Clock::time_point t) {
  while (Clock::now() < t) {
    collect_crashes();
    std::this_thread::sleep_for(std::min<Clock::duration>(kPoll, t - Clock::now()));
  }
}

void FaultSchedule::collect_crashes() {
  for (std::string& crash : cluster_.take_crashes()) {
    say("CRASH " + crash);
    log_.crashes.push_back(std::move(crash));
  }
}

}  // namespace herald::chaos
