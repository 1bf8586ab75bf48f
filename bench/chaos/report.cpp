#include "report.hpp"

#include <cstdio>
#include <string>

namespace herald::chaos {

namespace {

std::string n(std::uint64_t v) {
  return std::to_string(v);
}

std::string name(const std::string& key, const char*) {
  return key;
}
std::string name(int key, const char* zero) {
  return key == 0 ? zero : std::to_string(key);
}

// "503 ×40, 500 ×2" from a map of key -> count; `zero` names the key 0.
template <class Map>
std::string counts(const Map& m, const char* zero = "0") {
  std::string s;
  for (const auto& [key, times] : m) {
    if (!s.empty()) s += ", ";
    s += name(key, zero) + " ×" + std::to_string(times);
  }
  return s.empty() ? "none" : s;
}

// "5-7 s ×2301, 11-14 s ×800": consecutive seconds grouped.
std::string by_time(const std::map<std::uint32_t, std::uint64_t>& per_second) {
  std::string s;
  auto it = per_second.begin();
  while (it != per_second.end()) {
    const std::uint32_t first = it->first;
    std::uint32_t last = first;
    std::uint64_t total = 0;
    for (; it != per_second.end() && it->first <= last + 1; ++it) {
      last = it->first;
      total += it->second;
    }
    if (!s.empty()) s += ", ";
    s += std::to_string(first) + "-" + std::to_string(last + 1) + " s ×" + std::to_string(total);
  }
  return s.empty() ? "none" : s;
}

}  // namespace

void print_report(const RunSummary& run, const Report& r) {
  std::printf("== chaos run: %.0f s, %zu instances, %zu clients, %.0f publishes/s\n",
              run.duration_s, run.instances, run.clients, run.rate);
  std::string codes;
  for (int code : run.faults.terminate_codes)
    codes += (codes.empty() ? "" : " ") + std::to_string(code);
  std::printf("faults: %s; SIGTERM exit codes: %s; crashes: %zu\n", counts(run.faults.done).c_str(),
              codes.empty() ? "-" : codes.c_str(), run.faults.crashes.size());
  std::printf(
      "publish attempts: %s answered 202 (%s of them duplicate:true), %s answered with an "
      "error (%s), %s no answer, %s not sent (no connection)\n",
      n(r.attempts_accepted).c_str(), n(r.attempts_duplicate).c_str(), n(r.attempts_error).c_str(),
      counts(r.error_statuses).c_str(), n(r.attempts_no_answer).c_str(),
      n(r.attempts_not_sent).c_str());
  std::printf("attempts not answered 202, by time: %s\n", by_time(r.failed_by_second).c_str());
  std::printf(
      "publishes: %s; %s answered 202, %s given up without a 202 (%s of those stored anyway); "
      "%s started over 100 ms late\n",
      n(r.publishes).c_str(), n(r.accepted).c_str(), n(r.given_up).c_str(),
      n(r.given_up_but_delivered).c_str(), n(run.late).c_str());
  std::printf(
      "notifications: %s frames; %s unique, %s duplicate (%s redelivered with attempt > 1, %s "
      "replayed after a resume from the stored cursor; %s after the client's ack), %s out of "
      "order, %s missing\n",
      n(r.frames).c_str(), n(r.unique).c_str(), n(r.duplicates).c_str(),
      n(r.duplicates_redelivered).c_str(), n(r.duplicates_replayed).c_str(),
      n(r.duplicates_after_ack).c_str(), n(r.out_of_order).c_str(), n(r.missing).c_str());
  std::printf(
      "integrity: %s seq holes, %s stored twice, %s foreign, %s epoch mismatches, %s resets, "
      "%s sessions not resumed where asked\n",
      n(r.holes).c_str(), n(r.stored_twice).c_str(), n(r.foreign).c_str(),
      n(r.epoch_mismatches).c_str(), n(r.resets).c_str(), n(r.cursor_mismatches).c_str());
  std::printf("sessions: %s welcomed; connection ends by close code: %s; %s error frames\n",
              n(r.sessions).c_str(), counts(r.close_codes, "no session").c_str(),
              n(r.error_frames).c_str());
}

bool run_failed(const RunSummary& run, const Report& report) {
  if (report.failed() || !run.faults.crashes.empty()) return true;
  for (int code : run.faults.terminate_codes)
    if (code != 0) return true;
  return false;
}

}  // namespace herald::chaos
