#include "http_pool.hpp"

#include <sys/socket.h>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace herald::chaos {

using asio::ip::tcp;

struct HttpPool::Exchange {
  Exchange(asio::io_context& io, std::uint16_t port_) : port(port_), timer(io) {}
  std::uint16_t port;
  std::unique_ptr<Socket> socket;
  asio::steady_timer timer;
  std::string request, in;
  bool sent = false;  // the whole request was written
  bool done = false;
  std::function<void(HttpResult)> callback;
};

namespace {

// An idle keep-alive connection the server closed meanwhile (it restarted, or timed the
// connection out) reads as end of file; a live one has nothing to read.
bool still_open(asio::ip::tcp::socket& s) {
  char c = 0;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void HttpPool::post(std::uint16_t port, const std::string& path, const std::string& body,
                    std::function<void(HttpResult)> done) {
  auto x = std::make_shared<Exchange>(io_, port);
  x->callback = std::move(done);
  x->request = "POST " + path +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
  ++in_flight_;
  // The deadline covers connecting, sending and the answer; closing the socket ends
  // whichever of them is pending, and finish() runs once.
  x->timer.expires_after(timeout_);
  x->timer.async_wait([this, x](asio::error_code e) {
    if (e || x->done) return;
    finish(x, {x->sent ? HttpResult::no_answer : HttpResult::not_sent, 0, {}}, false);
  });
  x->socket = take_idle(port);
  if (x->socket) return send(x);
  connect(x);
}

std::unique_ptr<HttpPool::Socket> HttpPool::take_idle(std::uint16_t port) {
  auto& idle = idle_[port];
  while (!idle.empty()) {
    std::unique_ptr<Socket> s = std::move(idle.back());
    idle.pop_back();
    if (still_open(*s)) return s;
  }
  return nullptr;
}

void HttpPool::connect(const std::shared_ptr<Exchange>& x) {
  x->socket = std::make_unique<Socket>(io_);
  const tcp::endpoint to(asio::ip::address_v4::loopback(), x->port);
  x->socket->async_connect(to, [this, x](asio::error_code e) {
    if (x->done) return;
    if (e) return finish(x, {HttpResult::not_sent, 0, {}}, false);
    send(x);
  });
}

void HttpPool::send(const std::shared_ptr<Exchange>& x) {
  asio::async_write(*x->socket, asio::buffer(x->request),
                    [this, x](asio::error_code e, std::size_t) {
                      if (x->done) return;
                      // A write refused by the peer did not deliver a whole request.
                      if (e) return finish(x, {HttpResult::not_sent, 0, {}}, false);
                      x->sent = true;
                      read_head(x);
                    });
}

void HttpPool::read_head(const std::shared_ptr<Exchange>& x) {
  asio::async_read_until(
      *x->socket, asio::dynamic_buffer(x->in), "\r\n\r\n",
      [this, x](asio::error_code e, std::size_t head) {
        if (x->done) return;
        if (e || x->in.compare(0, 9, "HTTP/1.1 ") != 0)
          return finish(x, {HttpResult::no_answer, 0, {}}, false);
        const std::string headers = lower(x->in.substr(0, head));
        const std::size_t at = headers.find("\r\ncontent-length:");
        const std::size_t length =
            at == std::string::npos ? 0 : std::strtoul(headers.c_str() + at + 17, nullptr, 10);
        const bool close = headers.find("\r\nconnection: close") != std::string::npos;
        read_body(x, head, length, close);
      });
}

void HttpPool::read_body(const std::shared_ptr<Exchange>& x, std::size_t head, std::size_t length,
                         bool close) {
  const std::size_t total = head + length;
  const std::size_t more = total > x->in.size() ? total - x->in.size() : 0;
  asio::async_read(*x->socket, asio::dynamic_buffer(x->in), asio::transfer_exactly(more),
                   [this, x, head, length, close](asio::error_code e, std::size_t) {
                     if (x->done) return;
                     if (e) return finish(x, {HttpResult::no_answer, 0, {}}, false);
                     const int status = std::atoi(x->in.c_str() + 9);
                     finish(x, {HttpResult::answered, status, x->in.substr(head, length)}, !close);
                   });
}

void HttpPool::finish(const std::shared_ptr<Exchange>& x, HttpResult result, bool reusable) {
  x->done = true;
  x->timer.cancel();
  --in_flight_;
  if (reusable) {
    idle_[x->port].push_back(std::move(x->socket));
  } else {
    asio::error_code ignored;
    x->socket->close(ignored);  // ends a pending operation (its handler sees `done`)
  }
  x->callback(std::move(result));
}

}  // namespace herald::chaos
