#pragma once
// Notification preferences of a user: what the user muted, and the rule that decides whether
// a notification reaches the user's inbox. The Engine applies them when it writes inbox
// entries (Target::users and Target::followers); the Store keeps them (store.hpp).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "herald/error.hpp"
#include "herald/export.hpp"
#include "herald/model.hpp"

namespace herald {

/// What one user muted. A muted notification is not stored in the user's inbox and never
/// pushed live to the user; a notification published with PublishRequest::critical bypasses
/// every preference. Default-constructed: nothing muted (the same as having no preferences).
struct Preferences {
  /// Notification types the user does not want (exact match of Notification::type).
  std::vector<std::string> muted_types;
  /// Topics whose follower fan-out (Target::followers) skips this user's inbox.
  std::vector<std::string> muted_topics;
  /// Only critical notifications reach the user ("mute all but critical").
  bool critical_only = false;

  bool empty() const noexcept { return muted_types.empty() && muted_topics.empty() && !critical_only; }
  friend bool operator==(const Preferences& a, const Preferences& b) {
    return a.muted_types == b.muted_types && a.muted_topics == b.muted_topics &&
           a.critical_only == b.critical_only;
  }
  friend bool operator!=(const Preferences& a, const Preferences& b) { return !(a == b); }
};

/// One user's preferences, as a Store yields them.
struct UserPreferences {
  UserId user;
  Preferences preferences;
};

/// Bounds of one user's preferences (kept small: they are read on every fan-out chunk).
inline constexpr std::size_t kMaxMutedTypes = 100;
inline constexpr std::size_t kMaxMutedTopics = 100;

/// Checks `p` and puts it in canonical form (each list sorted, repeats dropped). Types are
/// 1..`max_type_bytes` characters without control characters (as PublishRequest::type);
/// topics are valid topic names not starting with '$'; at most kMaxMutedTypes types and
/// kMaxMutedTopics topics. invalid_argument with a message naming the bad value otherwise.
HERALD_API Status normalize_preferences(Preferences& p, std::size_t max_type_bytes);

/// Whether `p` keeps a notification of `type` out of the inbox. `topic` is the followed
/// topic of a Target::followers publish, empty otherwise. A critical publish is never muted
/// (the caller does not ask).
HERALD_API bool mutes(const Preferences& p, std::string_view type, std::string_view topic) noexcept;

}  // namespace herald
