// Preferences: validation and the muting rule (include/herald/preferences.hpp).

#include "herald/preferences.hpp"

#include <algorithm>

namespace herald {
namespace {

Status invalid(std::string message) { return Status(Errc::invalid_argument, std::move(message)); }

bool printable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

void sort_unique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

bool contains(const std::vector<std::string>& sorted, std::string_view name) {
  return std::binary_search(sorted.begin(), sorted.end(), name,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

}  // namespace

Status normalize_preferences(Preferences& p, std::size_t max_type_bytes) {
  if (p.muted_types.size() > kMaxMutedTypes)
    return invalid("at most " + std::to_string(kMaxMutedTypes) + " muted types");
  if (p.muted_topics.size() > kMaxMutedTopics)
    return invalid("at most " + std::to_string(kMaxMutedTopics) + " muted topics");
  for (const std::string& type : p.muted_types) {
    if (type.empty() || type.size() > max_type_bytes || !printable(type))
      return invalid("muted type '" + type.substr(0, 64) + "' is not a type: 1.." +
                     std::to_string(max_type_bytes) + " characters without control characters");
  }
  for (const std::string& topic : p.muted_topics) {
    if (!valid_name(topic) || topic[0] == '$')
      return invalid("muted topic '" + topic.substr(0, 64) +
                     "' is not a topic: 1..200 printable ASCII characters, not starting with '$'");
  }
  sort_unique(p.muted_types);
  sort_unique(p.muted_topics);
  return {};
}

bool mutes(const Preferences& p, std::string_view type, std::string_view topic) noexcept {
  if (p.critical_only) return true;
  if (contains(p.muted_types, type)) return true;
  return !topic.empty() && contains(p.muted_topics, topic);
}

}  // namespace herald
