#pragma once
// A minimal HTTP/1.1 client for herald-server's webhooks: one POST per connection
// ("Connection: close"), plain http:// only, the response status read with http-parser.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>

#include "herald/time.hpp"

namespace herald::server {

/// Where to POST: parsed from `http://host[:port][/path]`.
struct HttpTarget {
  std::string host;
  std::string port = "80";
  std::string path = "/";
};

/// Parses `url`. Throws herald::Error naming what is wrong (https:// is not supported: put
/// a TLS-terminating proxy in front of the receiver, or use a loopback/private network).
HttpTarget parse_http_url(const std::string& url);

/// How a POST ended: the response status (0: no complete response) and, when 0, why
/// (connect refused, timeout, malformed response…).
struct PostOutcome {
  int status = 0;
  std::string error;
};

/// POSTs `body` as application/json with `headers` to `target`, on `io`. The whole
/// exchange (resolve, connect, write, read the response) is bounded by `timeout`.
/// `done` runs exactly once, on an io thread.
void http_post(asio::io_context& io, const HttpTarget& target,
               std::vector<std::pair<std::string, std::string>> headers, std::string body,
               Duration timeout, std::function<void(PostOutcome)> done);

}  // namespace herald::server
