#pragma once
// The files herald-server serves besides its API: the demo inbox page (GET /) and the
// JavaScript client (GET /herald.js), from clients/ in the repository. They are compiled
// into the binary (embed_files.cmake writes them into a generated .cpp at build time), so
// the server serves them wherever it runs.

#include <optional>
#include <string_view>

#include "herald/websocket/server.hpp"

namespace herald::server {

/// One embedded file: its URL path ("/herald.js") and its bytes.
struct EmbeddedFile {
  std::string_view path;
  std::string_view body;
};

/// The answer to a request for an embedded file: GET and HEAD get it (200, its
/// Content-Type, Cache-Control: no-cache), other methods 405; nullopt when `path` names
/// none ("/" is "/index.html").
std::optional<websocket::HttpResponse> static_file(const websocket::HttpRequest& request);

}  // namespace herald::server
