#include "conn.hpp"

#include <unistd.h>
#include <algorithm>
#include <array>
#include <utility>

#include "handshake.hpp"

namespace herald::websocket::detail {

namespace {

constexpr std::size_t kReadBuffer = 64 * 1024;  // per io thread, not per connection
constexpr int kReadsPerWakeup = 4;              // then let other connections run
constexpr std::size_t kMaxPipelined = 16;       // requests read ahead of their answers
constexpr std::size_t kMaxGather = 32;          // chunks per socket write
constexpr std::size_t kCoalesce = 16 * 1024;    // small writes share one chunk up to this
constexpr std::size_t kKeptChunks = 2;          // output slots an idle connection keeps
constexpr int kCorkRounds = 4;                  // scheduler rounds a lane waits at most
constexpr CloseCode kAbnormal = static_cast<CloseCode>(1006);

const char* const kBinaryError =
    R"({"op":"error","code":"invalid_argument","message":"binary frames are not supported"})";

/// Input lands here and is consumed before the handler returns: a connection owns no read
/// buffer of its own (an idle connection costs no buffer memory).
std::array<char, kReadBuffer>& read_buffer() {
  static thread_local std::array<char, kReadBuffer> buffer;
  return buffer;
}

std::string remote_of(const Socket& socket) {
  std::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// The answer to a connection Admission refused.
HttpResponse refusal(Admission::Verdict verdict) {
  if (verdict == Admission::Verdict::address_full)
    return error_response(429, "too_many_connections",
                          "too many connections from your address; close some or retry later");
  return error_response(503, "unavailable", "too many connections; retry later");
}

}  // namespace

Conn::Conn(std::shared_ptr<Core> core, Lane& lane, Socket socket, Pass pass,
           std::unique_ptr<TlsSession> tls)
    : core_(std::move(core)),
      lane_(lane),
      strand_(socket.get_executor()),
      socket_(std::move(socket)),
      timer_(strand_),
      pass_(pass),
      tls_(std::move(tls)) {}

Conn::~Conn() {
  // Reached without close_socket() only when the io_context drops pending handlers.
  if (mode_ == Mode::closed) return;
  core_->remove(this);
  core_->admission.release(pass_);
  lane_.buffered.fetch_sub(counted_bytes_, std::memory_order_relaxed);
}

void Conn::start(Admission::Verdict verdict) {
  if (mode_ == Mode::closed) return;  // close_all() came first
  std::error_code ec;
  handshake_.remote = remote_of(socket_);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (core_->options.socket_send_buffer != 0) {
    socket_.set_option(
        asio::socket_base::send_buffer_size(static_cast<int>(core_->options.socket_send_buffer)),
        ec);
  }
  socket_.non_blocking(true, ec);  // reads are tried after async_wait says "readable"
  last_rx_ = last_tx_ = accepted_at_ = Clock::now();
  if (verdict != Admission::Verdict::admitted) {
    enqueue(serialize(refusal(verdict), true, false, false));
    finish_after_flush_ = true;
    if (tls_) {  // the answer waits for the handshake, which needs input and a deadline
      schedule(last_rx_ + core_->options.http_idle_timeout);
      wait_read();
    }
    flush();
    return;
  }
  serve_http();
}

void Conn::start_moved(TimePoint accepted_at, std::string remote) {
  if (mode_ == Mode::closed) return;  // close_all() came first
  placed_ = true;
  handshake_.remote = std::move(remote);
  std::error_code ec;
  socket_.non_blocking(true, ec);  // the descriptor is; this Socket object must know it
  last_rx_ = last_tx_ = Clock::now();
  accepted_at_ = accepted_at;
  serve_http();
}

void Conn::serve_http() {
  http_ =
      std::make_unique<HttpState>(core_->options.max_header_bytes, core_->options.max_body_bytes,
                                  core_->options.max_header_count);
  http_->sink = [this](ParsedRequest&& parsed) { return on_request(std::move(parsed)); };
  schedule(last_rx_ + core_->options.http_idle_timeout);
  schedule(accepted_at_ + core_->options.handshake_timeout);
  wait_read();
}

// A plain HTTP request (the REST API: a publish, an inbox read) is served best on the host's
// lane, whose thread runs the engine: read on a loop of the Server's own, the request would
// cross to the engine's thread and its answer back, each crossing waking an idle thread (a
// good part of what a unicast publish costs more with two threads than with one; see
// docs/performance.md, tenth pass). Sessions (WebSocket, STOMP, SSE) stay on the lane that
// accepted them, spread over every thread. Decided once, at the connection's first input,
// from its request line peeked (not read), for plain (not TLS) connections: the socket then
// moves to the host's lane as if accepted there. Returns true if it moved: this object is
// then done, closed without closing the socket or releasing the admission place it handed
// on.
bool Conn::move_to_host_lane() {
  placed_ = true;
  Lane* host = core_->host_lane();
  if (!host || host == &lane_ || tls_ || mode_ != Mode::http || !http_) return false;
  std::array<char, 64> start;  // a request line's method and a session path fit
  std::error_code ec;
  const std::size_t n = socket_.receive(asio::buffer(start), asio::socket_base::message_peek, ec);
  if (ec || !opens_no_session(std::string_view(start.data(), n), core_->options)) return false;
  const auto protocol = socket_.local_endpoint(ec).protocol();
  if (ec) return false;
  Socket moved(host->strand);
  const Socket::native_handle_type fd = socket_.release(ec);  // nothing of it is pending
  if (ec) return false;
  moved.assign(protocol, fd, ec);
  if (ec) {  // the host's reactor refused it (out of memory): as if the client had left
    ::close(fd);
    abort(kAbnormal, "cannot move the connection: " + ec.message());
    return true;
  }
  auto conn = std::make_shared<Conn>(core_, *host, std::move(moved), std::exchange(pass_, Pass{}));
  core_->add(conn.get(), conn);  // before this one goes: close_all() always finds one of them
  mode_ = Mode::closed;
  timer_.cancel();
  core_->remove(this);
  asio::post(conn->executor(),
             [conn, accepted_at = accepted_at_, remote = std::move(handshake_.remote)]() mutable {
               conn->start_moved(accepted_at, std::move(remote));
             });
  http_.reset();
  return true;
}

void Conn::abort_async(CloseCode code, std::string reason) {
  asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->abort(code, std::move(reason));
  });
}

// ---- herald::Connection -------------------------------------------------------------

void Conn::send(Frame frame) {
  if (gone_.load(std::memory_order_acquire)) return;
  // Framed on the sender's thread: a fan-out sends one body to every session in a row, so
  // the cache hands the same buffer to all of them. Text that is not UTF-8 (never from the
  // engine) is dropped, but still reported written so the sender's accounting stays exact.
  Outgoing item;
  item.conn = weak_from_this();
  item.size = frame.size();
  if (sse_stream_) {  // made an event on the strand (queue_event)
    item.frame.prefix = std::move(frame.head);
    item.frame.tail = std::move(frame.body);
  } else if (!core_->frames.wire_for(std::move(frame), item.frame)) {
    item.kind = Outgoing::Kind::invalid;
  }
  lane_.push(std::move(item));
}

void Conn::close(CloseCode code, std::string reason) {
  Outgoing item;
  item.conn = weak_from_this();
  item.kind = Outgoing::Kind::close;
  item.code = code;
  item.frame.prefix = std::move(reason);
  lane_.push(std::move(item));
}

bool Conn::take(Outgoing& item) {
  switch (item.kind) {
    case Outgoing::Kind::frame:
      if (sse_stream_) {
        queue_event(std::move(item.frame), item.size);
      } else {
        queue_wire(std::move(item.frame), item.size);
      }
      break;
    case Outgoing::Kind::invalid:
      report_written(item.size);
      break;
    case Outgoing::Kind::close:
      begin_close(item.code, item.frame.prefix);
      break;
  }
  return !std::exchange(in_batch_, true);
}

void Conn::end_batch() {
  in_batch_ = false;
  flush();
}

// ---- lanes --------------------------------------------------------------------------

void Lane::push(Outgoing item) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.push_back(std::move(item));
    if (posted_) return;
    posted_ = true;
  }
  // defer: a continuation of the sender's handler (see AsioExecutor::post): no io thread is
  // woken just to run the drain.
  if (!sender_) return asio::defer(strand, [self = shared_from_this()] { self->drain(); });
  // Another thread's loop: wake it once the sender's handler is done (see sender_).
  asio::defer(sender_->get_executor(), [self = shared_from_this()] {
    asio::post(self->strand, [self] { self->drain(); });
  });
}

// Hands the batch over, then lets each connection write once for all it got. A batch of
// one item (a unicast) is written at once; a larger one (a fan-out) is corked for a
// scheduler round, and for another while more fan-outs arrive (kCorkRounds at most), so that
// the frames of consecutive fan-outs share socket writes.
void Lane::drain() {
  const std::size_t items = hand_over();
  if (corked_) {
    arrived_ += items;  // the posted write_out() writes these too
    return;
  }
  if (items <= 1) return end_batches();
  corked_ = true;
  rounds_ = 0;
  arrived_ = 0;
  post_write_out();
}

// A posted write_out() holds the lane through a Cork: should the io_context be destroyed
// before it runs, the Cork lets go of the connections taken_ holds for it (they hold the
// Core, which holds this lane: a reference cycle that would never be freed otherwise).
class Lane::Cork {
 public:
  explicit Cork(std::shared_ptr<Lane> lane) : lane_(std::move(lane)) {}
  Cork(Cork&&) noexcept = default;  // the moved-from Cork holds nothing
  Cork& operator=(Cork&&) = delete;
  ~Cork() {
    if (lane_) lane_->taken_.clear();
  }
  /// The lane, once the write_out runs: the Cork then releases nothing.
  std::shared_ptr<Lane> run() { return std::move(lane_); }

 private:
  std::shared_ptr<Lane> lane_;
};

void Lane::post_write_out() {
  auto write = [cork = Cork(shared_from_this())]() mutable { cork.run()->write_out(); };
  if (!sender_) return asio::post(strand, std::move(write));
  // On a loop of its own, a round is the sender's: the loop would be through its own rounds
  // long before the sender queued its next fan-out, and write each frame alone.
  // (The lambda holds the lane, never a copy of its strand: see Loops::share.)
  asio::post(sender_->get_executor(), [self = shared_from_this(), write = std::move(write)]() mutable {
    asio::post(self->strand, std::move(write));
  });
}

// The cork's end (posted only while corked): takes what was queued since (a drain still
// posted then finds nothing) and writes, unless another fan-out arrived during the round and
// the cork may last one more.
void Lane::write_out() {
  arrived_ += hand_over();
  if (arrived_ > 1 && ++rounds_ < kCorkRounds) {
    arrived_ = 0;
    post_write_out();
    return;
  }
  corked_ = false;
  end_batches();
}

// Lets each connection that got items write once for all of them.
// The connections' on_written reports are held back until all of them wrote: the engine
// then takes them in one task, rather than one per socket write interleaved with the
// writes (and, from a loop of the Server's own, its thread is woken once per batch).
void Lane::end_batches() {
  holding_reports_ = true;
  for (const std::shared_ptr<Conn>& conn : taken_) conn->end_batch();
  taken_.clear();
  holding_reports_ = false;
  for (const std::shared_ptr<Conn>& conn : held_) conn->release_report();
  held_.clear();
}

// Hands the queued items to their connections in order; items of a connection that is gone
// are dropped. Returns how many items there were.
std::size_t Lane::hand_over() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_.swap(queued_);  // queued_ gets the emptied buffer back: no reallocation
    posted_ = false;
  }
  for (Outgoing& item : draining_) {
    std::shared_ptr<Conn> conn = item.conn.lock();
    if (conn && conn->take(item)) taken_.push_back(std::move(conn));
  }
  const std::size_t items = draining_.size();
  draining_.clear();
  return items;
}

// ---- reading ------------------------------------------------------------------------

void Conn::wait_read() {
  if (reading_ || read_paused_ || mode_ == Mode::closed) return;
  // Backpressure: a client that does not read what it asked for is not read either, so it
  // cannot make the server queue more. on_writable resumes once the output drained.
  if (output_full()) {
    read_blocked_ = true;
    return;
  }
  reading_ = true;
  if (tls_buffered_) {  // TLS: records already read wait in the session
    asio::post(strand_, [self = shared_from_this()] {
      self->reading_ = false;
      if (self->mode_ == Mode::closed || !self->tls_input(0)) return;
      self->wait_read();
    });
    return;
  }
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const std::error_code& ec) {
    self->on_readable(ec);
  });
}

void Conn::on_readable(const std::error_code& ec) {
  reading_ = false;
  if (mode_ == Mode::closed) return;
  if (ec) return on_read_end(ec);
  if (!placed_ && move_to_host_lane()) return;
  auto& buffer = read_buffer();
  for (int round = 0; round < kReadsPerWakeup; ++round) {
    std::error_code rec;
    const std::size_t n = socket_.read_some(asio::buffer(buffer), rec);
    if (rec == asio::error::would_block || rec == asio::error::try_again) break;
    if (rec) return on_read_end(rec);
    last_rx_ = Clock::now();
    if (tls_ && mode_ != Mode::draining) {
      if (!tls_input(n)) return;
    } else {
      consume(buffer.data(), n);  // may rewrite the bytes (unmasking)
    }
    if (mode_ == Mode::closed || read_paused_ || output_full() || n < buffer.size()) break;
  }
  wait_read();
}

void Conn::consume(char* data, std::size_t size) {
  if (mode_ == Mode::http && http_ && !http_->stopped) {
    feed_http(data, size);
  } else if (mode_ == Mode::websocket && parser_) {
    read_frames(data, size);
  }
  // Otherwise (an event stream, draining, a rejected or finished HTTP connection) the input
  // is discarded.
}

// EOF or a socket error while reading.
void Conn::on_read_end(const std::error_code& ec) {
  if (mode_ == Mode::websocket) return abort(kAbnormal, "connection lost: " + ec.message());
  if (mode_ == Mode::sse) return abort(CloseCode::normal, "the client ended the event stream");
  if (mode_ == Mode::http && http_ && ec == asio::error::eof &&
      (!http_->slots.empty() || http_->upgrade)) {
    // The client half-closed after its requests: answer them, then close.
    peer_eof_ = true;
    read_paused_ = true;
    http_->upgrade.reset();
    return flush_responses();
  }
  if (mode_ == Mode::http && (writing_ || out_head_ < out_.size()) && ec == asio::error::eof) {
    finish_after_flush_ = true;  // answers are being written: finish them
    read_paused_ = true;
    return flush();
  }
  close_socket();
}

// TLS: the `size` bytes of ciphertext in read_buffer() go into the session, the plaintext
// that comes out is consumed (it reuses the buffer: the session copied the ciphertext).
// What the session has to say (handshake, alerts) is written. False: the connection ended.
// Plaintext is taken out only while the connection would read: paused or over its output
// bound it stays in the session (tls_buffered_), and wait_read() resumes from there.
bool Conn::tls_input(std::size_t size) {
  auto& buffer = read_buffer();
  if (size > 0) tls_->feed(buffer.data(), size);
  tls_buffered_ = false;
  TlsSession::ReadResult r = TlsSession::ReadResult::ok;
  while (mode_ == Mode::http || mode_ == Mode::websocket || mode_ == Mode::sse) {
    if (read_paused_ || output_full()) {
      tls_buffered_ = true;
      break;
    }
    std::size_t got = 0;
    r = tls_->read(buffer.data(), buffer.size(), got);
    if (r != TlsSession::ReadResult::ok || got == 0) break;
    consume(buffer.data(), got);
  }
  if (mode_ == Mode::closed) return false;
  if (r == TlsSession::ReadResult::failed) {
    // A failed handshake (no common version or suite, a bad record): the alert goes out if
    // the socket takes it now, then the connection is closed.
    if (tls_->has_output()) {
      std::error_code ignored;
      const std::size_t n =
          socket_.write_some(asio::buffer(tls_->output_data(), tls_->output_size()), ignored);
      if (!ignored) tls_->consumed(n);
    }
    on_read_end(std::make_error_code(std::errc::protocol_error));
    return false;
  }
  if (r == TlsSession::ReadResult::closed) {  // close_notify: the client finished sending
    on_read_end(asio::error::eof);
    return false;
  }
  if (tls_stalled_) {  // answers wait for the handshake: it moved on, maybe completed
    tls_stalled_ = false;
    write_inflight();  // the session's output, then the answers once established
    flush();
  } else if (!writing_ && tls_->has_output()) {
    flush();
  }  // else a write is waiting for the socket: it writes the session's output too
  return mode_ != Mode::closed;
}

// ---- HTTP ---------------------------------------------------------------------------

void Conn::feed_http(const char* data, std::size_t size) {
  const FeedResult r = http_->parser.feed(data, size, http_->sink);
  track_phase();
  const char* rest = data + r.consumed;
  const std::size_t left = size - r.consumed;
  if (r.error_status != 0) {
    answer_error(r.error_status);
  } else if (r.upgraded) {
    http_->stopped = true;  // the rest is not HTTP: upgrade, or answer and close
    if (http_->upgrade) {
      http_->pending.assign(rest, left);
      read_paused_ = true;
    }
  } else if (r.paused && !http_->stopped) {
    http_->pending.assign(rest, left);
    read_paused_ = true;
  }
  // The client waits for an interim answer before sending the body. Only when nothing
  // before it is unanswered (else it sends the body after its own timeout).
  if (http_->parser.take_continue() && http_->slots.empty() && !http_->stopped)
    enqueue("HTTP/1.1 100 Continue\r\n\r\n");
  flush_responses();  // may start the WebSocket session: http_ is gone then
}

// The parser's sink: one complete request. Returns false to pause the parser.
bool Conn::on_request(ParsedRequest&& parsed) {
  HttpState& h = *http_;
  greeted_ = true;
  if (parsed.websocket) {
    if (parsed.request.path == core_->options.websocket_path ||
        (!core_->options.stomp_path.empty() && parsed.request.path == core_->options.stomp_path)) {
      h.upgrade = std::move(parsed);
    } else {
      core_->counters.http_errors.fetch_add(1);
      Slot slot{true, true, false, false,
                serialize(error_response(404, "not_found",
                                         "no WebSocket endpoint at " + parsed.request.path),
                          true, false, false)};
      h.slots.push_back(std::move(slot));
    }
    h.stopped = true;
    return true;  // the parser stops at an upgrade anyway
  }
  if (sse_stream_request(parsed.request)) {  // the last request served on this connection
    h.upgrade = std::move(parsed);
    h.sse = true;
    h.stopped = true;
    return false;
  }
  Slot slot;
  slot.close = !parsed.keep_alive || parsed.upgrade;  // another protocol: answer and close
  slot.http10 = parsed.http10;
  slot.head = parsed.request.method == "HEAD";
  if (slot.close) h.stopped = true;  // later pipelined requests are not served
  const std::uint64_t id = h.first_id + h.slots.size();
  h.slots.push_back(std::move(slot));
  parsed.request.remote = handshake_.remote;
  const std::string& sse = core_->options.sse_path;
  if (!sse.empty() && parsed.request.path.size() > sse.size() + 1 &&
      parsed.request.path.compare(0, sse.size(), sse) == 0 && parsed.request.path[sse.size()] == '/') {
    core_->counters.http_requests.fetch_add(1);
    // Answered like the host's routes: posted, never re-entering the parser.
    asio::defer(strand_, [self = shared_from_this(), id,
                          answer = answer_sse_post(parsed.request)]() mutable {
      self->on_response(id, std::move(answer));
    });
    return !h.stopped && h.slots.size() < kMaxPipelined;
  }
  dispatch(std::move(parsed.request), id);
  return !h.stopped && h.slots.size() < kMaxPipelined;
}

void Conn::dispatch(HttpRequest request, std::uint64_t id) {
  core_->counters.http_requests.fetch_add(1);
  std::weak_ptr<Conn> weak = weak_from_this();
  // Always posted, also when called on the strand: answers never re-enter the parser.
  auto respond = [weak, id](HttpResponse response) {
    auto self = weak.lock();
    if (!self) return;  // the connection is gone: drop the answer
    asio::defer(self->strand_, [self, id, response = std::move(response)]() mutable {
      self->on_response(id, std::move(response));
    });
  };
  if (!core_->http)
    return respond(error_response(404, "not_found", "no route for " + request.path));
  try {
    core_->http(std::move(request), respond);
  } catch (...) {
    // A host handler that throws gets a 500 (unless it answered) instead of taking the io
    // thread down.
    respond(error_response(500, "internal", "the request handler failed"));
  }
}

void Conn::on_response(std::uint64_t id, HttpResponse response) {
  if (mode_ != Mode::http || !http_) return;
  HttpState& h = *http_;
  if (id < h.first_id || id >= h.first_id + h.slots.size()) return;
  Slot& slot = h.slots[id - h.first_id];
  if (slot.ready) return;  // answered twice: the first answer stands
  slot.bytes = serialize(response, slot.close, slot.http10 && !slot.close, slot.head);
  slot.ready = true;
  flush_responses();
}

// A request's head and body each have a deadline from when they began (header_timeout,
// body_timeout): a client that sends a byte now and then is not idle, but is cut anyway.
void Conn::track_phase() {
  if (!http_) return;
  const RequestParser::Phase phase = http_->parser.phase();
  if (phase == http_->phase) return;
  http_->phase = phase;
  http_->phase_since = Clock::now();
  if (phase == RequestParser::Phase::body) greeted_ = true;
  const auto& o = core_->options;
  if (phase == RequestParser::Phase::head) schedule(http_->phase_since + o.header_timeout);
  if (phase == RequestParser::Phase::body) schedule(http_->phase_since + o.body_timeout);
}

// 408 after what is already answered, then the connection closes.
void Conn::request_timeout(const char* what, std::chrono::milliseconds limit) {
  core_->counters.http_errors.fetch_add(1);
  core_->counters.request_timeouts.fetch_add(1);
  HttpResponse r = error_response(
      408, "request_timeout",
      std::string(what) + " not complete within " + std::to_string(limit.count()) + " ms");
  http_->slots.push_back(Slot{true, true, false, false, serialize(r, true, false, false)});
  http_->stopped = true;
  http_->phase = RequestParser::Phase::idle;
  read_paused_ = true;
  flush_responses();
}

// No complete request head handshake_timeout after the accept: a plain connection gets a
// 408; one whose TLS handshake is not done cannot be answered and is closed.
void Conn::handshake_timeout() {
  core_->counters.handshake_timeouts.fetch_add(1);
  if (tls_ && !tls_->established()) return close_socket();
  request_timeout("first request", core_->options.handshake_timeout);
}

void Conn::answer_error(int status) {
  const auto& o = core_->options;
  HttpResponse r;
  switch (status) {
    case 413:
      r = error_response(413, "payload_too_large",
                         "request body over " + std::to_string(o.max_body_bytes) + " bytes");
      break;
    case 431:
      r = error_response(431, "invalid_argument",
                         "request header over " + std::to_string(o.max_header_bytes) + " bytes");
      break;
    case 505:
      r = error_response(505, "http_version_not_supported", "only HTTP/1.0 and 1.1 are served");
      break;
    default:
      r = error_response(400, "invalid_argument", "malformed HTTP request");
      break;
  }
  core_->counters.http_errors.fetch_add(1);
  http_->slots.push_back(Slot{true, true, false, false, serialize(r, true, false, false)});
  http_->stopped = true;
}

// Moves the answers that are ready, in request order, to the output; then switches to
// WebSocket, resumes reading or closes, as the state requires.
void Conn::flush_responses() {
  HttpState& h = *http_;
  while (!h.slots.empty() && h.slots.front().ready) {
    const bool close = h.slots.front().close;
    enqueue(std::move(h.slots.front().bytes));
    h.slots.pop_front();
    ++h.first_id;
    if (close) {
      h.slots.clear();
      h.upgrade.reset();
      finish_after_flush_ = true;
      read_paused_ = true;
      return flush();
    }
  }
  if (h.slots.empty() && h.upgrade) return h.sse ? start_sse() : start_websocket();
  if (h.slots.empty() && peer_eof_) {
    finish_after_flush_ = true;
    return flush();
  }
  flush();  // first: what the socket takes now does not count against the bound
  if (mode_ != Mode::http || !read_paused_ || h.stopped || peer_eof_ ||
      h.slots.size() >= kMaxPipelined)
    return;
  if (output_full()) {
    read_blocked_ = true;  // the answers so far must drain first (backpressure)
    return;
  }
  resume_http();
}

void Conn::resume_http() {
  read_paused_ = false;
  std::string pending = std::move(http_->pending);
  http_->pending.clear();
  if (!pending.empty()) {
    feed_http(pending.data(), pending.size());  // may pause again, or end HTTP
    return wait_read();
  }
  flush();
  wait_read();
}

// The output drained below max_buffered_bytes: reading goes on where backpressure stopped
// it (HTTP: parsing the requests already read first).
void Conn::resume_reading() {
  read_blocked_ = false;
  if (mode_ == Mode::http && http_ && read_paused_) return flush_responses();
  wait_read();
}

// ---- SSE: an event stream -----------------------------------------------------------

bool Conn::sse_stream_request(const HttpRequest& r) const {
  return r.method == "GET" && !core_->options.sse_path.empty() && r.path == core_->options.sse_path;
}

// POST <sse_path>/<token>: a client request for the stream the token names, answered 202
// at once; its reply (if any) arrives on the stream. The token is the credential: it was
// sent only on that stream.
HttpResponse Conn::answer_sse_post(HttpRequest& r) {
  if (r.method != "POST") {
    HttpResponse answer = error_response(405, "method_not_allowed", "POST a client frame here");
    answer.headers.emplace_back("Allow", "POST");
    return answer;
  }
  auto type = r.headers.find("content-type");
  if (type == r.headers.end() || type->second.rfind("application/json", 0) != 0)
    return error_response(415, "unsupported_media_type", "send Content-Type: application/json");
  const std::string token = r.path.substr(core_->options.sse_path.size() + 1);
  std::shared_ptr<Conn> stream = core_->find_sse(token);
  if (!stream)
    return error_response(404, "not_found", "no such event stream (it ended): reconnect");
  stream->post_request(std::move(r.body));
  HttpResponse accepted;
  accepted.status = 202;
  accepted.body = R"({"accepted":true})";
  return accepted;
}

void Conn::post_request(std::string text) {
  asio::post(strand_, [self = shared_from_this(), text = std::move(text)]() mutable {
    if (self->mode_ != Mode::sse || self->closing_ || self->closed_reported_) return;
    if (ConnectionHandler* h = self->core_->handler()) h->on_message(self, std::move(text));
  });
}

// The answer's head, then events until either side ends the stream. A `Last-Event-ID`
// becomes the handshake's resume position (apply_last_event_id).
void Conn::start_sse() {
  ParsedRequest request = std::move(*http_->upgrade);
  http_.reset();  // callers return right after: nothing touches http_ again
  mode_ = Mode::sse;
  core_->admission.leave_http_phase(pass_);
  read_paused_ = false;
  handshake_.path = std::move(request.request.path);
  handshake_.query = std::move(request.request.query);
  handshake_.headers = std::move(request.request.headers);
  apply_last_event_id(handshake_);
  sse_ = std::make_unique<SsePositions>();
  sse_stream_ = true;
  sse_token_ = core_->register_sse(shared_from_this());
  enqueue(sse_prelude(core_->options.sse_path + "/" + sse_token_));
  opened_ = true;
  core_->counters.sse_sessions.fetch_add(1);
  last_ping_ = Clock::now();
  if (core_->options.ping_interval.count() > 0) schedule(last_ping_ + core_->options.ping_interval);
  if (ConnectionHandler* h = core_->handler()) h->on_open(shared_from_this());
  flush();
  wait_read();  // only to notice the client leaving: input is discarded
}

// One engine frame (its head in `frame.prefix`, its body in `frame.tail`) as an event,
// within the output bound (past it: closed as a slow consumer, like a WebSocket session).
// The body is written from the buffer every recipient of a fan-out shares.
void Conn::queue_event(WireFrame frame, std::size_t report) {
  if (mode_ != Mode::sse || closing_) return;
  frame.prefix = sse_->event_head(frame.prefix, frame.tail.get());
  if (!within_bound(frame.wire() + kEventEnd.size())) return;
  enqueue(std::move(frame), report);
  enqueue(kEventEnd);
}

// The server ends the stream: a last event says why, then the connection closes once it is
// written. EventSource reconnects by itself (with Last-Event-ID); a client that must not
// (4001) reads the code. A handshake the engine refused as malformed (1002 before the
// welcome) may owe it to the Last-Event-ID (its topics and the URL's over the engine's
// max_session_topics): the event then clears the id, or EventSource would send it forever.
void Conn::end_sse(CloseCode code, const std::string& reason) {
  if (mode_ != Mode::sse || closing_) return;
  closing_ = true;
  close_code_ = code;
  if (code == CloseCode::slow_consumer) drop_unsent();
  const bool refused = code == CloseCode::protocol_error && !sse_->positioned();
  enqueue(sse_close_event(code, reason, refused));
  report_closed(code, reason);
  finish_after_flush_ = true;
  flush();
}

// Heartbeat comments while nothing else is written, so that proxies keep the stream open.
void Conn::on_sse_timer(TimePoint now) {
  const auto interval = core_->options.ping_interval;
  if (closing_ || interval.count() == 0) return;
  if (now - std::max(last_tx_, last_ping_) >= interval) {
    const std::string beat = sse_heartbeat();
    if (!within_bound(beat.size())) return;  // closing as a slow consumer
    enqueue(beat);
    last_ping_ = now;
    core_->counters.pings.fetch_add(1);
    flush();
  }
  schedule(std::max(last_tx_, last_ping_) + interval);
}

// ---- WebSocket: the handshake -------------------------------------------------------

void Conn::start_websocket() {
  ParsedRequest upgrade = std::move(*http_->upgrade);
  std::string rest = std::move(http_->pending);
  http_.reset();  // callers return right after: nothing touches http_ again
  mode_ = Mode::websocket;
  core_->admission.leave_http_phase(pass_);
  read_paused_ = false;
  const bool stomp = upgrade.request.path != core_->options.websocket_path;
  HandshakeAnswer answer = answer_handshake(upgrade.request, stomp);
  enqueue(std::move(answer.bytes));
  if (!answer.accepted) {  // refused: the answer says why, then the connection closes
    finish_after_flush_ = true;
    return flush();
  }
  handshake_.path = std::move(upgrade.request.path);
  handshake_.query = std::move(upgrade.request.query);
  handshake_.headers = std::move(upgrade.request.headers);
  open_websocket();
  if (!rest.empty()) consume(rest.data(), rest.size());  // frames sent with the upgrade
  flush();
  wait_read();
}

void Conn::open_websocket() {
  opened_ = true;
  parser_ = core_->make_frame_parser();
  core_->counters.websocket_sessions.fetch_add(1);
  last_rx_ = last_ping_ = Clock::now();
  schedule(next_keepalive());
  if (ConnectionHandler* h = core_->handler()) h->on_open(shared_from_this());
}

// ---- WebSocket: the open session ----------------------------------------------------

// Client frames, in order, until the session ends. The parser unmasks `data` in place.
void Conn::read_frames(char* data, std::size_t size) {
  std::size_t used = 0;
  while (used < size && mode_ == Mode::websocket && parser_ && !closed_reported_) {
    WsErrorCode ec;
    const std::size_t n =
        parser_->consume(reinterpret_cast<std::uint8_t*>(data) + used, size - used, ec);
    if (ec) return protocol_error(ec);
    used += n;
    if (parser_->ready()) {
      on_frame(parser_->get_message());
    } else if (n == 0) {
      break;  // the parser wants nothing more from these bytes (never expected)
    }
  }
}

void Conn::on_frame(const WsMessagePtr& message) {
  if (!message) return;
  switch (message->get_opcode()) {
    case ws_opcode::text:
      if (!ends_on_whole_utf8(message->get_payload()))  // see frames.hpp: 1007
        return protocol_error(websocketpp::processor::error::make_error_code(
            websocketpp::processor::error::invalid_utf8));
      if (!session_open()) return;  // closing: data frames are dropped
      if (ConnectionHandler* h = core_->handler())
        h->on_message(shared_from_this(), std::move(message->get_raw_payload()));
      return;
    case ws_opcode::ping: {
      if (!session_open()) return;
      std::string pong = control_frame(Opcode::pong, message->get_payload());
      if (!within_bound(pong.size())) return;  // a ping flood that reads no pongs: 4008
      enqueue(pong);
      return flush();
    }
    case ws_opcode::close:
      return on_close_frame(message->get_payload());
    case ws_opcode::binary:
      // Documented behaviour: binary frames get an error frame; the session stays open.
      if (!session_open()) return;
      queue_wire(core_->frames.wire_for(std::string(kBinaryError)), 0);
      return flush();
    default:
      return;  // pongs: the bytes already moved last_rx_
  }
}

// The client's close frame: the answer to ours, or its own close, which we echo (RFC 6455
// §5.5.1; no code is answered with 1000, an invalid one with 1002). Either way the session
// ends once the output is written.
void Conn::on_close_frame(const std::string& payload) {
  if (closed_reported_) return;
  if (closing_) return finish_session(close_code_, close_reason_, {});
  CloseEcho echo = echo_close(payload);
  const std::string answer = close_frame(echo.code, echo.reason);
  finish_session(static_cast<CloseCode>(echo.code), std::move(echo.reason), answer);
}

// Unreadable client input: close with the matching code (1002, 1007 or 1009) without
// waiting for the client's answer; nothing more is parsed.
void Conn::protocol_error(const WsErrorCode& ec) {
  namespace error = websocketpp::processor::error;
  // websocketpp maps a payload length that is not minimally encoded to 1011 (as if the
  // server failed); it is the client breaking RFC 6455 §5.2, a protocol error.
  const auto code = static_cast<std::uint16_t>(
      ec == error::make_error_code(error::non_minimal_encoding) ? ws_close::protocol_error
                                                                : error::to_ws(ec));
  const std::string reason = ec.message();
  finish_session(static_cast<CloseCode>(code), reason, close_frame(code, reason));
}

// Queues a data frame for the client, within the bound for buffered bytes.
void Conn::queue_wire(WireFrame frame, std::size_t report) {
  if (mode_ != Mode::websocket || !session_open()) return;
  if (within_bound(frame.wire())) enqueue(std::move(frame), report);
}

// Every frame of an open session but the close frame passes here: one that would take the
// output past max_buffered_bytes closes the session as a slow consumer instead.
bool Conn::within_bound(std::size_t bytes) {
  if (out_bytes_ + bytes <= core_->options.max_buffered_bytes) return true;
  core_->counters.overflow_closes.fetch_add(1);
  begin_close(CloseCode::slow_consumer, "outbound buffer over " +
                                            std::to_string(core_->options.max_buffered_bytes) +
                                            " bytes; reconnect and resume");
  return false;
}

// Sends our close frame and waits for the client's answer: close_timeout from the moment
// the frame is written (flush() starts it). A slow consumer's queued frames are dropped
// first, so that the close frame follows the write in progress: a client that stalled
// learns why it was cut as soon as it reads again.
void Conn::begin_close(CloseCode code, const std::string& reason) {
  if (sse_stream_) return end_sse(code, reason);
  if (mode_ != Mode::websocket || !session_open()) return;
  closing_ = true;
  close_code_ = code;
  close_reason_ = reason;
  if (code == CloseCode::slow_consumer) drop_unsent();
  enqueue(close_frame(static_cast<std::uint16_t>(code), reason));
  deadline_ = TimePoint::max();
  flush();
}

// The session is over: reports it, writes `close_frame` (if any) after what is queued, then
// shuts the socket down gracefully; a client that does not read is cut off at the deadline.
void Conn::finish_session(CloseCode code, std::string reason, const std::string& close_frame) {
  closing_ = true;
  close_code_ = code;
  if (!close_frame.empty()) enqueue(close_frame);
  report_closed(code, std::move(reason));
  deadline_ = Clock::now() + core_->options.close_timeout;
  schedule(deadline_);
  finish_after_flush_ = true;
  flush();
}

void Conn::report_written(std::size_t bytes) {
  if (bytes == 0 || !opened_ || closed_reported_) return;
  if (lane_.holding_reports()) {  // see Lane::end_batches
    if (held_bytes_ == 0) lane_.hold_report(shared_from_this());
    held_bytes_ += bytes;
    return;
  }
  if (ConnectionHandler* h = core_->handler()) h->on_written(shared_from_this(), bytes);
}

void Conn::release_report() {
  const std::size_t bytes = std::exchange(held_bytes_, 0);
  if (bytes == 0 || closed_reported_) return;
  if (ConnectionHandler* h = core_->handler()) h->on_written(shared_from_this(), bytes);
}

void Conn::report_closed(CloseCode code, std::string reason) {
  gone_.store(true, std::memory_order_release);
  if (!opened_ || closed_reported_) return;
  release_report();  // what was written is reported before the close, as ever
  closed_reported_ = true;
  if (ConnectionHandler* h = core_->handler())
    h->on_closed(shared_from_this(), code, std::move(reason));
}

// ---- output -------------------------------------------------------------------------

void Conn::enqueue(std::string_view bytes) {
  out_bytes_ += bytes.size();
  writable_chunk().bytes += bytes;
}

void Conn::enqueue(WireFrame frame, std::size_t report) {
  out_bytes_ += frame.wire();
  Chunk& chunk = writable_chunk();
  if (chunk.bytes.empty()) {
    chunk.bytes = std::move(frame.prefix);  // a new chunk takes the frame's own buffer
  } else {
    chunk.bytes += frame.prefix;
  }
  chunk.tail = std::move(frame.tail);
  chunk.report += report;
}

// The last waiting chunk if it can still take bytes; otherwise a new one.
Conn::Chunk& Conn::writable_chunk() {
  if (out_.size() > out_head_) {
    Chunk& last = out_.back();
    if (!last.tail && last.bytes.size() < kCoalesce) return last;
  }
  out_.emplace_back();
  return out_.back();
}

// Writes at once what the socket takes (it is non-blocking) and waits for it to become
// writable only for the rest: a write that completes reports on_written without a posted
// completion.
void Conn::flush() {
  while (!writing_ && mode_ != Mode::closed) {
    if (out_head_ == out_.size() && tls_ && tls_->has_output()) {
      take_inflight();  // nothing of ours, only the session's: handshake, alerts
      write_inflight();
      continue;
    }
    if (out_head_ == out_.size()) {
      if (finish_after_flush_ && mode_ != Mode::draining) {
        drain_and_close();
      } else if (closing_ && deadline_ == TimePoint::max()) {
        deadline_ = Clock::now() + core_->options.close_timeout;  // our close frame is out
        schedule(deadline_);
      }
      break;
    }
    take_inflight();
    write_inflight();
  }
  count_buffered();
}

// Brings this connection's share of lane_.buffered up to date (one atomic per flush, not
// per frame).
void Conn::count_buffered() {
  if (mode_ == Mode::closed || counted_bytes_ == out_bytes_) return;
  if (out_bytes_ > counted_bytes_) {
    lane_.buffered.fetch_add(out_bytes_ - counted_bytes_, std::memory_order_relaxed);
  } else {
    lane_.buffered.fetch_sub(counted_bytes_ - out_bytes_, std::memory_order_relaxed);
  }
  counted_bytes_ = out_bytes_;
}

// The next chunks move to inflight_, where nothing touches them until they are written.
// Usually all of out_ fits one write: the two vectors swap, nothing is allocated.
void Conn::take_inflight() {
  const std::size_t n = std::min(kMaxGather, out_.size() - out_head_);
  inflight_.clear();
  if (out_head_ == 0 && n == out_.size()) {
    inflight_.swap(out_);
  } else {
    for (std::size_t i = 0; i < n; ++i) inflight_.push_back(std::move(out_[out_head_ + i]));
    out_head_ += n;
  }
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
  } else if (out_head_ >= 64 && out_head_ * 2 >= out_.size()) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
    out_head_ = 0;
  }
  unwritten_.clear();
  for (const Chunk& c : inflight_) {
    if (!c.bytes.empty()) unwritten_.emplace_back(asio::buffer(c.bytes));
    if (c.tail && !c.tail->empty()) unwritten_.emplace_back(asio::buffer(*c.tail));
  }
  writing_ = true;
}

// Writes what the socket takes now; the rest waits for the socket to be writable.
void Conn::write_inflight() {
  std::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    n = tls_write(ec);
  } else {
    n = socket_.write_some(unwritten_, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec.clear();
      n = 0;
    }
    if (n > 0) last_tx_ = Clock::now();
  }
  if (ec) return abort(kAbnormal, "write failed: " + ec.message());
  auto first = unwritten_.begin();
  for (; first != unwritten_.end() && n >= first->size(); ++first) n -= first->size();
  unwritten_.erase(unwritten_.begin(), first);
  if (tls_ && !tls_->has_output()) {
    if (unwritten_.empty()) return written();
    // The socket is not what holds this back: the handshake is. tls_input resumes it.
    unwritten_.front() += n;
    tls_stalled_ = true;
    return;
  }
  if (unwritten_.empty() && !tls_) return written();
  if (!unwritten_.empty()) unwritten_.front() += n;
  // A client that reads nothing more is cut after send_timeout (on_timer).
  schedule(last_tx_ + core_->options.send_timeout);
  socket_.async_wait(Socket::wait_write, [self = shared_from_this()](const std::error_code& e) {
    self->on_writable(e);
  });
}

// TLS: writes the session's ciphertext, then encrypts unwritten_ a batch at a time while
// the socket takes everything. Returns how many plaintext bytes of unwritten_ were
// encrypted; their ciphertext may still wait in the session (the write is not complete
// until it is out). Plaintext is encrypted only once the handshake completed.
std::size_t Conn::tls_write(std::error_code& ec) {
  constexpr std::size_t kRecord = 16 * 1024;   // a full TLS record
  constexpr std::size_t kBatch = 4 * kRecord;  // encrypted ahead of the socket at most
  static thread_local std::array<char, kRecord> staging;
  std::size_t taken = 0;  // plaintext bytes encrypted
  auto next = unwritten_.begin();
  std::size_t offset = 0;  // into *next
  for (;;) {
    while (tls_->has_output()) {
      const std::size_t n =
          socket_.write_some(asio::buffer(tls_->output_data(), tls_->output_size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec.clear();
        return taken;
      }
      if (ec) return taken;
      last_tx_ = Clock::now();
      tls_->consumed(n);
    }
    if (next == unwritten_.end() || !tls_->established()) return taken;
    // Small buffers share records: they are copied together, a record at a time.
    std::size_t batch = 0;
    while (batch < kBatch && next != unwritten_.end()) {
      std::size_t staged = 0;
      while (staged < kRecord && next != unwritten_.end()) {
        const auto* data = static_cast<const char*>(next->data());
        const std::size_t n = std::min(kRecord - staged, next->size() - offset);
        std::copy(data + offset, data + offset + n, staging.data() + staged);
        staged += n;
        offset += n;
        if (offset == next->size()) {
          ++next;
          offset = 0;
        }
      }
      if (!tls_->write(staging.data(), staged)) {
        ec = std::make_error_code(std::errc::protocol_error);
        return taken;
      }
      taken += staged;
      batch += staged;
    }
  }
}

void Conn::on_writable(const std::error_code& ec) {
  if (mode_ == Mode::closed) return;
  if (ec) return abort(kAbnormal, "write failed: " + ec.message());
  write_inflight();
  flush();
  if (read_blocked_ && !output_full() && mode_ != Mode::closed) resume_reading();
}

// inflight_ is written: its frames are reported.
void Conn::written() {
  writing_ = false;
  std::size_t report = 0;
  for (const Chunk& c : inflight_) {
    out_bytes_ -= c.size();
    report += c.report;
  }
  inflight_.clear();
  // A backlog's buffers go at once; a few writes' worth stay until the connection is idle
  // (release_idle_output), so that consecutive writes allocate nothing.
  if (out_.empty()) release_output(kMaxGather);
  report_written(report);
}

// Frees the output slots if either vector holds more than `keep`. Only with nothing waiting.
void Conn::release_output(std::size_t keep) {
  if (inflight_.capacity() <= keep && out_.capacity() <= keep && unwritten_.capacity() <= 2 * keep)
    return;
  std::vector<Chunk>().swap(inflight_);
  std::vector<Chunk>().swap(out_);
  std::vector<asio::const_buffer>().swap(unwritten_);
}

// An idle connection keeps at most kKeptChunks slots, never a burst's.
void Conn::release_idle_output() {
  if (!writing_ && out_.empty()) release_output(kKeptChunks);
}

// Drops what is queued and not yet on its way: out_, and the chunks of the write in progress
// that it has not started. The chunk being written is finished, so no frame is ever cut.
// Dropped frames are never written, hence never reported to on_written.
void Conn::drop_unsent() {
  for (std::size_t i = out_head_; i < out_.size(); ++i) out_bytes_ -= out_[i].size();
  out_.clear();
  out_head_ = 0;
  if (!writing_) return;
  std::size_t unsent = 0;  // the end of inflight_ not written yet
  for (const asio::const_buffer& b : unwritten_) unsent += b.size();
  while (!inflight_.empty() && inflight_.back().size() <= unsent) {
    // Not started: its buffers are the last ones of unwritten_, whole.
    std::size_t bytes = inflight_.back().size();
    unsent -= bytes;
    out_bytes_ -= bytes;
    inflight_.pop_back();
    while (bytes > 0 && !unwritten_.empty()) {
      bytes -= unwritten_.back().size();
      unwritten_.pop_back();
    }
  }
}

// ---- timers and closing -------------------------------------------------------------

// One timer per connection, armed for the earliest deadline; each expiry re-checks the
// state (activity moves deadlines without touching the timer).
void Conn::schedule(TimePoint when) {
  if (mode_ == Mode::closed || when >= wake_) return;
  wake_ = when;
  timer_.expires_at(when);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec != asio::error::operation_aborted) self->on_timer();
  });
}

void Conn::on_timer() {
  wake_ = TimePoint::max();
  if (mode_ == Mode::closed) return;
  const TimePoint now = Clock::now();
  release_idle_output();
  if (writing_) {
    if (now - last_tx_ >= core_->options.send_timeout) return cut_stalled();
    schedule(last_tx_ + core_->options.send_timeout);
  }
  switch (mode_) {
    case Mode::http:
      return on_http_timer(now);
    case Mode::websocket:
      return on_ws_timer(now);
    case Mode::sse:
      return on_sse_timer(now);
    case Mode::draining:
      if (now >= deadline_) return close_socket();
      return schedule(deadline_);
    case Mode::closed:
      return;
  }
}

void Conn::on_http_timer(TimePoint now) {
  if (http_ && !http_->stopped && !greeted_) {
    const auto limit = core_->options.handshake_timeout;
    if (now - accepted_at_ >= limit) return handshake_timeout();
    schedule(accepted_at_ + limit);
  }
  if (http_ && !http_->stopped && http_->phase != RequestParser::Phase::idle) {
    const bool head = http_->phase == RequestParser::Phase::head;
    const auto limit = head ? core_->options.header_timeout : core_->options.body_timeout;
    if (now - http_->phase_since >= limit)
      return request_timeout(head ? "request headers" : "request body", limit);
    schedule(http_->phase_since + limit);
  }
  const auto timeout = core_->options.http_idle_timeout;
  if (http_ && !http_->slots.empty()) return schedule(now + timeout);  // the host is busy
  const TimePoint idle_until = std::max(last_rx_, last_tx_) + timeout;
  if (now >= idle_until) return close_socket();
  schedule(idle_until);
}

void Conn::on_ws_timer(TimePoint now) {
  if (closing_) {
    if (now >= deadline_) return abort(close_code_, close_reason_);
    return schedule(deadline_);
  }
  if (!parser_) return;
  const auto& o = core_->options;
  if (o.idle_timeout.count() > 0 && now - last_rx_ >= o.idle_timeout) {
    core_->counters.idle_closes.fetch_add(1);
    return begin_close(CloseCode::idle_timeout, "idle timeout");
  }
  if (o.ping_interval.count() > 0 && now - std::max(last_rx_, last_ping_) >= o.ping_interval) {
    const std::string ping = control_frame(Opcode::ping, std::string());
    if (!within_bound(ping.size())) return;  // closing as a slow consumer
    enqueue(ping);
    last_ping_ = now;
    core_->counters.pings.fetch_add(1);
    flush();
  }
  schedule(next_keepalive());
}

Conn::TimePoint Conn::next_keepalive() const {
  const auto& o = core_->options;
  TimePoint next = TimePoint::max();
  if (o.idle_timeout.count() > 0) next = std::min(next, last_rx_ + o.idle_timeout);
  if (o.ping_interval.count() > 0)
    next = std::min(next, std::max(last_rx_, last_ping_) + o.ping_interval);
  return next;
}

// The socket took nothing for send_timeout while output waited: the client stopped reading.
// A session waiting for its close frame to go out reports the code it was closing with.
void Conn::cut_stalled() {
  core_->counters.stalled_closes.fetch_add(1);
  if (closing_) return abort(close_code_, close_reason_);
  abort(kAbnormal, "the client read nothing for " +
                       std::to_string(core_->options.send_timeout.count()) + " ms");
}

// Graceful end: our side is shut down (the peer sees EOF after our last bytes) and input is
// read and discarded until the peer closes too, or close_timeout. Closing at once with
// unread input would make the kernel send a reset that can destroy our last answer.
void Conn::drain_and_close() {
  mode_ = Mode::draining;
  std::error_code ec;
  if (tls_) {  // close_notify first, if the socket takes it now (our output is written)
    tls_->shutdown();
    if (tls_->has_output()) {
      const std::size_t n =
          socket_.write_some(asio::buffer(tls_->output_data(), tls_->output_size()), ec);
      if (!ec) tls_->consumed(n);
      ec.clear();
    }
  }
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) return close_socket();
  read_paused_ = false;
  deadline_ = Clock::now() + core_->options.close_timeout;
  schedule(deadline_);
  wait_read();
}

void Conn::close_socket() {
  if (mode_ == Mode::closed) return;
  mode_ = Mode::closed;
  if (!sse_token_.empty()) core_->unregister_sse(sse_token_);
  std::error_code ec;
  timer_.cancel();
  socket_.close(ec);
  report_closed(kAbnormal, "connection closed");  // no-op if reported already
  core_->remove(this);
  core_->admission.release(pass_);
  lane_.buffered.fetch_sub(counted_bytes_, std::memory_order_relaxed);
  counted_bytes_ = 0;
  // Released on a later turn: this may run inside a frame parser or HTTP parser callback.
  asio::post(strand_, [self = shared_from_this()] {
    self->parser_.reset();
    self->http_.reset();
    self->tls_.reset();
    std::vector<Chunk>().swap(self->out_);
    std::vector<Chunk>().swap(self->inflight_);
    std::vector<asio::const_buffer>().swap(self->unwritten_);
  });
}

void Conn::abort(CloseCode code, std::string reason) {
  report_closed(code, std::move(reason));
  close_socket();
}

}  // namespace herald::websocket::detail
