#pragma once
// Small helpers over websocket::HttpRequest and strings shared by the server's files.

#include <cctype>
#include <string>
#include <string_view>

#include "herald/websocket/server.hpp"

namespace herald::server {

/// The value of header `name` (lower case, as the transport stores names), or "".
inline const std::string& header(const websocket::HttpRequest& r, const char* name) {
  static const std::string none;
  auto it = r.headers.find(name);
  return it == r.headers.end() ? none : it->second;
}

/// Whether `s` begins with `prefix`.
inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// ASCII lower case.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

/// ASCII case-insensitive equality, without a lower-cased copy.
inline bool equals_lower(std::string_view s, std::string_view lower_case) {
  if (s.size() != lower_case.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower_case[i]) return false;
  return true;
}

}  // namespace herald::server
