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
#include <vector>

#include <asio.hpp>

#include "admission.hpp"
#include "frames.hpp"
#include "herald/websocket/server.hpp"
#include "loops.hpp"
#include "wspp.hpp"

namespace herald::websocket::detail {

using Strand = asio::strand<asio::io_context::executor_type>;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Strand>;
using Acceptor = asio::basic_socket_acceptor<asio::ip::tcp, Strand>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Strand>;

class Conn;
class TlsContext;

/// What a sender hands to a connection, in send()/close() order.
struct Outgoing {
  enum class Kind : std::uint8_t {
    frame,    // write `frame`; report `size` once written
    invalid,  // a frame that is not UTF-8: dropped, `size` reported as written
    close,    // close with `code`, the reason in frame.prefix
  };
  std::weak_ptr<Conn> conn;  // weak: a queued item never keeps a connection (or the Core) alive
  WireFrame frame;
  std::size_t size = 0;  // Frame::size(), for on_written
  Kind kind = Kind::frame;
  CloseCode code = CloseCode::normal;
};

/// A group of connections served on one strand (their sockets' and timers' executor): a
/// strand of the host's io_context, or of one of the Server's own loops (then the loop's
/// thread is the only one that ever runs it).
/// Senders queue frames per lane; one posted task hands the whole batch to the lane's
/// connections, then each connection writes once for all it got. A fan-out to N sessions
/// thus costs one post per lane, not one per session, and frames that arrive together
/// share one socket write. A batch of several items is written a few scheduler rounds later
/// (corked while more fan-outs arrive), so that consecutive fan-outs share socket writes too.
class Lane : public std::enable_shared_from_this<Lane> {
 public:
  /// A lane on the host's io_context.
  explicit Lane(asio::io_context& io) : strand(asio::make_strand(io)), sender_(nullptr) {}
  /// A lane on one of the Server's own loops (kept alive by the lane, see Loops::share);
  /// `sender`: the host's io_context, whose thread sends (the engine runs there).
  Lane(std::shared_ptr<asio::io_context> loop, asio::io_context& sender)
      : loop_(std::move(loop)), strand(asio::make_strand(*loop_)), sender_(&sender) {}
  /// Any thread. Items of one connection are handed over in push order.
  void push(Outgoing item);
  /// While the lane lets its connections write (end_batches), they hold their on_written
  /// reports back and register here; each is made once all of them wrote. On the strand.
  bool holding_reports() const { return holding_reports_; }
  void hold_report(std::shared_ptr<Conn> conn) { held_.push_back(std::move(conn)); }

 private:
  const std::shared_ptr<asio::io_context> loop_;  // before strand: it must outlive it

 public:
  const Strand strand;  // immutable, usable from any thread
  /// Bytes this lane's connections have waiting to be written (ServerStats::buffered_bytes).
  /// Written by the connections on the strand, read from any thread.
  std::atomic<std::size_t> buffered{0};

 private:
  class Cork;

  // On the strand.
  void drain();
  void post_write_out();
  void write_out();
  void end_batches();
  std::size_t hand_over();

  /// A push defers the drain through the sender's io_context: the drain is posted to this
  /// lane's loop once the sender's current handler is done, so a fan-out crosses threads in
  /// one batch and one wake-up, rather than being drained piecemeal (and written a frame
  /// per socket write) while the sender is still queuing it.
  asio::io_context* const sender_;
  std::mutex mutex_;
  std::vector<Outgoing> queued_;              // guarded by mutex_
  bool posted_ = false;                       // a drain is queued; guarded by mutex_
  std::vector<Outgoing> draining_;            // the batch being handed over; strand only
  std::vector<std::shared_ptr<Conn>> taken_;  // connections that got items; strand only
  bool corked_ = false;                       // a write_out is queued; strand only
  bool holding_reports_ = false;              // in end_batches; strand only
  std::vector<std::shared_ptr<Conn>> held_;   // reports held back; strand only
  int rounds_ = 0;                            // rounds corked so far; strand only
  std::size_t arrived_ = 0;                   // items taken during this round; strand only
};

struct Counters {
  std::atomic<std::uint64_t> accepted{0}, rejected{0}, rejected_address{0}, rejected_http{0},
      http_requests{0}, http_errors{0}, websocket_sessions{0}, sse_sessions{0},
      request_timeouts{0}, handshake_timeouts{0}, pings{0}, idle_closes{0}, overflow_closes{0},
      stalled_closes{0};
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::io_context& io, ServerOptions options, HttpHandler http);

  /// Throws herald::Error if the TLS certificate or key cannot be loaded.
  /// Transport::start: listens, then accepts. Errors go to `done`.
  void start(ConnectionHandler& handler, Done done);
  void stop_accepting(Done done);
  /// Stops accepting and aborts every connection (on their strands).
  void close_all();
  /// Stops the Server's own loops once each ran what its lane queued before (the closes of
  /// close_all), then Loops::join; nothing without loops. Not from a loop. Idempotent.
  void stop_loops();

  ServerStats stats() const;

  /// The engine; null before start().
  ConnectionHandler* handler() const { return handler_.load(std::memory_order_acquire); }
  /// A parser for an open session's client frames, limited to max_frame_bytes. Thread-safe.
  std::unique_ptr<WsProcessor> make_frame_parser();

  /// The lane on the host's io_context when the Server has loops of its own (its thread runs
  /// the engine); null without them (every lane is on the host's io_context). Any thread.
  Lane* host_lane() const { return loops_ ? lanes_.front().get() : nullptr; }

  /// Connection bookkeeping, called by Conn (any thread).
  void add(Conn* conn, const std::shared_ptr<Conn>& shared);
  void remove(Conn* conn);
  /// SSE sessions by the secret token of their POST path (any thread): register yields a
  /// new unguessable token.
  std::string register_sse(const std::shared_ptr<Conn>& conn);
  void unregister_sse(const std::string& token);
  std::shared_ptr<Conn> find_sse(const std::string& token) const;

  asio::io_context& io;
  const ServerOptions options;
  const HttpHandler http;
  FrameCache frames;
  Counters counters;
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::uint16_t> tls_port{0};
  Admission admission;  // the connection caps; its open() is connections()
  /// The certificate of TLS connections; null without TLS.
  const std::shared_ptr<TlsContext> tls;

 private:
  /// One listening socket: ServerOptions::port, and TlsOptions::port if TLS has its own.
  struct Listener {
    Listener(const Strand& strand, std::uint16_t listen_port, bool is_tls)
        : acceptor(strand), retry(strand), port(listen_port), tls(is_tls) {}
    Acceptor acceptor;
    Timer retry;  // accepts again after EMFILE and the like
    const std::uint16_t port;
    const bool tls;
  };

  void listen(Done done);
  void accept_next(Listener& listener);
  void accepted(const std::error_code& ec, Socket socket, Lane* lane, Listener& listener);

  std::atomic<ConnectionHandler*> handler_{nullptr};
  const std::shared_ptr<WsMsgManager> messages_;  // stateless; shared by every parser
  /// ServerOptions::io_threads loops; null without. Before lanes_: their strands and the
  /// connections' sockets must go before the io_contexts they belong to.
  const std::unique_ptr<Loops> loops_;
  /// One per core on the host's io_context without loops_; with them, one on the host's
  /// io_context and one per loop. Fixed after construction.
  std::vector<std::shared_ptr<Lane>> lanes_;
  std::size_t next_lane_ = 0;                     // round robin; accept strand only
  const Strand accept_strand_;  // serializes the acceptors; immutable, usable from any thread
  std::vector<std::unique_ptr<Listener>> listeners_;  // fixed after construction
  bool accepting_ = false;

  std::mutex mutex_;
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns_;  // guarded by mutex_
  mutable std::mutex sse_mutex_;
  std::unordered_map<std::string, std::weak_ptr<Conn>> sse_;  // guarded by sse_mutex_
};

}  // namespace herald::websocket::detail
