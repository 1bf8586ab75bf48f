#pragma once
// Per-sender token buckets. Engine-local state, used only on the engine's executor.

#include <algorithm>
#include <string>
#include <unordered_map>

#include "herald/engine.hpp"
#include "herald/time.hpp"

namespace herald {

class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  /// Takes one token from `key`'s bucket; false (and nothing taken) when it is empty.
  bool try_take(const std::string& key, TimePoint now) {
    if (!limit_.enabled) return true;
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{limit_.burst, now});
    Bucket& b = it->second;
    if (!inserted) refill(b, now);
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }

  /// Forgets buckets that are full again (they behave exactly like absent ones), so idle
  /// senders cost no memory.
  void prune(TimePoint now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now);
      it = it->second.tokens >= limit_.burst ? buckets_.erase(it) : std::next(it);
    }
  }

  std::size_t size() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    TimePoint last;
  };
  void refill(Bucket& b, TimePoint now) const {
    if (now <= b.last) return;
    double seconds = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(limit_.burst, b.tokens + seconds * limit_.per_second);
    b.last = now;
  }

  RateLimit limit_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace herald
