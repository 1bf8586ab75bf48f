#pragma once
// Shared state of one Server: options, handlers, counters, the acceptor and the set of open
// connections. Owned by shared_ptr: the Server object, every connection and every pending
// Asio handler keep it alive, so nothing dangles when the Server is destroyed first.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <asio.hpp>

#include "frames.hpp"
#include "herald/websocket/server.hpp"
#include "wspp.hpp"

namespace herald::websocket::detail {

using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Strand>;
using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Strand>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Strand>;

class Conn;

struct Counters {
  std::atomic<std::uint64_t> accepted{0}, rejected{0}, http_requests{0}, http_errors{0},
      websocket_sessions{0}, pings{0}, idle_closes{0}, overflow_closes{0};
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::io_context& io, ServerOptions options, HttpHandler http);

  /// Transport::start: listens, then accepts. Errors go to `done`.
  void start(ConnectionHandler& handler, Done done);
  void stop_accepting(Done done);
  /// Stops accepting and aborts every connection (on their strands).
  void close_all();

  ServerStats stats() const;

  /// The engine; null before start().
  ConnectionHandler* handler() const { return handler_.load(std::memory_order_acquire); }
  /// A new websocketpp connection for a handshake. Thread-safe: the endpoint is only read
  /// after construction.
  WsConnectionPtr make_ws_connection();
  /// A parser for an open session's client frames, limited to max_frame_bytes. Thread-safe.
  std::unique_ptr<WsProcessor> make_frame_parser();

  /// Connection bookkeeping, called by Conn (any thread).
  void add(Conn* conn, const std::shared_ptr<Conn>& shared);
  void remove(Conn* conn);

  asio::io_context& io;
  const ServerOptions options;
  const HttpHandler http;
  FrameCache frames;
  Counters counters;
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> open{0};  // connections counted by connections()

 private:
  void listen(Done done);
  void accept_next();
  void accepted(const std::error_code& ec, Socket socket);

  std::atomic<ConnectionHandler*> handler_{nullptr};
  WsEndpoint endpoint_;
  const std::shared_ptr<WsMsgManager> messages_;  // stateless; shared by every parser
  const Strand accept_strand_;  // serializes the acceptor; immutable, usable from any thread
  Acceptor acceptor_;
  Timer accept_timer_;  // retry after EMFILE and the like
  bool accepting_ = false;

  std::mutex mutex_;
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns_;  // guarded by mutex_
};

}  // namespace herald::websocket::detail
