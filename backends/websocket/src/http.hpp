#pragma once
// HTTP/1.1 for the backend: an incremental request parser (nodejs http-parser) that enforces
// the server's limits, and response serialization. No I/O here.

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "herald/websocket/server.hpp"

namespace herald::websocket::detail {

/// A complete request as the parser hands it over.
struct ParsedRequest {
  HttpRequest request;     // `remote` is left to the caller
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only if asked
  bool http10 = false;     // answer with an explicit "Connection: keep-alive"
  bool upgrade = false;    // the connection switches protocol after this request
  bool websocket = false;  // ... to WebSocket (GET with "Upgrade: websocket")
};

/// What one feed() call did.
struct FeedResult {
  std::size_t consumed = 0;  // bytes used; the rest is for later (paused) or not HTTP
  int error_status = 0;      // 400, 413, 431 or 505: answer it and close the connection
  bool paused = false;       // the sink asked to stop: feed the rest of the bytes later
  bool upgraded = false;     // an upgrade request ended; the rest is another protocol
};

/// Incremental request parser. Pipelined requests are handed to the sink one by one, in
/// order; the sink returns false to pause after the current one.
/// Limits: the request line and headers together may not exceed max_header_bytes, nor the
/// headers number more than max_header_count (431),
/// the body may not exceed max_body_bytes (413); malformed input, HTTP/0.9 included, is
/// 400; an HTTP version other than 1.x is 505. An absolute-form target is reduced to its
/// origin form (see HttpRequest::target).
/// Not thread-safe: one per connection, used on its strand.
class RequestParser {
 public:
  using Sink = std::function<bool(ParsedRequest&&)>;

  /// Where the parser is in the current request (for the request timeouts).
  enum class Phase { idle, head, body };

  RequestParser(std::size_t max_header_bytes, std::size_t max_body_bytes,
                std::size_t max_header_count = 100);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  FeedResult feed(const char* data, std::size_t size, const Sink& sink);
  /// True once per request whose headers asked for "Expect: 100-continue" and whose body
  /// has not arrived yet: the caller may answer "100 Continue".
  bool take_continue();
  Phase phase() const { return phase_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t n);
  static int on_header_field(http_parser* p, const char* at, std::size_t n);
  static int on_header_value(http_parser* p, const char* at, std::size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t n);
  static int on_message_complete(http_parser* p);
  static const http_parser_settings kSettings;

  bool count_head(std::size_t n);
  void end_header();

  http_parser parser_;
  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::size_t max_header_count_;
  std::size_t header_count_ = 0;
  Phase phase_ = Phase::idle;
  ParsedRequest current_;
  std::string field_;  // header being read: name, then value
  std::string value_;
  bool in_value_ = false;
  std::size_t head_bytes_ = 0;
  int error_status_ = 0;
  bool expect_continue_ = false;
  const Sink* sink_ = nullptr;
};

/// Splits a request target into its percent-decoded path and decoded query parameters
/// ('+' is a space in the query).
void split_target(const std::string& target, std::string& path,
                  std::map<std::string, std::string>& query);

/// Whether a header's value contains `token` (lower case), ignoring ASCII case: a substring,
/// so "keep-alive, Upgrade" contains "upgrade".
bool contains_token(std::string_view value, std::string_view token);

/// Whether the first bytes of a connection's input show a request that opens no session: a
/// method other than GET, or a GET of a path other than ServerOptions' websocket_path,
/// sse_path and stomp_path. False while the bytes do not tell (the request line is cut
/// short, or its path is percent-encoded). Only decides where the connection is served
/// (Conn::move_to_host_lane), never what it is answered.
bool opens_no_session(std::string_view start, const ServerOptions& options);

/// "HTTP/1.1 <status> <reason>", Content-Type, Content-Length, the extra headers, then
/// "Connection: close" if `close`, or "Connection: keep-alive" if `http10_keep_alive`.
/// `head_only` (a HEAD request) leaves the body out but keeps its Content-Length.
std::string serialize(const HttpResponse& response, bool close, bool http10_keep_alive,
                      bool head_only);

/// A response produced by the server itself, with herald's error body
/// {"error":{"code":…,"message":…}}.
HttpResponse error_response(int status, const char* code, const std::string& message);

}  // namespace herald::websocket::detail
