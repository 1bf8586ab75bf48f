// Fuzz target: the HTTP/1.1 request parser (backends/websocket/src/http.hpp) as a connection
// drives it: the bytes arrive in pieces split where the input says, the sink pauses the
// parser where the input says (as a connection with answers pending does), and the limits
// are the server's defaults or small ones that the input can reach.
//
// Invariants: a parsed request respects every limit; a feed never consumes more than it
// was given; an error is one of the documented statuses and ends the connection; the
// target's decoding (split_target) is stable on the path and query; every answer
// serializes to a well-formed head; a WebSocket upgrade is answered 101 exactly when it
// carries Host, a key and a version spoken (handshake.hpp), with a head of fixed lines, and
// otherwise 400 or 426 and a close.

#include <fuzzer/FuzzedDataProvider.h>

#include <cctype>
#include <string>

#include "check.hpp"
#include "handshake.hpp"
#include "http.hpp"

using herald::websocket::HttpRequest;
using herald::websocket::HttpResponse;
using namespace herald::websocket::detail;

namespace {

struct Limits {
  std::size_t header_bytes, body_bytes, header_count;
};
// The server's defaults (ServerOptions), and small ones the fuzzer reaches in a few bytes.
constexpr Limits kLimits[] = {{16 * 1024, 1 << 20, 100}, {256, 64, 4}, {1024, 0, 1}};

std::string trimmed(const HttpRequest& r, const char* name) {
  auto it = r.headers.find(name);
  if (it == r.headers.end()) return "";
  const std::size_t first = it->second.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return it->second.substr(first, it->second.find_last_not_of(" \t") - first + 1);
}

void check_handshake(const HttpRequest& r, bool stomp) {
  const HandshakeAnswer a = answer_handshake(r, stomp);
  const std::string version = trimmed(r, "sec-websocket-version");
  // http-parser's upgrade flag may come from a header herald keeps under another name
  // ("Connection :Upgrade" is "connection "): the answer reads herald's headers.
  std::string connection = trimmed(r, "connection");
  for (char& c : connection) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool valid = connection.find("upgrade") != std::string::npos &&
                     !trimmed(r, "host").empty() && !trimmed(r, "sec-websocket-key").empty() &&
                     (version == "13" || version == "8" || version == "7");
  if (a.accepted) {
    CHECK(valid);
    CHECK(a.bytes.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
    const std::size_t accept = a.bytes.find("\r\nSec-WebSocket-Accept: ");
    CHECK(accept != std::string::npos);
    CHECK(a.bytes.compare(accept + 24 + 28, 2, "\r\n") == 0);  // 28 base64 digits: SHA-1
    // Nothing from the request reaches the head but a known subprotocol: 4 or 5 lines.
    std::size_t lines = 0;
    for (std::size_t at = a.bytes.find("\r\n"); at != std::string::npos;
         at = a.bytes.find("\r\n", at + 2))
      ++lines;
    CHECK((lines == 5 || lines == 6));  // the status line, 3 or 4 headers, the empty line
    CHECK(a.bytes.size() >= 4);
    CHECK(a.bytes.compare(a.bytes.size() - 4, 4, "\r\n\r\n") == 0);
  } else {
    CHECK(!valid);
    CHECK((a.bytes.rfind("HTTP/1.1 400 ", 0) == 0 || a.bytes.rfind("HTTP/1.1 426 ", 0) == 0));
    CHECK(a.bytes.find("\r\nConnection: close\r\n") != std::string::npos);
  }
}

void check_request(const ParsedRequest& p, const Limits& limits) {
  const auto& r = p.request;
  CHECK(r.body.size() <= limits.body_bytes);
  // The limit is on the header lines received; an absolute-form target adds "host".
  CHECK(r.headers.size() <= limits.header_count + 1);
  // Every byte kept was counted against the limit (a repeated header's ", " within the
  // framing counted for it), except "host" when an absolute-form target brought it: slack.
  std::size_t head = r.target.size();
  for (const auto& [name, value] : r.headers) {
    head += name.size() + value.size();
    for (char c : name) CHECK(!(c >= 'A' && c <= 'Z'));  // names are lower case
  }
  CHECK(head <= limits.header_bytes + 8);
  CHECK(!r.method.empty());
  CHECK(!p.websocket || (p.upgrade && r.method == "GET"));
  // An absolute-form target arrives reduced to its origin form.
  CHECK(r.target.empty() || r.target[0] == '/' || r.target.find("://") == std::string::npos);
  // split_target is what the parser used: the same target gives the same path and query.
  std::string path;
  std::map<std::string, std::string> query;
  split_target(r.target, path, query);
  CHECK(path == r.path && query == r.query);
  // Routing answers quote the path: the head stays well formed whatever the path holds.
  HttpResponse answer = error_response(404, "not_found", "nothing at " + r.path);
  const std::string wire = serialize(answer, !p.keep_alive, p.http10, r.method == "HEAD");
  CHECK(wire.find("\r\n\r\n") != std::string::npos);
  if (p.websocket) check_handshake(r, r.path.size() % 2 == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const Limits& limits = kLimits[in.ConsumeIntegralInRange<std::size_t>(0, 2)];
  const std::uint32_t pause_mask = in.ConsumeIntegral<std::uint32_t>();  // sink answers
  const std::size_t chunk = in.ConsumeIntegralInRange<std::size_t>(1, 4096);
  const std::string bytes = in.ConsumeRemainingBytesAsString();

  RequestParser parser(limits.header_bytes, limits.body_bytes, limits.header_count);
  std::size_t requests = 0;
  const RequestParser::Sink sink = [&](ParsedRequest&& p) {
    check_request(p, limits);
    return (pause_mask >> (requests++ % 32) & 1) == 0;
  };
  // The connection's loop: feed a piece; a paused parser gets the rest of it again.
  std::size_t at = 0;
  for (std::size_t round = 0; at < bytes.size(); ++round) {
    CHECK(round <= 2 * bytes.size());  // every round consumes, or pauses after a request
    const std::size_t piece = std::min(chunk, bytes.size() - at);
    const FeedResult r = parser.feed(bytes.data() + at, piece, sink);
    CHECK(r.consumed <= piece);
    if (r.error_status != 0) {
      CHECK(r.error_status == 400 || r.error_status == 413 || r.error_status == 431 ||
            r.error_status == 505);
      break;
    }
    if (r.upgraded) break;  // the rest is another protocol
    CHECK(r.paused || r.consumed == piece);
    at += r.consumed;
    parser.take_continue();
  }
  return 0;
}
