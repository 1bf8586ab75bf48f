// PUT /users/{id}/preferences bodies and the preferences document.

#include "preferences_body.hpp"

#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

namespace herald::server {
namespace {

using simdjson::dom::element;

// An array of strings, at most `max` of them; a Problem about `field` otherwise.
std::optional<Problem> read_names(const element& v, const char* field, std::size_t max,
                                  std::vector<std::string>& out) {
  simdjson::dom::array items;
  if (v.get_array().get(items) != simdjson::SUCCESS)
    return bad_field(field, std::string(field) + " must be an array of strings");
  if (items.size() > max)
    return bad_field(field, std::string(field) + " holds " + std::to_string(items.size()) +
                                " names; the limit is " + std::to_string(max));
  for (element item : items) {
    std::string_view text;
    if (item.get_string().get(text) != simdjson::SUCCESS)
      return bad_field(field, std::string(field) + " must be an array of strings");
    out.emplace_back(text);
  }
  return std::nullopt;
}

}  // namespace

std::optional<Problem> read_preferences(const element& body, std::size_t max_type_bytes,
                                        Preferences& out) {
  out = {};
  simdjson::dom::object members;
  if (body.get_object().get(members) != simdjson::SUCCESS)
    return bad_field("body",
                     "expected {\"mutedTypes\":[…], \"mutedTopics\":[…], \"criticalOnly\":bool}");
  for (const simdjson::dom::key_value_pair m : members) {
    const std::string_view key = m.key;
    std::optional<Problem> p;
    if (key == "mutedTypes") {
      p = read_names(m.value, "mutedTypes", kMaxMutedTypes, out.muted_types);
    } else if (key == "mutedTopics") {
      p = read_names(m.value, "mutedTopics", kMaxMutedTopics, out.muted_topics);
    } else if (key == "criticalOnly") {
      if (m.value.get_bool().get(out.critical_only) != simdjson::SUCCESS)
        p = bad_field("criticalOnly", "criticalOnly must be true or false");
    } else {
      p = bad_field(std::string(key), "unknown member '" + std::string(key).substr(0, 64) +
                                          "': expected mutedTypes, mutedTopics, criticalOnly");
    }
    if (p) return p;
  }
  Status s = normalize_preferences(out, max_type_bytes);
  if (s.ok()) return std::nullopt;
  const bool topic = s.message().rfind("muted topic", 0) == 0 ||
                     s.message().find("muted topics") != std::string::npos;
  return bad_field(topic ? "mutedTopics" : "mutedTypes", s.message());
}

std::string preferences_json(const UserId& user, const Preferences& p) {
  const nlohmann::ordered_json doc = {{"user", user},
                                      {"mutedTypes", p.muted_types},
                                      {"mutedTopics", p.muted_topics},
                                      {"criticalOnly", p.critical_only}};
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace herald::server
