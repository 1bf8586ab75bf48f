#include "frames.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "wspp.hpp"

namespace herald::websocket::detail {

namespace {

constexpr std::size_t kMaxControlPayload = 125;

/// Every frame the engine sends is checked, and most are ASCII JSON: whole 8-byte words of
/// ASCII are skipped, and the validator starts at the first byte with its high bit set (an
/// ASCII byte always ends a character, so that byte starts one).
bool valid_utf8(const std::string& text) {
  const char* p = text.data();
  const std::size_t n = text.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + i, 8);
    if (word & 0x8080808080808080ull) break;
  }
  while (i < n && static_cast<unsigned char>(p[i]) < 0x80) ++i;
  if (i == n) return true;
  websocketpp::utf8_validator::validator validator;
  return validator.decode(text.begin() + static_cast<std::ptrdiff_t>(i), text.end()) &&
         validator.complete();
}

/// valid_utf8 of a shared body, checked once per thread for a run of frames that share it:
/// a fan-out sends one body to every recipient in a row from the sender's thread. The
/// weak_ptr tells a body still alive from a new one at a freed body's address.
bool valid_shared_utf8(const SharedBytes& body) {
  thread_local std::weak_ptr<const std::string> last;
  thread_local const std::string* last_address = nullptr;
  if (body.get() == last_address && !last.expired()) return true;
  if (!valid_utf8(*body)) return false;
  last = body;
  last_address = body.get();
  return true;
}

/// `text` cut to at most `limit` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

std::size_t write_header(char (&out)[kMaxHeaderBytes], Opcode opcode, std::size_t length) {
  std::size_t n = 0;
  out[n++] = static_cast<char>(0x80 | static_cast<unsigned>(opcode));  // FIN
  if (length < 126) {
    out[n++] = static_cast<char>(length);
  } else if (length <= 0xFFFF) {
    out[n++] = static_cast<char>(126);
    out[n++] = static_cast<char>(length >> 8);
    out[n++] = static_cast<char>(length & 0xFF);
  } else {
    out[n++] = static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out[n++] = static_cast<char>((static_cast<std::uint64_t>(length) >> shift) & 0xFF);
  }
  return n;
}

void append_header(std::string& out, Opcode opcode, std::size_t length) {
  char header[kMaxHeaderBytes];
  out.append(header, write_header(header, opcode, length));
}

std::string control_frame(Opcode opcode, const std::string& payload) {
  const std::string body = payload.substr(0, kMaxControlPayload);
  std::string out;
  append_header(out, opcode, body.size());
  return out + body;
}

std::string close_frame(std::uint16_t code, const std::string& reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload += cut_utf8(reason, kMaxControlPayload - 2);
  return control_frame(Opcode::close, payload);
}

CloseEcho echo_close(const std::string& payload) {
  WsErrorCode ec;
  CloseEcho echo;
  echo.code = websocketpp::close::extract_code(payload, ec);
  if (!ec) echo.reason = websocketpp::close::extract_reason(payload, ec);
  if (ec) return {ws_close::protocol_error, "invalid close frame"};
  if (echo.code == ws_close::no_status) return {ws_close::normal, ""};
  return echo;
}

bool ends_on_whole_utf8(const std::string& text) {
  // The last lead byte, and whether exactly the bytes its character needs follow it:
  // 0xxxxxxx stands alone, 110xxxxx takes 1 more, 1110xxxx 2, 11110xxx 3.
  const std::size_t reach = std::min<std::size_t>(text.size(), 4);
  for (std::size_t back = 1; back <= reach; ++back) {
    const auto c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: the lead is further back
    const std::size_t length = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    return back == length;
  }
  return text.empty();  // continuation bytes without a lead
}

bool FrameCache::wire_for(Frame&& frame, WireFrame& out) {
  if (frame.head.empty() && frame.body) {
    out.prefix.clear();
    out.tail = shared_wire(frame.body);
    return out.tail != nullptr;
  }
  if (!valid_utf8(frame.head) || (frame.body && !valid_shared_utf8(frame.body))) return false;
  framed_.fetch_add(1, std::memory_order_relaxed);
  char header[kMaxHeaderBytes];
  const std::size_t n = write_header(header, Opcode::text, frame.size());
  // The head becomes the prefix: with Frame::kHeadroom spare (the engine's heads have it)
  // the header goes in front of it in place, one allocation less per recipient.
  out.prefix = std::move(frame.head);
  out.prefix.insert(0, header, n);
  out.tail = std::move(frame.body);
  return true;
}

WireFrame FrameCache::wire_for(const std::string& text) {
  WireFrame out;
  wire_for(Frame{text, nullptr}, out);
  return out;
}

// The cached buffer for `body`, or null (the caller frames it).
SharedBytes FrameCache::cached(const SharedBytes& body) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Entry& e : entries_) {
    if (e.key == nullptr) continue;
    if (e.body.expired()) {
      e = Entry{};  // its fan-out is over: release the buffer now
      continue;
    }
    if (e.key == body.get()) {
      reused_.fetch_add(1, std::memory_order_relaxed);
      return e.wire;
    }
  }
  return nullptr;
}

SharedBytes FrameCache::shared_wire(const SharedBytes& body) {
  if (SharedBytes hit = cached(body)) return hit;
  // Framed outside the lock: two threads racing on the same new body both frame it, which
  // is correct, only not shared.
  if (!valid_utf8(*body)) return nullptr;
  framed_.fetch_add(1, std::memory_order_relaxed);
  auto wire = std::make_shared<std::string>();
  wire->reserve(10 + body->size());
  append_header(*wire, Opcode::text, body->size());
  *wire += *body;
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* victim = nullptr;
  for (Entry& e : entries_)
    if (e.key == nullptr) victim = &e;
  if (victim == nullptr) {
    victim = &entries_[next_];
    next_ = (next_ + 1) % kEntries;
  }
  *victim = Entry{body.get(), body, wire};
  return wire;
}

}  // namespace herald::websocket::detail
