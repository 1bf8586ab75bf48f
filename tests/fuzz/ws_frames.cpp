// Fuzz target: a WebSocket session's client frames, read as Conn::read_frames reads them
// (backends/websocket/src/wspp.hpp: websocketpp's hybi13 processor with the server's size
// limit; masking, fragmentation, control frames, close codes, UTF-8), and what the server
// writes back (frames.hpp: pongs, close frames with their cut reasons, text frames).
//
// Invariants: a text message is valid UTF-8 within the size limit; every frame the server
// would answer with (the pong, the echoed close, the close after a protocol error, a text
// frame) is read back by a client-side processor as the same opcode and payload, a close
// reason cut at a UTF-8 boundary included.

#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <string>

#include "frames.hpp"
#include "wspp.hpp"
#include "check.hpp"

using namespace herald::websocket::detail;

namespace {

WsConfig::rng_type& no_rng() {  // neither side masks here: never drawn from
  static WsConfig::rng_type rng;
  return rng;
}

// The server's frame `wire`, read by a client: one message, `opcode`, carrying `payload`.
void check_reads_back(const std::string& wire, ws_opcode::value opcode,
                      const std::string& payload) {
  WsProcessor client(false, false, std::make_shared<WsMsgManager>(), no_rng());
  std::string bytes = wire;
  WsErrorCode ec;
  const std::size_t n =
      client.consume(reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size(), ec);
  CHECK(!ec && n == bytes.size() && client.ready());
  const WsMessagePtr message = client.get_message();
  CHECK(message && message->get_opcode() == opcode && message->get_payload() == payload);
}

// What Conn::on_close_frame answers to a client's close frame.
void answer_close(const std::string& payload) {
  const auto [code, reason] = echo_close(payload);
  const std::string answer = close_frame(code, reason);
  CHECK(answer.size() <= 2 + 125);
  std::string echoed;  // the payload the client reads: the code, then the reason as cut
  echoed.push_back(static_cast<char>(code >> 8));
  echoed.push_back(static_cast<char>(code & 0xFF));
  echoed += answer.substr(4);
  CHECK(reason.compare(0, echoed.size() - 2, echoed, 2) == 0);  // a prefix of the reason
  check_reads_back(answer, ws_opcode::close, echoed);
}

// What Conn::protocol_error sends before it closes.
void answer_error(const WsErrorCode& ec) {
  namespace error = websocketpp::processor::error;
  const auto code = static_cast<std::uint16_t>(
      ec == error::make_error_code(error::non_minimal_encoding) ? ws_close::protocol_error
                                                                : error::to_ws(ec));
  const std::string answer = close_frame(code, ec.message());
  std::string payload = answer.substr(2);
  check_reads_back(answer, ws_opcode::close, payload);
}

// As the engine sends a notification: a head of its own with Frame::kHeadroom spare, then
// a shared body, cut where a character starts. The header goes in front of the head in its
// own buffer (no allocation), and the two read back as the payload.
void as_head_and_body(FrameCache& cache, const std::string& payload) {
  std::size_t cut = payload.size() / 2;
  while (cut > 0 && (static_cast<unsigned char>(payload[cut]) & 0xC0) == 0x80) --cut;
  if (cut == 0) return;  // no head: a shared frame, framed above
  herald::Frame f;
  f.head.reserve(cut + herald::Frame::kHeadroom);
  f.head.assign(payload, 0, cut);
  f.body = std::make_shared<const std::string>(payload.substr(cut));
  const char* buffer = f.head.data();
  WireFrame wire;
  CHECK(cache.wire_for(std::move(f), wire));
  CHECK(wire.prefix.data() == buffer);
  CHECK(wire.tail && wire.wire() == wire.prefix.size() + wire.tail->size());
  check_reads_back(wire.prefix + *wire.tail, ws_opcode::text, payload);
  // The next recipient of the same body (its UTF-8 checked once per thread and body); a
  // body that is not UTF-8 is refused right after it.
  herald::Frame next{payload.substr(0, cut), wire.tail};
  WireFrame again;
  CHECK(cache.wire_for(std::move(next), again));
  check_reads_back(again.prefix + *again.tail, ws_opcode::text, payload);
  herald::Frame bad{payload.substr(0, cut), std::make_shared<const std::string>("\xff")};
  CHECK(!cache.wire_for(std::move(bad), again));
}

void on_message(const WsMessagePtr& message, std::size_t max_bytes) {
  const std::string& payload = message->get_payload();
  // The limit is on messages; a control frame carries at most 125 bytes (RFC 6455 §5.5).
  CHECK(payload.size() <= (websocketpp::frame::opcode::is_control(message->get_opcode())
                               ? 125
                               : max_bytes));
  switch (message->get_opcode()) {
    case ws_opcode::text: {
      if (!ends_on_whole_utf8(payload))  // what Conn::on_frame refuses with 1007
        return answer_error(websocketpp::processor::error::make_error_code(
            websocketpp::processor::error::invalid_utf8));
      CHECK(websocketpp::utf8_validator::validate(payload));
      FrameCache cache;
      const WireFrame frame = cache.wire_for(payload);
      CHECK(frame.wire() == frame.prefix.size() && frame.wire() > payload.size());
      check_reads_back(frame.prefix, ws_opcode::text, payload);
      return as_head_and_body(cache, payload);
    }
    case ws_opcode::ping:
      CHECK(payload.size() <= 125);
      return check_reads_back(control_frame(Opcode::pong, payload), ws_opcode::pong, payload);
    case ws_opcode::close:
      return answer_close(payload);
    default:
      return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // The server's default limit (64 KiB), or one the input reaches with a short frame.
  const std::size_t max_bytes = in.ConsumeBool() ? 64 * 1024 : 16;
  const std::size_t chunk = in.ConsumeIntegralInRange<std::size_t>(1, 1024);
  std::string bytes = in.ConsumeRemainingBytesAsString();

  WsProcessor server(false, true, std::make_shared<WsMsgManager>(), no_rng());
  server.set_max_message_size(max_bytes);
  // Conn::read_frames over pieces of the input, as reads would deliver them.
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t end = std::min(bytes.size(), at + chunk);
    while (at < end) {
      WsErrorCode ec;
      const std::size_t n =
          server.consume(reinterpret_cast<std::uint8_t*>(bytes.data()) + at, end - at, ec);
      if (ec) {
        answer_error(ec);
        return 0;  // the session ends: nothing more is parsed
      }
      CHECK(n <= end - at);
      at += n;
      if (server.ready()) {
        on_message(server.get_message(), max_bytes);
      } else if (n == 0) {
        return 0;
      }
    }
  }
  return 0;
}
