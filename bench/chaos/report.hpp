#pragma once
// The chaos run's printed result: the ledger's counters, the faults done, and the verdict.

#include <cstdint>
#include <string>

#include "faults.hpp"
#include "ledger.hpp"

namespace herald::chaos {

struct RunSummary {
  double duration_s = 0;
  std::size_t instances = 0, clients = 0;
  double rate = 0;
  std::uint64_t late = 0;  // publishes started > 100 ms after their scheduled time
  FaultLog faults;
};

/// Prints the figures (stdout), one topic per line.
void print_report(const RunSummary& run, const Report& report);

/// The run broke a promise (Report::failed), a server crashed, or an instance did not stop
/// gracefully (exit code 0) on SIGTERM.
bool run_failed(const RunSummary& run, const Report& report);

}  // namespace herald::chaos
