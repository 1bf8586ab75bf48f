#pragma once
// The body of PUT /users/{id}/preferences and the JSON of a user's preferences. Pure
// functions: no I/O, no engine calls.

#include <optional>
#include <string>

#include "herald/preferences.hpp"
#include "publish_body.hpp"

namespace simdjson::dom {
class element;
}

namespace herald::server {

/// Reads {"mutedTypes":[type,…], "mutedTopics":[topic,…], "criticalOnly":bool} into `out`,
/// checked and normalized (normalize_preferences). Every member is optional (PUT replaces
/// the whole record: a missing one is empty/false); any other member is refused. The
/// Problem names the member that is wrong.
std::optional<Problem> read_preferences(const simdjson::dom::element& body,
                                        std::size_t max_type_bytes, Preferences& out);

/// {"user":…, "mutedTypes":[…], "mutedTopics":[…], "criticalOnly":…} as JSON text.
std::string preferences_json(const UserId& user, const Preferences& p);

}  // namespace herald::server
