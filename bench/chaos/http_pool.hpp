#pragma once
// HTTP/1.1 POSTs to herald-server instances on 127.0.0.1 over keep-alive connections, each
// exchange bounded in time and classified the way the chaos run counts it: answered (with
// its status), no answer (sent, then the connection broke or the time ran out: the server
// may or may not have acted on it) or not sent (no connection: nothing reached a server).
//
// Thread: one; every call and callback on the io_context's thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

namespace herald::chaos {

struct HttpResult {
  enum Outcome { answered, no_answer, not_sent } outcome = not_sent;
  int status = 0;  // when answered
  std::string body;
};

class HttpPool {
 public:
  HttpPool(asio::io_context& io, std::chrono::milliseconds timeout) : io_(io), timeout_(timeout) {}

  /// POSTs `body` (JSON) to `path` on 127.0.0.1:`port`, on an idle connection to that port
  /// or a new one; `done` runs once with the outcome.
  void post(std::uint16_t port, const std::string& path, const std::string& body,
            std::function<void(HttpResult)> done);

  /// Exchanges started and not finished.
  std::size_t in_flight() const { return in_flight_; }

 private:
  struct Exchange;
  using Socket = asio::ip::tcp::socket;

  std::unique_ptr<Socket> take_idle(std::uint16_t port);
  void connect(const std::shared_ptr<Exchange>& x);
  void send(const std::shared_ptr<Exchange>& x);
  void read_head(const std::shared_ptr<Exchange>& x);
  void read_body(const std::shared_ptr<Exchange>& x, std::size_t head, std::size_t length,
                 bool close);
  void finish(const std::shared_ptr<Exchange>& x, HttpResult result, bool reusable);

  asio::io_context& io_;
  std::chrono::milliseconds timeout_;
  std::map<std::uint16_t, std::vector<std::unique_ptr<Socket>>> idle_;
  std::size_t in_flight_ = 0;
};

}  // namespace herald::chaos
