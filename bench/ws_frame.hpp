#pragma once
// The WebSocket framing the load tools need as clients (RFC 6455): the upgrade request, one
// server frame read in place, and one client frame written. No validation beyond what a
// client of a trusted server needs; cheap on purpose (the tools share the cores with the
// server they measure).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::bench {

enum WsOpcode : int { kWsText = 1, kWsClose = 8, kWsPing = 9, kWsPong = 10 };

/// The HTTP upgrade request for `target` (path and query) on 127.0.0.1.
inline std::string ws_upgrade_request(const std::string& target) {
  return "GET " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

/// One server frame (servers do not mask): its opcode, its payload inside the input, and
/// the bytes it took.
struct WsFrame {
  int opcode = 0;
  std::string_view payload;
  std::size_t size = 0;
};

/// The frame at the start of `in`, or nullopt while it is incomplete.
inline std::optional<WsFrame> next_server_frame(std::string_view in) {
  if (in.size() < 2) return std::nullopt;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
  std::size_t length = byte(1) & 0x7f, header = 2;
  if (length == 126) {
    if (in.size() < 4) return std::nullopt;
    length = (std::size_t{byte(2)} << 8) | byte(3);
    header = 4;
  } else if (length == 127) {
    if (in.size() < 10) return std::nullopt;
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
    header = 10;
  }
  if (in.size() - header < length) return std::nullopt;
  return WsFrame{byte(0) & 0x0f, in.substr(header, length), header + length};
}

/// A final client frame: masked (RFC 6455 requires it) with a zero mask, which keeps the
/// payload as is.
inline std::string client_frame(int opcode, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | opcode));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  out.append(4, '\0');
  out.append(payload);
  return out;
}

}  // namespace herald::bench
