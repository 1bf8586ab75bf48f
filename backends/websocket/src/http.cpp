#include "http.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "herald/json_text.hpp"

namespace herald::websocket::detail {

namespace {

// Request line and header framing the callbacks do not see ("GET ", " HTTP/1.1\r\n", ": ",
// "\r\n" per header): counted so that max_header_bytes is close to the bytes on the wire.
constexpr std::size_t kRequestLineOverhead = 16;
constexpr std::size_t kHeaderOverhead = 4;

RequestParser& self(http_parser* p) {
  return *static_cast<RequestParser*>(p->data);
}

// ASCII only, as HTTP's names and tokens are (std::tolower is a call per byte and depends
// on the locale).
std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(const std::string& s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// RFC 9112 §3.2.2: an absolute-form target ("http://host:port/path?query", what clients send
// to proxies) is served like the origin form "/path?query"; its authority replaces the Host
// header. False (a 400) for userinfo in the authority, which only serves to deceive
// (RFC 9110 §4.2.4). Other targets are left alone.
bool reduce_absolute_form(HttpRequest& r) {
  std::string& target = r.target;
  const std::size_t scheme_end = target.find("://");
  if (target.empty() || target.front() == '/' || scheme_end == std::string::npos) return true;
  const std::size_t start = scheme_end + 3;
  const std::size_t end = target.find_first_of("/?#", start);
  std::string authority = target.substr(start, end == std::string::npos ? end : end - start);
  if (authority.empty() || authority.find('@') != std::string::npos) return false;
  std::string origin = end == std::string::npos ? "/" : target.substr(end);
  if (origin.front() != '/') origin.insert(0, "/");  // "http://h?x" is "/?x"
  target = std::move(origin);
  r.headers["host"] = std::move(authority);
  return true;
}

const char* reason_phrase(int status) {
  const char* text = http_status_str(static_cast<http_status>(status));
  return text[0] == '<' ? "Unknown" : text;  // http-parser says "<unknown>"
}

}  // namespace

const http_parser_settings RequestParser::kSettings = [] {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_url = &RequestParser::on_url;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_value = &RequestParser::on_header_value;
  s.on_headers_complete = &RequestParser::on_headers_complete;
  s.on_body = &RequestParser::on_body;
  s.on_message_complete = &RequestParser::on_message_complete;
  return s;
}();

RequestParser::RequestParser(std::size_t max_header_bytes, std::size_t max_body_bytes,
                             std::size_t max_header_count)
    : max_header_bytes_(max_header_bytes),
      max_body_bytes_(max_body_bytes),
      max_header_count_(max_header_count) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

FeedResult RequestParser::feed(const char* data, std::size_t size, const Sink& sink) {
  FeedResult result;
  if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
  sink_ = &sink;
  result.consumed = http_parser_execute(&parser_, &kSettings, data, size);
  sink_ = nullptr;
  const auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    result.paused = true;
  } else if (err != HPE_OK) {
    result.error_status = error_status_ != 0           ? error_status_
                          : err == HPE_HEADER_OVERFLOW ? 431
                                                       : 400;
  } else if (parser_.upgrade) {
    result.upgraded = true;
  }
  return result;
}

bool RequestParser::count_head(std::size_t n) {
  head_bytes_ += n;
  if (head_bytes_ <= max_header_bytes_) return true;
  error_status_ = 431;
  return false;
}

void RequestParser::end_header() {
  if (field_.empty()) return;
  std::string name = lower(std::move(field_));
  auto [it, fresh] = current_.request.headers.emplace(std::move(name), value_);
  if (!fresh) it->second += ", " + value_;  // repeated header: one comma-separated value
  field_.clear();
  value_.clear();
  in_value_ = false;
}

int RequestParser::on_message_begin(http_parser* p) {
  RequestParser& r = self(p);
  r.current_ = ParsedRequest{};
  r.field_.clear();
  r.value_.clear();
  r.in_value_ = false;
  r.head_bytes_ = kRequestLineOverhead;
  r.header_count_ = 0;
  r.phase_ = Phase::head;
  return 0;
}

int RequestParser::on_url(http_parser* p, const char* at, std::size_t n) {
  RequestParser& r = self(p);
  if (!r.count_head(n)) return 1;
  // http-parser takes a request line without a version for HTTP/0.9 (and says so only
  // here, at its end); HTTP/0.9 is not served.
  if (p->http_major == 0 && p->http_minor == 9) {
    r.error_status_ = 400;
    return 1;
  }
  r.current_.request.target.append(at, n);
  return 0;
}

int RequestParser::on_header_field(http_parser* p, const char* at, std::size_t n) {
  RequestParser& r = self(p);
  if (r.in_value_) r.end_header();
  if (r.field_.empty() && ++r.header_count_ > r.max_header_count_) {
    r.error_status_ = 431;
    return 1;
  }
  if (!r.count_head(n + (r.field_.empty() ? kHeaderOverhead : 0))) return 1;
  r.field_.append(at, n);
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, std::size_t n) {
  RequestParser& r = self(p);
  if (!r.count_head(n)) return 1;
  r.in_value_ = true;
  r.value_.append(at, n);
  return 0;
}

int RequestParser::on_headers_complete(http_parser* p) {
  RequestParser& r = self(p);
  r.end_header();
  if (p->http_major != 1) {  // HTTP/2.0 and the like in an HTTP/1 request line
    r.error_status_ = p->http_major == 0 ? 400 : 505;
    return -1;
  }
  if (!reduce_absolute_form(r.current_.request)) {
    r.error_status_ = 400;
    return -1;
  }
  const std::uint64_t length = p->content_length;
  if (length != ULLONG_MAX && length > r.max_body_bytes_) {
    r.error_status_ = 413;
    return -1;  // any value but 0, 1, 2 stops the parser with an error
  }
  auto expect = r.current_.request.headers.find("expect");
  r.expect_continue_ = expect != r.current_.request.headers.end() && p->http_minor >= 1 &&
                       lower(expect->second) == "100-continue";
  r.phase_ = Phase::body;
  return 0;
}

bool RequestParser::take_continue() {
  return std::exchange(expect_continue_, false);
}

int RequestParser::on_body(http_parser* p, const char* at, std::size_t n) {
  RequestParser& r = self(p);
  std::string& body = r.current_.request.body;
  if (body.size() + n > r.max_body_bytes_) {
    r.error_status_ = 413;
    return 1;
  }
  body.append(at, n);
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  RequestParser& r = self(p);
  r.expect_continue_ = false;  // the body is here: no interim answer needed
  r.phase_ = Phase::idle;
  ParsedRequest& req = r.current_;
  req.request.method = http_method_str(static_cast<http_method>(p->method));
  split_target(req.request.target, req.request.path, req.request.query);
  req.keep_alive = http_should_keep_alive(p) != 0;
  req.http10 = p->http_major == 1 && p->http_minor == 0;
  req.upgrade = p->upgrade != 0;
  auto upgrade = req.request.headers.find("upgrade");
  req.websocket = req.upgrade && p->method == HTTP_GET && upgrade != req.request.headers.end() &&
                  contains_token(upgrade->second, "websocket");
  if (!(*r.sink_)(std::move(req))) http_parser_pause(p, 1);
  return 0;
}

bool contains_token(std::string_view value, std::string_view token) {
  auto lower_char = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  return std::search(value.begin(), value.end(), token.begin(), token.end(),
                     [&](char a, char b) { return lower_char(a) == b; }) != value.end();
}

bool opens_no_session(std::string_view start, const ServerOptions& options) {
  const std::size_t method_end = start.find(' ');
  if (method_end == std::string_view::npos) return false;
  if (start.substr(0, method_end) != "GET") return true;  // sessions open with a GET only
  const std::string_view target = start.substr(method_end + 1);
  const std::size_t path_end = target.find_first_of(" ?");
  if (path_end == std::string_view::npos) return false;
  const std::string_view path = target.substr(0, path_end);
  // Percent-encoded or absolute-form ("http://host/ws"): once decoded, it might be one.
  if (path.empty() || path.front() != '/' || path.find('%') != std::string_view::npos) return false;
  for (const std::string* session :
       {&options.websocket_path, &options.sse_path, &options.stomp_path}) {
    if (!session->empty() && path == *session) return false;
  }
  return true;
}

void split_target(const std::string& target, std::string& path,
                  std::map<std::string, std::string>& query) {
  const std::size_t q = target.find('?');
  path = decode(target.substr(0, q), false);
  if (q == std::string::npos) return;
  std::size_t start = q + 1;
  while (start <= target.size()) {
    std::size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    const std::string part = target.substr(start, end - start);
    if (!part.empty()) {
      const std::size_t eq = part.find('=');
      std::string key = decode(part.substr(0, eq), true);
      std::string value = eq == std::string::npos ? "" : decode(part.substr(eq + 1), true);
      query.emplace(std::move(key), std::move(value));  // the first occurrence wins
    }
    start = end + 1;
  }
}

std::string serialize(const HttpResponse& response, bool close, bool http10_keep_alive,
                      bool head_only) {
  // One allocation: every part's size is known before the first is written. The fixed
  // texts below take at most 72 bytes, the status and the length at most 3 + 20 digits.
  const char* reason = reason_phrase(response.status);
  std::size_t size = 96 + std::strlen(reason) + response.content_type.size() +
                     (head_only ? 0 : response.body.size());
  for (const auto& [name, value] : response.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out.append("HTTP/1.1 ");
  append_json_integer(out, response.status);
  out.append(" ").append(reason).append("\r\n");
  if (!response.content_type.empty())
    out.append("Content-Type: ").append(response.content_type).append("\r\n");
  // RFC 9110 §8.6: no Content-Length in a 1xx or 204 answer (they never have a body).
  if (response.status >= 200 && response.status != 204) {
    out.append("Content-Length: ");
    append_json_integer(out, response.body.size());
    out.append("\r\n");
  }
  for (const auto& [name, value] : response.headers)
    out.append(name).append(": ").append(value).append("\r\n");
  if (close) {
    out.append("Connection: close\r\n");
  } else if (http10_keep_alive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!head_only) out.append(response.body);
  return out;
}

HttpResponse error_response(int status, const char* code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  // The shape of every herald error body (docs/protocol.md, Errors). The message may quote
  // client input (a path): invalid UTF-8 is replaced, never thrown.
  r.body = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace herald::websocket::detail
