#pragma once
// One accepted TCP connection: HTTP/1.1 (keep-alive, pipelining) until a WebSocket upgrade
// on the configured path turns it into a session (the handshake: handshake.hpp); the session
// parses client frames with a websocketpp processor and writes its own frames (data, pong,
// ping, close) straight into the output queue.
//
// Output is bounded by ServerOptions::max_buffered_bytes, whatever it holds: past it HTTP
// input is not read (backpressure), a session is closed with 4008 (its unsent frames
// dropped); a connection whose socket takes nothing for send_timeout is cut.
//
// Threading: every member function except send(), close() and abort_async() runs on the
// connection's strand: its lane's strand, the socket's executor. send() and close() queue
// onto the lane (Lane::push), abort_async() posts onto the strand. The frame parser is only
// ever called on the strand.
// The ConnectionHandler is called from the strand without any lock held.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core.hpp"
#include "http.hpp"
#include "sse.hpp"
#include "tls.hpp"

namespace herald::websocket::detail {

class Conn final : public Connection, public std::enable_shared_from_this<Conn> {
 public:
  /// `tls`: the connection's TLS session on a TLS listener; null on a plain one.
  /// `pass`: what Admission counted for it (nothing for a refused connection).
  Conn(std::shared_ptr<Core> core, Lane& lane, Socket socket, Pass pass,
       std::unique_ptr<TlsSession> tls = nullptr);
  ~Conn() override;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// The connection's strand.
  const Strand& executor() const { return strand_; }
  /// Starts serving (nothing if close_all() closed it first). Unless admitted, answers why
  /// (429 or 503) and closes. On the strand.
  void start(Admission::Verdict verdict);
  /// Starts serving a connection another Conn accepted and handed over (move_to_host_lane)
  /// before it read anything; `accepted_at` keeps the handshake_timeout's start. On the
  /// strand.
  void start_moved(std::chrono::steady_clock::time_point accepted_at, std::string remote);
  /// Closes the socket now; an open session gets on_closed(code, reason). Any thread.
  void abort_async(CloseCode code, std::string reason);
  /// A frame or close from send()/close(), handed over by the lane: queued, not written.
  /// Returns true for the first item of a batch: the lane then calls end_batch() once it
  /// handed over the whole batch. On the strand.
  bool take(Outgoing& item);
  void end_batch();
  /// Makes the on_written report held back during Lane::end_batches. On the strand.
  void release_report();

  // herald::Connection — any thread, never blocks.
  void send(Frame frame) override;
  void close(CloseCode code, std::string reason) override;
  const Handshake& handshake() const override { return handshake_; }

  /// SSE: a client request POSTed for this event stream, handed to the handler on the
  /// strand (after on_open, before on_closed). Any thread.
  void post_request(std::string text);

 private:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  enum class Mode : std::uint8_t {
    http,       // reading requests
    websocket,  // the handshake answered (handshake.hpp), then the open session
    sse,        // an open event stream (GET sse_path): frames go out as events
    draining,   // our side is shut down; input is discarded until EOF or a deadline
    closed,
  };

  /// Output waiting for the socket: `bytes`, then `*tail` (a frame buffer shared with other
  /// connections, written without a copy). Small outputs share one chunk.
  struct Chunk {
    std::string bytes;
    SharedBytes tail;
    std::size_t report = 0;  // Frame::size() of the frames this chunk completes
    std::size_t size() const { return bytes.size() + (tail ? tail->size() : 0); }
  };

  struct Slot {  // one pipelined request, answered in order
    bool ready = false;
    bool close = false;   // close the connection after this answer
    bool http10 = false;  // say "Connection: keep-alive" explicitly
    bool head = false;    // HEAD: no body
    std::string bytes;    // the serialized answer, once ready
  };

  struct HttpState {
    HttpState(std::size_t max_header, std::size_t max_body, std::size_t max_headers)
        : parser(max_header, max_body, max_headers) {}
    RequestParser parser;
    RequestParser::Sink sink;
    std::deque<Slot> slots;
    std::uint64_t first_id = 0;            // id of slots.front()
    std::string pending;                   // input not parsed yet (paused, or after an upgrade)
    bool stopped = false;                  // read no more requests: answer and close
    std::optional<ParsedRequest> upgrade;  // waits for the answers before it
    bool sse = false;                      // `upgrade` opens an event stream, not a WebSocket
    RequestParser::Phase phase = RequestParser::Phase::idle;  // as of the last feed
    std::chrono::steady_clock::time_point phase_since;        // when it began
  };

  void serve_http();
  bool move_to_host_lane();

  // reading
  void wait_read();
  void on_readable(const std::error_code& ec);
  void consume(char* data, std::size_t size);
  void on_read_end(const std::error_code& ec);
  bool tls_input(std::size_t size);

  // HTTP
  void feed_http(const char* data, std::size_t size);
  bool on_request(ParsedRequest&& parsed);
  void dispatch(HttpRequest request, std::uint64_t id);
  void on_response(std::uint64_t id, HttpResponse response);
  void answer_error(int status);
  void track_phase();
  void request_timeout(const char* what, std::chrono::milliseconds limit);
  void handshake_timeout();
  void flush_responses();
  void resume_http();
  void resume_reading();

  // SSE
  bool sse_stream_request(const HttpRequest& r) const;
  HttpResponse answer_sse_post(HttpRequest& r);
  void start_sse();
  void queue_event(WireFrame frame, std::size_t report);
  void end_sse(CloseCode code, const std::string& reason);
  void on_sse_timer(TimePoint now);

  // WebSocket: the handshake (handshake.hpp)
  void start_websocket();
  void open_websocket();

  // WebSocket: the open session
  void read_frames(char* data, std::size_t size);
  void on_frame(const WsMessagePtr& message);
  void on_close_frame(const std::string& payload);
  void protocol_error(const WsErrorCode& ec);
  void queue_wire(WireFrame frame, std::size_t report);
  bool within_bound(std::size_t bytes);
  bool session_open() const { return parser_ && !closing_ && !closed_reported_; }
  void begin_close(CloseCode code, const std::string& reason);
  void finish_session(CloseCode code, std::string reason, const std::string& close_frame);
  void report_written(std::size_t bytes);
  void report_closed(CloseCode code, std::string reason);

  // output
  void enqueue(std::string_view bytes);
  void enqueue(WireFrame frame, std::size_t report);
  Chunk& writable_chunk();
  void flush();
  void take_inflight();
  void write_inflight();
  std::size_t tls_write(std::error_code& ec);
  void on_writable(const std::error_code& ec);
  void written();
  void release_output(std::size_t keep);
  void release_idle_output();
  void drop_unsent();
  bool output_full() const { return out_bytes_ >= core_->options.max_buffered_bytes; }
  void count_buffered();

  // timers and closing
  void schedule(TimePoint when);
  void on_timer();
  void on_http_timer(TimePoint now);
  void on_ws_timer(TimePoint now);
  TimePoint next_keepalive() const;
  void cut_stalled();
  void drain_and_close();
  void close_socket();
  void abort(CloseCode code, std::string reason);

  std::shared_ptr<Core> core_;
  Lane& lane_;
  const Strand strand_;  // the socket's executor; immutable, so usable from any thread
  Socket socket_;
  Timer timer_;
  Mode mode_ = Mode::http;
  Pass pass_;                         // what Core::admission counts for this connection
  bool greeted_ = false;             // a complete request head arrived (handshake_timeout)
  bool placed_ = false;              // move_to_host_lane decided
  bool reading_ = false;             // an async_wait for input is pending
  bool read_paused_ = false;         // HTTP: too many answers pending, or an upgrade waits
  bool read_blocked_ = false;        // not reading: the output is over max_buffered_bytes
  bool peer_eof_ = false;            // HTTP: the client finished sending
  bool writing_ = false;             // inflight_ is being written (maybe waiting to be writable)
  bool finish_after_flush_ = false;  // close once the output is written
  bool opened_ = false;              // on_open was reported
  bool in_batch_ = false;            // took items from the lane's current batch
  bool closed_reported_ = false;     // on_closed was reported
  bool closing_ = false;             // we sent a close frame: no more data frames
  bool tls_stalled_ = false;         // TLS: inflight_ waits for the handshake to complete
  bool tls_buffered_ = false;        // TLS: input read from the socket waits in tls_
  std::atomic<bool> gone_{false};    // no more frames wanted; read by send() on any thread
  CloseCode close_code_ = CloseCode::normal;
  std::string close_reason_;

  std::unique_ptr<TlsSession> tls_;      // TLS connections only: what the socket carries
  std::unique_ptr<HttpState> http_;      // HTTP mode only
  std::unique_ptr<WsProcessor> parser_;  // the open session's client frames
  // SSE: set before on_open and never changed, so send() may read it on any thread.
  bool sse_stream_ = false;
  std::unique_ptr<SsePositions> sse_;  // the positions the event ids carry
  std::string sse_token_;              // the secret of the stream's POST path
  Handshake handshake_;                  // `remote` is set for HTTP connections too

  std::vector<Chunk> out_;  // waiting: out_[out_head_..]; never being written
  std::size_t out_head_ = 0;
  std::vector<Chunk> inflight_;                // being written: stable until the write completes
  std::vector<asio::const_buffer> unwritten_;  // what is left of inflight_ to write
  std::size_t out_bytes_ = 0;                  // bytes waiting or being written
  std::size_t counted_bytes_ = 0;              // out_bytes_ as lane_.buffered counts it
  std::size_t held_bytes_ = 0;                 // written, report held (Lane::end_batches)

  TimePoint wake_ = TimePoint::max();  // when the pending timer wait fires
  TimePoint last_rx_;                  // last bytes received
  TimePoint last_tx_;                  // last bytes the socket took
  TimePoint last_ping_;
  TimePoint accepted_at_;              // when start() ran (handshake_timeout)
  /// Closing: the close handshake's or the drain's deadline. max while our close frame
  /// waits to be written (send_timeout bounds that wait).
  TimePoint deadline_ = TimePoint::max();
};

}  // namespace herald::websocket::detail
