// The STOMP 1.2 frame codec (include/herald/stomp.hpp): a pure function of bytes, written to
// be fuzzed. Every bound is checked before anything is copied.

#include <charconv>
#include <string>
#include <string_view>

#include "herald/stomp.hpp"

namespace herald::stomp {

namespace {

// CONNECT, STOMP and CONNECTED frames carry their headers unescaped (STOMP 1.2 "Value
// Encoding"): clients of 1.0 servers send them that way.
bool raw_headers(std::string_view command) {
  return command == "CONNECT" || command == "STOMP" || command == "CONNECTED";
}

// Decodes the escapes of one header name or value into `out`. False on an undefined escape.
bool unescape(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == in.size()) return false;
    switch (in[i]) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 'c': out += ':'; break;
      default: return false;
    }
  }
  return true;
}

// Reads one line starting at `pos`: its text without the EOL, and where the next line
// starts. False when no LF is found before `limit` bytes (`incomplete` says whether more
// input could still complete it).
struct Line {
  std::string_view text;
  std::size_t next = 0;
};
enum class LineResult { ok, incomplete, too_long };
LineResult read_line(std::string_view in, std::size_t pos, std::size_t limit, Line& line) {
  const std::size_t window = std::min(in.size() - pos, limit + 2);  // + CRLF
  const std::size_t lf = in.substr(pos, window).find('\n');
  if (lf == std::string_view::npos) {
    return window > limit + 1 ? LineResult::too_long : LineResult::incomplete;
  }
  std::string_view text = in.substr(pos, lf);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.size() > limit) return LineResult::too_long;
  line = {text, pos + lf + 1};
  return LineResult::ok;
}

// Parses one frame at `pos`. ok: `frame` is complete and `pos` is past its NUL.
enum class FrameResult { ok, incomplete, error };
FrameResult parse_frame(std::string_view in, std::size_t& pos, const FrameLimits& limits,
                        StompFrame& frame, std::string& error) {
  // The command: letters A-Z up to the EOL, refused at the first byte that cannot be one.
  std::size_t end = pos;
  while (end < in.size() && end - pos <= limits.max_command_bytes && in[end] >= 'A' &&
         in[end] <= 'Z')
    ++end;
  if (end - pos > limits.max_command_bytes) {
    error = "command longer than " + std::to_string(limits.max_command_bytes) + " bytes";
    return FrameResult::error;
  }
  if (end == in.size() || (in[end] == '\r' && end + 1 == in.size()))
    return FrameResult::incomplete;
  const bool eol = in[end] == '\n' || (in[end] == '\r' && in[end + 1] == '\n');
  if (!eol || end == pos) {
    error = "invalid command line: a frame starts with a command of letters A-Z";
    return FrameResult::error;
  }
  frame.command.assign(in.substr(pos, end - pos));
  Line line;
  std::size_t at = end + (in[end] == '\r' ? 2 : 1);
  const bool raw = raw_headers(frame.command);
  for (;;) {
    switch (read_line(in, at, limits.max_header_bytes, line)) {
      case LineResult::incomplete: return FrameResult::incomplete;
      case LineResult::too_long:
        error = "header line longer than " + std::to_string(limits.max_header_bytes) + " bytes";
        return FrameResult::error;
      case LineResult::ok: break;
    }
    at = line.next;
    if (line.text.empty()) break;  // the blank line: the body follows
    if (frame.headers.size() == limits.max_headers) {
      error = "more than " + std::to_string(limits.max_headers) + " headers";
      return FrameResult::error;
    }
    if (line.text.find('\0') != std::string_view::npos) {
      error = "NUL inside the headers";
      return FrameResult::error;
    }
    const std::size_t colon = line.text.find(':');
    if (colon == std::string_view::npos) {
      error = "header line without ':'";
      return FrameResult::error;
    }
    std::string name, value;
    if (raw) {
      name.assign(line.text.substr(0, colon));
      value.assign(line.text.substr(colon + 1));
    } else if (!unescape(line.text.substr(0, colon), name) ||
               !unescape(line.text.substr(colon + 1), value)) {
      error = "undefined escape sequence in a header (only \\\\ \\n \\r \\c are defined)";
      return FrameResult::error;
    }
    if (name.empty()) {
      error = "header with an empty name";
      return FrameResult::error;
    }
    frame.headers.emplace_back(std::move(name), std::move(value));
  }

  // The body: content-length bytes then NUL, or everything up to the first NUL.
  if (const std::string* length = frame.header("content-length")) {
    std::size_t n = 0;
    const char* last = length->data() + length->size();
    auto [p, ec] = std::from_chars(length->data(), last, n);
    if (length->empty() || ec != std::errc() || p != last) {
      error = "content-length is not a decimal number";
      return FrameResult::error;
    }
    if (n > limits.max_body_bytes) {
      error = "body longer than " + std::to_string(limits.max_body_bytes) + " bytes";
      return FrameResult::error;
    }
    if (in.size() - at < n + 1) return FrameResult::incomplete;
    if (in[at + n] != '\0') {
      error = "no NUL after the content-length bytes of the body";
      return FrameResult::error;
    }
    frame.body.assign(in.substr(at, n));
    pos = at + n + 1;
    return FrameResult::ok;
  }
  const std::size_t window = std::min(in.size() - at, limits.max_body_bytes + 1);
  const std::size_t nul = in.substr(at, window).find('\0');
  if (nul == std::string_view::npos) {
    if (window > limits.max_body_bytes) {
      error = "body longer than " + std::to_string(limits.max_body_bytes) + " bytes";
      return FrameResult::error;
    }
    return FrameResult::incomplete;
  }
  frame.body.assign(in.substr(at, nul));
  pos = at + nul + 1;
  return FrameResult::ok;
}

}  // namespace

const std::string* StompFrame::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return &v;
  return nullptr;
}

Decoded decode(std::string_view in, const FrameLimits& limits) {
  Decoded out;
  std::size_t pos = 0;
  for (;;) {
    // Heart-beats: EOLs (LF or CRLF) between frames.
    while (pos < in.size()) {
      if (in[pos] == '\n') {
        ++pos;
      } else if (in[pos] == '\r' && pos + 1 < in.size() && in[pos + 1] == '\n') {
        pos += 2;
      } else {
        break;
      }
      ++out.heartbeats;
    }
    out.consumed = pos;
    if (pos == in.size() || (in[pos] == '\r' && pos + 1 == in.size())) return out;
    if (out.frames.size() == limits.max_frames) {
      out.error = "more than " + std::to_string(limits.max_frames) + " frames in one message";
      return out;
    }
    StompFrame frame;
    std::size_t next = pos;
    switch (parse_frame(in, next, limits, frame, out.error)) {
      case FrameResult::incomplete:
        if (in.size() - pos > limits.max_frame_bytes()) out.error = "frame too large";
        return out;
      case FrameResult::error: return out;
      case FrameResult::ok: break;
    }
    out.frames.push_back(std::move(frame));
    pos = next;
  }
}

void append_escaped(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case ':': out += "\\c"; break;
      default: out += c;
    }
  }
}

std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  append_escaped(out, value);
  return out;
}

std::string encode(const StompFrame& frame) {
  const bool raw = raw_headers(frame.command);
  std::string out;
  out.reserve(frame.command.size() + 64 * (frame.headers.size() + 1) + frame.body.size());
  out += frame.command;
  out += '\n';
  for (const auto& [name, value] : frame.headers) {
    if (raw) {
      out += name;
      out += ':';
      out += value;
    } else {
      append_escaped(out, name);
      out += ':';
      append_escaped(out, value);
    }
    out += '\n';
  }
  if (!frame.body.empty() && !frame.header("content-length")) {
    out += "content-length:";
    out += std::to_string(frame.body.size());
    out += '\n';
  }
  out += '\n';
  out += frame.body;
  out += '\0';
  return out;
}

}  // namespace herald::stomp
