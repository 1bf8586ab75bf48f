// http_post: resolve, connect, write the request, read until http-parser has the complete
// response (or the peer closed), all under one deadline timer. One strand per request.

#include "http_post.hpp"

#include <array>  // standard headers first: Asio picks its allocator by what they define
#include <memory>

#include <asio.hpp>
#include <http_parser.h>

#include "herald/error.hpp"

namespace herald::server {

HttpTarget parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    throw Error("--webhook-url: https:// is not supported; use http:// (behind a TLS proxy "
                "if the receiver is remote)");
  if (url.rfind(scheme, 0) != 0)
    throw Error("--webhook-url must start with http:// (got '" + url + "')");
  HttpTarget t;
  const std::string rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) t.path = rest.substr(slash);
  const std::size_t colon = authority.rfind(':');
  t.host = authority.substr(0, colon);
  if (colon != std::string::npos) t.port = authority.substr(colon + 1);
  if (t.host.empty()) throw Error("--webhook-url: no host in '" + url + "'");
  if (t.port.empty() || t.port.find_first_not_of("0123456789") != std::string::npos ||
      t.port.size() > 5 || std::stoi(t.port) == 0 || std::stoi(t.port) > 65535)
    throw Error("--webhook-url: the port must be 1..65535 in '" + url + "'");
  return t;
}

namespace {

using asio::ip::tcp;

class PostOp : public std::enable_shared_from_this<PostOp> {
 public:
  PostOp(asio::io_context& io, std::string request, std::function<void(PostOutcome)> done)
      : strand_(asio::make_strand(io)),
        resolver_(strand_),
        socket_(strand_),
        timer_(strand_),
        request_(std::move(request)),
        done_(std::move(done)) {
    http_parser_init(&parser_, HTTP_RESPONSE);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_complete = [](http_parser* p) {
      static_cast<PostOp*>(p->data)->complete_ = true;
      return 0;
    };
  }

  void start(const HttpTarget& target, Duration timeout) {
    asio::post(strand_, [self = shared_from_this(), target, timeout] {
      self->timer_.expires_after(timeout);
      self->timer_.async_wait([self](const std::error_code& ec) {
        if (!ec) self->finish(0, "timeout");
      });
      self->resolver_.async_resolve(
          target.host, target.port,
          [self](const std::error_code& ec, const tcp::resolver::results_type& results) {
            if (ec) return self->finish(0, "resolve: " + ec.message());
            asio::async_connect(self->socket_, results,
                                [self](const std::error_code& e, const tcp::endpoint&) {
                                  if (e) return self->finish(0, "connect: " + e.message());
                                  self->write();
                                });
          });
    });
  }

 private:
  void write() {
    asio::async_write(socket_, asio::buffer(request_),
                      [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                        if (ec) return self->finish(0, "write: " + ec.message());
                        self->read();
                      });
  }

  void read() {
    socket_.async_read_some(
        asio::buffer(buffer_), [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
          if (self->finished_) return;
          // At EOF http-parser is fed 0 bytes: a response without a length ends there.
          const std::size_t used = http_parser_execute(&self->parser_, &self->settings_,
                                                       self->buffer_.data(), ec ? 0 : n);
          if (self->parser_.http_errno != HPE_OK)
            return self->finish(0, std::string("malformed response: ") +
                                       http_errno_name(static_cast<http_errno>(self->parser_.http_errno)));
          if (self->complete_) return self->finish(static_cast<int>(self->parser_.status_code), {});
          if (ec) return self->finish(0, "read: " + ec.message());
          if (used != n) return self->finish(0, "malformed response");
          self->read();
        });
  }

  void finish(int status, std::string error) {
    if (finished_) return;
    finished_ = true;
    std::error_code ignored;
    timer_.cancel();
    resolver_.cancel();
    socket_.close(ignored);
    done_(PostOutcome{status, std::move(error)});
  }

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string request_;
  std::function<void(PostOutcome)> done_;
  http_parser parser_{};
  http_parser_settings settings_{};
  std::array<char, 4096> buffer_{};
  bool complete_ = false;
  bool finished_ = false;
};

}  // namespace

void http_post(asio::io_context& io, const HttpTarget& target,
               std::vector<std::pair<std::string, std::string>> headers, std::string body,
               Duration timeout, std::function<void(PostOutcome)> done) {
  std::string request = "POST " + target.path + " HTTP/1.1\r\nHost: " + target.host + ":" +
                        target.port +
                        "\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        "User-Agent: herald-server\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  request += body;
  auto op = std::make_shared<PostOp>(io, std::move(request), std::move(done));
  op->start(target, timeout);
}

}  // namespace herald::server
