#pragma once
// The SQL of preferences and inbox retention (issue 17), run inside the store's writer or
// reader tasks (store.cpp). Each function is one short piece of work on one connection.

#include <cstdint>
#include <vector>

#include "db.hpp"
#include "herald/store.hpp"

namespace herald::sqlite::detail {

/// Replaces (or, for empty preferences, deletes) one user's preferences. Writer only.
void put_preferences(Db& db, const UserId& user, const Preferences& preferences);

/// The non-empty preferences of `users`: one indexed lookup each, in one reader task.
std::vector<UserPreferences> get_preferences(Db& db, const std::vector<UserId>& users);

/// Whether any user has preferences (read once when the store opens).
bool has_preferences(Db& db);

/// One step of Store::trim_inboxes: removes at most rule.limit inbox entries (by age first,
/// then by count) and at most rule.limit notifications older than the age cut that no entry
/// holds any more. Yields the entries removed. Writer only.
std::uint64_t trim_inboxes(Db& db, const InboxRetention& rule);

}  // namespace herald::sqlite::detail
