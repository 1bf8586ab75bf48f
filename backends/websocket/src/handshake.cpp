#include "handshake.hpp"

#include <cstddef>
#include <string_view>

#include "http.hpp"
#include "wspp.hpp"

namespace herald::websocket::detail {

namespace {

// RFC 6455 §1.3: the key's answer is base64(SHA-1(key + this GUID)).
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kTokenSubprotocol = "herald.token";  // see answer_handshake

std::string_view header(const HttpRequest& r, const char* name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string_view() : std::string_view(it->second);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated Sec-WebSocket-Protocol list offers `name`.
bool offers(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (trim(list.substr(0, comma)) == name) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view choose_subprotocol(std::string_view offered, bool stomp) {
  if (offered.empty()) return {};
  if (!stomp) return offers(offered, kTokenSubprotocol) ? kTokenSubprotocol : std::string_view();
  // STOMP 1.2 "WebSocket": answer the newest version the client speaks.
  for (std::string_view version : {"v12.stomp", "v11.stomp", "v10.stomp"})
    if (offers(offered, version)) return version;
  return {};
}

std::string accept_key(std::string_view key) {
  std::string text;
  text.reserve(key.size() + kAcceptGuid.size());
  text.append(key).append(kAcceptGuid);
  unsigned char digest[20];
  websocketpp::sha1::calc(text.data(), text.size(), digest);
  return websocketpp::base64_encode(digest, sizeof digest);
}

HandshakeAnswer refuse(int status, const std::string& message,
                       std::pair<std::string, std::string> extra = {}) {
  HttpResponse response =
      error_response(status, status == 426 ? "upgrade_required" : "bad_handshake", message);
  if (!extra.first.empty()) response.headers.push_back(std::move(extra));
  return {false, serialize(response, true, false, false)};
}

}  // namespace

HandshakeAnswer answer_handshake(const HttpRequest& request, bool stomp) {
  // http-parser's upgrade flag may come from a header kept under another name
  // ("Connection :Upgrade" is "connection "): the rules read the headers as kept.
  if (!contains_token(header(request, "connection"), "upgrade"))
    return refuse(426, "a WebSocket handshake needs \"Connection: Upgrade\"",
                  {"Upgrade", "websocket"});
  if (header(request, "host").empty())
    return refuse(400, "a WebSocket handshake needs a Host header");
  const std::string_view version = trim(header(request, "sec-websocket-version"));
  if (version != "13" && version != "8" && version != "7")
    return refuse(400, "Sec-WebSocket-Version must be 13", {"Sec-WebSocket-Version", "13, 8, 7"});
  const std::string_view key = trim(header(request, "sec-websocket-key"));
  if (key.empty()) return refuse(400, "a WebSocket handshake needs a Sec-WebSocket-Key");

  const std::string_view protocol =
      choose_subprotocol(header(request, "sec-websocket-protocol"), stomp);
  HandshakeAnswer answer{true, {}};
  std::string& out = answer.bytes;
  out.reserve(160 + protocol.size());
  out.append(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ");
  out.append(accept_key(key)).append("\r\n");
  if (!protocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  out.append("\r\n");
  return answer;
}

}  // namespace herald::websocket::detail
