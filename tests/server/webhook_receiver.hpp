#pragma once
// A webhook receiver for the end-to-end tests: a small HTTP/1.1 server on 127.0.0.1 (any
// free port) on its own Asio thread. It records every request and answers the first ones
// with the statuses it was given (then 200), one request per connection.
//
//   WebhookReceiver hook({500, 500, 500});      // three 500s, then 200
//   ServerProcess s({"--webhook-url", hook.url(), …});
//   REQUIRE(hook.wait_for([](auto& reqs) { return reqs.size() >= 4; }));

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace herald::server::test {

class WebhookReceiver {
 public:
  struct Request {
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int answered = 0;  // the status it was answered with
  };

  explicit WebhookReceiver(std::vector<int> statuses = {})
      : statuses_(std::move(statuses)),
        acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WebhookReceiver() {
    asio::post(io_, [this] {
      std::error_code ec;
      acceptor_.close(ec);
      io_.stop();
    });
    thread_.join();
  }
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/hook"; }

  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

  /// Waits until `done(requests)` holds, at most `limit`. False on timeout. `done` runs
  /// under the receiver's lock: use its argument, not requests() or delivered().
  bool wait_for(const std::function<bool(const std::vector<Request>&)>& done,
                std::chrono::milliseconds limit = std::chrono::milliseconds(20'000)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return done(requests_); });
  }

  /// The events of the requests answered 2xx, in arrival order.
  std::vector<nlohmann::json> delivered() const { return delivered(requests()); }
  static std::vector<nlohmann::json> delivered(const std::vector<Request>& requests) {
    std::vector<nlohmann::json> out;
    for (const Request& r : requests) {
      if (r.answered < 200 || r.answered > 299) continue;
      const nlohmann::json body = nlohmann::json::parse(r.body);  // outlives the loop
      for (const auto& e : body["events"]) out.push_back(e);
    }
    return out;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    asio::ip::tcp::socket socket;
    asio::streambuf in;
    std::string out;
  };

  void accept() {
    auto conn = std::make_shared<Conn>(io_);
    acceptor_.async_accept(conn->socket, [this, conn](const std::error_code& ec) {
      if (ec) return;
      read_head(conn);
      accept();
    });
  }

  void read_head(const std::shared_ptr<Conn>& conn) {
    asio::async_read_until(conn->socket, conn->in, "\r\n\r\n",
                           [this, conn](const std::error_code& ec, std::size_t n) {
                             if (ec) return;
                             std::string head(asio::buffers_begin(conn->in.data()),
                                              asio::buffers_begin(conn->in.data()) +
                                                  static_cast<std::ptrdiff_t>(n));
                             conn->in.consume(n);
                             auto request = std::make_shared<Request>();
                             request->headers = parse_headers(head);
                             const std::size_t length =
                                 std::stoul(request->headers["content-length"]);
                             read_body(conn, request, length);
                           });
  }

  void read_body(const std::shared_ptr<Conn>& conn, const std::shared_ptr<Request>& request,
                 std::size_t length) {
    const std::size_t have = conn->in.size();
    if (have >= length) {
      request->body.assign(asio::buffers_begin(conn->in.data()),
                           asio::buffers_begin(conn->in.data()) +
                               static_cast<std::ptrdiff_t>(length));
      return answer(conn, request);
    }
    asio::async_read(conn->socket, conn->in, asio::transfer_exactly(length - have),
                     [this, conn, request, length](const std::error_code& ec, std::size_t) {
                       if (!ec) read_body(conn, request, length);
                     });
  }

  void answer(const std::shared_ptr<Conn>& conn, const std::shared_ptr<Request>& request) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      request->answered = requests_.size() < statuses_.size() ? statuses_[requests_.size()] : 200;
      requests_.push_back(*request);
    }
    changed_.notify_all();
    conn->out = "HTTP/1.1 " + std::to_string(request->answered) +
                " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    asio::async_write(conn->socket, asio::buffer(conn->out),
                      [conn](const std::error_code&, std::size_t) {
                        std::error_code ignored;
                        conn->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                      });
  }

  static std::map<std::string, std::string> parse_headers(const std::string& head) {
    std::map<std::string, std::string> out;
    std::size_t line = head.find("\r\n");
    while (line != std::string::npos && line + 2 < head.size()) {
      const std::size_t end = head.find("\r\n", line + 2);
      const std::string text = head.substr(line + 2, end - line - 2);
      const std::size_t colon = text.find(':');
      if (colon != std::string::npos) {
        std::string name = text.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::size_t v = text.find_first_not_of(' ', colon + 1);
        out[name] = v == std::string::npos ? std::string() : text.substr(v);
      }
      line = end;
    }
    return out;
  }

  const std::vector<int> statuses_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Request> requests_;  // guarded by mutex_
};

}  // namespace herald::server::test
