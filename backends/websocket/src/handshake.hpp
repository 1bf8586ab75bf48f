#pragma once
// The WebSocket opening handshake (RFC 6455 §4.2), answered from the upgrade request the
// HTTP parser has already read. Its rules are those websocketpp's connection applied, which
// herald used until 2026-12 (it parsed the request a second time and wrote its answer
// through a stringstream, ~40 % of the user-space work of opening a session); the accept
// key is still websocketpp's SHA-1 and base64. No I/O here.

#include <string>

#include "herald/websocket/server.hpp"

namespace herald::websocket::detail {

struct HandshakeAnswer {
  bool accepted = false;  // a 101: the session is open once `bytes` are written
  std::string bytes;      // the answer to write: the 101, or an error (then close)
};

/// Answers `request` (a GET whose Upgrade names websocket; headers in lower case).
/// - 101 when Connection names "upgrade", Host and Sec-WebSocket-Key are not empty and
///   Sec-WebSocket-Version is 13 (or the drafts 8 and 7, whose handshake and frames are
///   13's); the answer names the subprotocol chosen from those offered: "herald.token" on
///   the herald path (browsers cannot set headers on a WebSocket: they offer ("herald.token",
///   "<token>") and fail the connection unless the answer names one of those), the newest of
///   "v12.stomp", "v11.stomp", "v10.stomp" on the STOMP path
///   (`stomp`), none if none of them was offered;
/// - 400 with herald's error body otherwise (with "Sec-WebSocket-Version: 13, 8, 7" for a
///   version it does not speak), 426 if Connection does not ask for an upgrade.
HandshakeAnswer answer_handshake(const HttpRequest& request, bool stomp);

}  // namespace herald::websocket::detail
