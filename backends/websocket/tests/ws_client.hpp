#pragma once
// Test clients for herald::websocket and for end-to-end tests of servers built on it:
//
//   WsClient c(port, "/ws?userId=alice");        // connects, upgrades (c.ok(), c.status())
//   json f = c.next_json();                       // next text frame, parsed (null on timeout)
//   c.send_text(R"({"op":"ping"})");
//   c.close();  c.close_code();                   // close handshake, bounded
//
//   HttpClient h(port);                           // one keep-alive connection, reconnects
//   auto r = h.request("GET", "/healthz");        // r.status, r.headers, r.body
//
// Every call is blocking with a timeout (default kWait) on a private io_context, so a test
// never hangs on a misbehaving server. Header-only; needs standalone Asio and nlohmann::json.
// Not thread-safe: one client per thread.

#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace herald::websocket::test {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;
inline constexpr Millis kWait{5000};

enum Opcode : int { kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

/// A client TCP connection to 127.0.0.1 with deadline-bounded operations.
class TestSocket {
 public:
  TestSocket() = default;
  TestSocket(const TestSocket&) = delete;
  TestSocket& operator=(const TestSocket&) = delete;

  /// `receive_buffer` > 0 sets SO_RCVBUF before connecting (a small window makes a client
  /// that does not read fill up quickly).
  /// `from`: the local address to connect from (another 127.x.y.z is another client address
  /// to the server); empty: the system's choice.
  bool connect(std::uint16_t port, int receive_buffer = 0, Millis timeout = kWait,
               const std::string& from = std::string()) {
    close();
    std::error_code ec;
    socket_.open(asio::ip::tcp::v4(), ec);
    if (ec) return false;
    if (receive_buffer > 0)
      socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
    if (!from.empty()) {
      socket_.bind(asio::ip::tcp::endpoint(asio::ip::make_address(from, ec), 0), ec);
      if (ec) return false;
    }
    const asio::ip::tcp::endpoint to(asio::ip::address_v4::loopback(), port);
    std::error_code result = asio::error::timed_out;
    const bool done = run([&](auto on_done) { socket_.async_connect(to, on_done); },
                          [&](const std::error_code& e) { result = e; }, timeout);
    eof_ = !done || static_cast<bool>(result);
    return !eof_;
  }

  /// Writes all of `bytes`; false on error or timeout.
  bool write(const std::string& bytes, Millis timeout = kWait) {
    if (!socket_.is_open()) return false;
    std::error_code result = asio::error::timed_out;
    const bool done = run(
        [&](auto on_done) {
          asio::async_write(socket_, asio::buffer(bytes),
                            [on_done](const std::error_code& e, std::size_t) { on_done(e); });
        },
        [&](const std::error_code& e) { result = e; }, timeout);
    return done && !result;
  }

  /// Appends at least one byte to `in`; false on timeout, error or EOF (then eof() is true).
  bool read_some(std::string& in, Millis timeout) {
    if (!socket_.is_open() || eof_) return false;
    char buffer[16384];
    std::size_t got = 0;
    std::error_code result = asio::error::timed_out;
    const bool done = run(
        [&](auto on_done) {
          socket_.async_read_some(asio::buffer(buffer),
                                  [on_done, &got](const std::error_code& e, std::size_t n) {
                                    got = n;
                                    on_done(e);
                                  });
        },
        [&](const std::error_code& e) { result = e; }, timeout);
    if (!done) return false;
    in.append(buffer, got);
    if (result) eof_ = true;
    return got > 0;
  }

  /// True once the server closed the connection (or it failed).
  bool eof() const { return eof_; }
  bool is_open() const { return socket_.is_open(); }

  void close() {
    std::error_code ec;
    socket_.close(ec);
    eof_ = false;
  }

  /// Closes with a TCP reset (SO_LINGER 0): the client vanishes.
  void reset() {
    std::error_code ec;
    socket_.set_option(asio::socket_base::linger(true, 0), ec);
    socket_.close(ec);
  }

 private:
  // Starts an operation and runs the private io_context until it completes or `timeout`
  // passes; then cancels it. Returns whether it completed in time.
  template <class Start, class Result>
  bool run(Start start, Result result, Millis timeout) {
    bool completed = false;
    start([&completed, result](const std::error_code& e) {
      completed = true;
      result(e);
    });
    io_.restart();
    io_.run_for(timeout);
    if (completed) return true;
    std::error_code ec;
    socket_.cancel(ec);
    io_.restart();
    io_.run();  // lets the cancelled operation finish
    return false;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_{io_};
  bool eof_ = false;
};

struct WsFrame {
  int opcode = 0;
  std::string payload;
};

/// A minimal WebSocket client: masked frames out, unmasked frames in; answers pings and
/// close frames by itself.
class WsClient {
 public:
  struct Options {
    int receive_buffer = 0;                                    // SO_RCVBUF, 0: default
    bool auto_pong = true;                                     // answer pings while reading
    std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
    Millis timeout = kWait;  // for the connection and the handshake
  };

  WsClient(std::uint16_t port, std::string target) : WsClient(port, std::move(target), Options{}) {}
  WsClient(std::uint16_t port, std::string target, Options options) : options_(std::move(options)) {
    if (!socket_.connect(port, options_.receive_buffer, options_.timeout)) return;
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n";
    for (const auto& [name, value] : options_.headers) request += name + ": " + value + "\r\n";
    request += "\r\n";
    if (!socket_.write(request, options_.timeout)) return;
    read_handshake();
  }

  /// The upgrade succeeded (101).
  bool ok() const { return status_ == 101; }
  /// Status of the handshake answer; 0 if none arrived.
  int status() const { return status_; }
  /// Body of a refused handshake (e.g. the JSON of a 503).
  const std::string& response_body() const { return body_; }

  /// The next data frame (text or binary); nullopt on timeout or once closed.
  std::optional<WsFrame> next_frame(Millis timeout = kWait) {
    if (!queued_.empty()) {
      WsFrame f = std::move(queued_.front());
      queued_.pop_front();
      return f;
    }
    WsFrame f;
    if (!read_data_frame(deadline(timeout), f)) return std::nullopt;
    return f;
  }

  /// The next text frame, parsed; a null json on timeout or once closed.
  json next_json(Millis timeout = kWait) {
    const auto until = deadline(timeout);
    for (;;) {
      auto f = next_frame(left(until));
      if (!f) return json();
      if (f->opcode == kText) return json::parse(f->payload, nullptr, false);
    }
  }

  /// The next text frame with this "op", skipping others; null json on timeout.
  json next_op(const std::string& op, Millis timeout = kWait) {
    const auto until = deadline(timeout);
    for (;;) {
      json f = next_json(left(until));
      if (f.is_null() || f.value("op", "") == op) return f;
    }
  }

  void send_text(const std::string& text) { send_frame(kText, text); }
  void send_binary(const std::string& data) { send_frame(kBinary, data); }
  void ping(const std::string& payload = "") { send_frame(kPing, payload); }

  /// Sends one masked frame (as every client must).
  bool send_frame(int opcode, const std::string& payload, bool fin = true) {
    return socket_.write(encode(opcode, payload, fin));
  }
  bool send_raw(const std::string& bytes) { return socket_.write(bytes); }

  /// Close handshake: sends a close frame, waits for the server's and for the TCP close.
  void close(std::uint16_t code = 1000, const std::string& reason = "") {
    if (!closed()) {
      send_close(code, reason);
      wait_closed();
    }
    std::string ignored;
    const auto until = deadline(kWait);
    while (!socket_.eof() && socket_.read_some(ignored, left(until))) ignored.clear();
    socket_.close();
  }

  /// Reads until the server closes (close frame or EOF); data frames are kept for
  /// next_frame(). True if closed within the timeout.
  bool wait_closed(Millis timeout = kWait) {
    const auto until = deadline(timeout);
    WsFrame f;
    while (!closed()) {
      if (!read_data_frame(until, f)) break;
      queued_.push_back(std::move(f));
    }
    return closed();
  }

  /// 0 while open; the code of the server's close frame; 1006 if the connection ended
  /// without one.
  int close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  bool closed() const { return close_code_ != 0; }
  /// Pings received from the server.
  std::size_t pings() const { return pings_; }

  /// Vanishes: the socket is closed without a close frame (`reset`: with a TCP reset).
  void drop(bool reset = false) {
    if (reset) {
      socket_.reset();
    } else {
      socket_.close();
    }
    close_code_ = 1006;
  }

  TestSocket& socket() { return socket_; }

  /// One masked client frame (for raw floods through send_raw).
  static std::string encode(int opcode, const std::string& payload, bool fin = true) {
    std::string out;
    out += static_cast<char>((fin ? 0x80 : 0) | opcode);
    const std::size_t n = payload.size();
    if (n < 126) {
      out += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      out += static_cast<char>(0x80 | 126);
      out += static_cast<char>(n >> 8);
      out += static_cast<char>(n & 0xff);
    } else {
      out += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i) out += static_cast<char>((n >> (8 * i)) & 0xff);
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    for (unsigned char m : mask) out += static_cast<char>(m);
    for (std::size_t i = 0; i < n; ++i)
      out += static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]);
    return out;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static Clock::time_point deadline(Millis timeout) { return Clock::now() + timeout; }
  static Millis left(Clock::time_point until) {
    const auto d = std::chrono::duration_cast<Millis>(until - Clock::now());
    return d.count() > 0 ? d : Millis(0);
  }

  void send_close(std::uint16_t code, const std::string& reason) {
    std::string payload;
    payload += static_cast<char>(code >> 8);
    payload += static_cast<char>(code & 0xff);
    payload += reason;
    close_sent_ = true;
    send_frame(kClose, payload);
  }

  void read_handshake() {
    const auto until = deadline(options_.timeout);
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!socket_.read_some(in_, left(until))) return;
    const std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    if (head.size() > 12) status_ = std::atoi(head.c_str() + 9);
    if (status_ == 101) return;
    // A refusal: read its body (Content-Length) for the test to look at.
    std::size_t length = 0;
    auto at = head.find("Content-Length: ");
    if (at != std::string::npos) length = std::strtoul(head.c_str() + at + 16, nullptr, 10);
    while (in_.size() < length && socket_.read_some(in_, left(until))) {
    }
    body_ = in_.substr(0, length);
    in_.clear();
    close_code_ = 1006;
  }

  // Parses one frame from in_ if complete.
  bool parse(WsFrame& f, bool& fin) {
    if (in_.size() < 2) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(in_.data());
    fin = (p[0] & 0x80) != 0;
    const int opcode = p[0] & 0x0f;
    std::size_t n = p[1] & 0x7f, at = 2;
    if (n == 126) {
      if (in_.size() < 4) return false;
      n = (std::size_t{p[2]} << 8) | p[3];
      at = 4;
    } else if (n == 127) {
      if (in_.size() < 10) return false;
      n = 0;
      for (int i = 0; i < 8; ++i) n = (n << 8) | p[2 + i];
      at = 10;
    }
    if (in_.size() < at + n) return false;
    f.opcode = opcode;
    f.payload = in_.substr(at, n);
    in_.erase(0, at + n);
    return true;
  }

  // Reads frames until a data frame is complete (handling control frames); false on
  // timeout or close.
  bool read_data_frame(Clock::time_point until, WsFrame& out) {
    for (;;) {
      if (closed()) return false;
      WsFrame f;
      bool fin = true;
      if (!parse(f, fin)) {
        if (!socket_.read_some(in_, left(until))) {
          if (socket_.eof()) close_code_ = 1006;
          return false;
        }
        continue;
      }
      if (f.opcode == kPing) {
        ++pings_;
        if (options_.auto_pong) send_frame(kPong, f.payload);
      } else if (f.opcode == kClose) {
        on_close_frame(f.payload);
        return false;
      } else if (f.opcode == kText || f.opcode == kBinary || f.opcode == 0) {
        if (f.opcode != 0)
          partial_ = std::move(f);
        else
          partial_.payload += f.payload;
        if (fin) {
          out = std::move(partial_);
          partial_ = WsFrame{};
          return true;
        }
      }
    }
  }

  void on_close_frame(const std::string& payload) {
    close_code_ = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                            static_cast<unsigned char>(payload[1])
                                      : 1005;
    close_reason_ = payload.size() > 2 ? payload.substr(2) : "";
    if (!close_sent_)
      send_close(static_cast<std::uint16_t>(close_code_ == 1005 ? 1000 : close_code_), "");
  }

  Options options_;
  TestSocket socket_;
  std::string in_;
  std::deque<WsFrame> queued_;
  WsFrame partial_;
  int status_ = 0;
  std::string body_;
  int close_code_ = 0;
  std::string close_reason_;
  bool close_sent_ = false;
  std::size_t pings_ = 0;
};

/// An HTTP/1.1 client keeping one connection alive across requests; it reconnects when
/// the server closed it and counts the connections it opened.
class HttpClient {
 public:
  struct Reply {
    int status = 0;                              // 0: no reply (timeout or connection closed)
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
  };
  using Headers = std::vector<std::pair<std::string, std::string>>;

  explicit HttpClient(std::uint16_t port) : port_(port) {}

  /// Sends a request and reads its reply, on the kept-alive connection if there is one.
  Reply request(const std::string& method, const std::string& target, const std::string& body = "",
                const Headers& headers = {}, Millis timeout = kWait) {
    std::string text = method + " " + target + " HTTP/1.1\r\n";
    bool typed = false, hosted = false;
    for (const auto& [name, value] : headers) {
      text += name + ": " + value + "\r\n";
      typed = typed || lower(name) == "content-type";
      hosted = hosted || lower(name) == "host";
    }
    if (!hosted) text += "Host: 127.0.0.1\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
      text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      if (!typed) text += "Content-Type: application/json\r\n";  // herald-server wants it
    }
    text += "\r\n" + body;
    const bool reused = connected();
    if (!send_raw(text)) return {};
    const bool head = method == "HEAD";
    auto reply = read_reply(timeout, head);
    if (!reply && reused && socket_.eof()) {
      // The server closed the idle connection just before our request: once more.
      if (!send_raw(text)) return {};
      reply = read_reply(timeout, head);
    }
    return reply.value_or(Reply{});
  }

  /// Writes raw bytes (e.g. pipelined or malformed requests), connecting if needed.
  bool send_raw(const std::string& bytes) {
    if (!connected()) {
      in_.clear();
      if (!socket_.connect(port_)) return false;
      ++connects_;
    }
    return socket_.write(bytes);
  }

  /// Reads one reply (Content-Length framed; `head`: the answer to a HEAD request, which
  /// has no body); nullopt on timeout or EOF.
  std::optional<Reply> read_reply(Millis timeout = kWait, bool head = false) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
      auto d = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
      return d.count() > 0 ? d : Millis(0);
    };
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!socket_.read_some(in_, left())) return std::nullopt;
    Reply r;
    parse_head(in_.substr(0, end), r);
    in_.erase(0, end + 4);
    auto content_length = r.headers.find("content-length");
    const std::size_t length = head || content_length == r.headers.end()
                                   ? 0
                                   : std::strtoul(content_length->second.c_str(), nullptr, 10);
    while (in_.size() < length)
      if (!socket_.read_some(in_, left())) return std::nullopt;
    r.body = in_.substr(0, length);
    in_.erase(0, length);
    auto connection = r.headers.find("connection");
    if (connection != r.headers.end() && connection->second == "close") close_after_ = true;
    return r;
  }

  /// True once the server has closed the connection (waits up to `timeout`).
  bool wait_eof(Millis timeout = kWait) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!socket_.eof()) {
      auto d = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
      if (d.count() <= 0 || (!socket_.read_some(in_, d) && !socket_.eof())) break;
    }
    return socket_.eof();
  }

  /// TCP connections opened so far (1 if every request reused the first).
  std::size_t connects() const { return connects_; }
  std::size_t reconnects() const { return connects_ == 0 ? 0 : connects_ - 1; }
  void disconnect() {
    socket_.close();
    close_after_ = false;
  }

 private:
  bool connected() {
    if (close_after_ || socket_.eof()) disconnect();
    return socket_.is_open();
  }

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  static void parse_head(const std::string& head, Reply& r) {
    if (head.size() > 12) r.status = std::atoi(head.c_str() + 9);
    std::size_t at = head.find("\r\n");
    while (at != std::string::npos) {
      const std::size_t next = head.find("\r\n", at + 2);
      const std::string line =
          head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        const std::string name = lower(line.substr(0, colon));
        std::size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        r.headers[name] = line.substr(v);
      }
      at = next;
    }
  }

  std::uint16_t port_;
  TestSocket socket_;
  std::string in_;
  std::size_t connects_ = 0;
  bool close_after_ = false;
};

}  // namespace herald::websocket::test
