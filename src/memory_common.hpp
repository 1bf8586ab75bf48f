#pragma once
// What the in-memory backends share: the fault-switch status and the rule "work under the
// lock, complete outside it" (so no callback ever runs while a backend lock is held).

#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "herald/executor.hpp"

namespace herald::memory {

inline Status unavailable(const char* backend) {
  return Status(Errc::unavailable,
                std::string("memory ") + backend + " is unavailable (fault switch)");
}

/// Runs `work` (yielding T or Result<T>) under `mutex` unless the fault switch `available`
/// is off, then hands the result to `done` after releasing the lock.
template <class T, class Work>
void run_locked(std::mutex& mutex, const bool& available, const char* backend,
                const Completion<T>& done, Work&& work) {
  std::optional<Result<T>> result;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (available) {
      result.emplace(work());
    } else {
      result.emplace(unavailable(backend));
    }
  }
  done(std::move(*result));
}

}  // namespace herald::memory
