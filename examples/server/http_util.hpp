#pragma once
// Small helpers over websocket::HttpRequest shared by the REST API's files.

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

/// ASCII lower case.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace herald::server
