// herald::websocket::Server: options check, listening and accepting, the registry of open
// connections. The per-connection protocol work is in conn.cpp.

#include <algorithm>
#include <openssl/rand.h>
#include <string>
#include <thread>
#include <utility>

#include "conn.hpp"
#include "core.hpp"
#include "herald/error.hpp"
#include "tls.hpp"

namespace herald::websocket {

namespace detail {

namespace {
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
}

Core::Core(asio::io_context& io_context, ServerOptions o, HttpHandler h)
    : io(io_context),
      options(std::move(o)),
      http(std::move(h)),
      admission(options),
      tls(options.tls.enabled() ? std::make_shared<TlsContext>(options.tls) : nullptr),
      messages_(std::make_shared<WsMsgManager>()),
      loops_(options.io_threads ? std::make_unique<Loops>(options.io_threads) : nullptr),
      accept_strand_(asio::make_strand(io_context)) {
  // The plain port, unless TLS takes it; then TLS's own port, if it has one.
  const bool tls_only = tls && !options.tls.port;
  listeners_.push_back(std::make_unique<Listener>(accept_strand_, options.port, tls_only));
  if (tls && options.tls.port)
    listeners_.push_back(std::make_unique<Listener>(accept_strand_, *options.tls.port, true));
  if (loops_) {
    // The host's thread serves a share too: it runs the engine, whose own deliveries to
    // this lane then need no hand-off to another thread.
    lanes_.push_back(std::make_shared<Lane>(io_context));
    for (std::size_t i = 0; i < loops_->size(); ++i)
      lanes_.push_back(std::make_shared<Lane>(loops_->share(i), io_context));
  } else {
    const unsigned lanes = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < lanes; ++i) lanes_.push_back(std::make_shared<Lane>(io_context));
  }
}

std::unique_ptr<WsProcessor> Core::make_frame_parser() {
  static WsConfig::rng_type no_rng;  // a server never masks: the parser never draws from it
  auto parser = std::make_unique<WsProcessor>(false, true, messages_, no_rng);
  parser->set_max_message_size(options.max_frame_bytes);
  return parser;
}

void Core::start(ConnectionHandler& handler, Done done) {
  handler_.store(&handler, std::memory_order_release);
  asio::post(accept_strand_,
             [self = shared_from_this(), done = std::move(done)] { self->listen(done); });
}

// On the acceptor's strand. Setup work: the synchronous calls (resolve, bind) are fine here.
void Core::listen(Done done) {
  auto report = [&](Result<void> r) {
    if (done.executor()) done(std::move(r));
  };
  if (accepting_) return report(Result<void>());
  for (auto& l : listeners_) {
    std::error_code ec;
    asio::ip::tcp::endpoint where;
    const asio::ip::address address = asio::ip::make_address(options.bind, ec);
    if (!ec) {
      where = asio::ip::tcp::endpoint(address, l->port);
    } else {
      asio::ip::tcp::resolver resolver(io);
      auto found = resolver.resolve(options.bind, std::to_string(l->port), ec);
      if (!ec && found.empty()) ec = asio::error::host_not_found;
      if (!ec) where = *found.begin();
    }
    if (!ec) l->acceptor.open(where.protocol(), ec);
    if (!ec) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(where, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      for (auto& other : listeners_) {
        std::error_code ignored;
        other->acceptor.close(ignored);
      }
      return report(Status(Errc::unavailable, "cannot listen on " + options.bind + ":" +
                                                  std::to_string(l->port) + ": " + ec.message()));
    }
  }
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    std::error_code ec;
    const std::uint16_t bound = listeners_[i]->acceptor.local_endpoint(ec).port();
    if (i == 0) port.store(bound);
    if (listeners_[i]->tls) tls_port.store(bound);
  }
  accepting_ = true;
  for (auto& l : listeners_) accept_next(*l);
  report(Result<void>());
}

void Core::accept_next(Listener& listener) {
  if (!accepting_) return;
  // Each accepted socket joins a lane, round robin: its connection's work runs on the
  // lane's strand.
  Lane* lane = lanes_[next_lane_++ % lanes_.size()].get();
  listener.acceptor.async_accept(lane->strand, [self = shared_from_this(), lane, &listener](
                                                   const std::error_code& ec, Socket socket) {
    self->accepted(ec, std::move(socket), lane, listener);
  });
}

void Core::accepted(const std::error_code& ec, Socket socket, Lane* lane, Listener& listener) {
  if (!accepting_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors and the like: try again shortly instead of spinning.
    listener.retry.expires_after(kAcceptRetry);
    listener.retry.async_wait(
        [self = shared_from_this(), &listener](const std::error_code& wait_ec) {
          if (!wait_ec) self->accept_next(listener);
        });
    return;
  }
  std::unique_ptr<TlsSession> session;
  if (listener.tls) {
    session = std::make_unique<TlsSession>(*tls);
    if (!session->valid()) {  // out of memory: as if the accept had failed
      std::error_code ignored;
      socket.close(ignored);
      return accept_next(listener);
    }
  }
  counters.accepted.fetch_add(1);
  Pass pass;
  std::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec);  // gone already: the read will fail
  const Admission::Verdict verdict = admission.admit(peer.address(), pass);
  if (verdict == Admission::Verdict::server_full) counters.rejected.fetch_add(1);
  if (verdict == Admission::Verdict::address_full) counters.rejected_address.fetch_add(1);
  if (verdict == Admission::Verdict::http_full) counters.rejected_http.fetch_add(1);
  auto conn = std::make_shared<Conn>(shared_from_this(), *lane, std::move(socket), pass,
                                     std::move(session));
  // Known to close_all() from now on, as it is counted (connections()) from now on: a
  // close_all() before its start() closes it too (start() then does nothing).
  add(conn.get(), conn);
  asio::post(conn->executor(), [conn, verdict] { conn->start(verdict); });
  accept_next(listener);
}

void Core::stop_accepting(Done done) {
  asio::post(accept_strand_, [self = shared_from_this(), done = std::move(done)] {
    self->accepting_ = false;
    for (auto& l : self->listeners_) {
      std::error_code ignored;
      l->acceptor.close(ignored);
      l->retry.cancel();
    }
    if (done.executor()) done(Result<void>());
  });
}

void Core::close_all() {
  stop_accepting(Done());
  std::vector<std::shared_ptr<Conn>> all;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [raw, weak] : conns_)
      if (auto conn = weak.lock()) all.push_back(std::move(conn));
  }
  for (auto& conn : all) conn->abort_async(CloseCode::going_away, "server closing");
}

void Core::stop_loops() {
  if (!loops_) return;
  // Through each lane's strand: behind the closes close_all() queued there (a strand may
  // hold them back from its io_context's queue while it runs other handlers).
  for (std::size_t i = 0; i < loops_->size(); ++i) {
    asio::io_context& loop = loops_->io(i);
    asio::post(lanes_[i + 1]->strand, [&loop] { loop.stop(); });
  }
  loops_->join();
}

void Core::add(Conn* conn, const std::shared_ptr<Conn>& shared) {
  std::lock_guard<std::mutex> lock(mutex_);
  conns_.emplace(conn, shared);
}

void Core::remove(Conn* conn) {
  std::lock_guard<std::mutex> lock(mutex_);
  conns_.erase(conn);
}

std::string Core::register_sse(const std::shared_ptr<Conn>& conn) {
  unsigned char random[16];
  if (RAND_bytes(random, sizeof random) != 1)
    throw Error("herald::websocket: no random bytes for an SSE token (OpenSSL RAND_bytes)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : random) {
    token += kHex[b >> 4];
    token += kHex[b & 0xf];
  }
  std::lock_guard<std::mutex> lock(sse_mutex_);
  sse_.emplace(token, conn);
  return token;
}

void Core::unregister_sse(const std::string& token) {
  std::lock_guard<std::mutex> lock(sse_mutex_);
  sse_.erase(token);
}

std::shared_ptr<Conn> Core::find_sse(const std::string& token) const {
  std::lock_guard<std::mutex> lock(sse_mutex_);
  auto it = sse_.find(token);
  return it == sse_.end() ? nullptr : it->second.lock();
}

ServerStats Core::stats() const {
  ServerStats s;
  s.accepted = counters.accepted.load();
  s.rejected = counters.rejected.load();
  s.rejected_address = counters.rejected_address.load();
  s.rejected_http = counters.rejected_http.load();
  s.http_requests = counters.http_requests.load();
  s.http_errors = counters.http_errors.load();
  s.websocket_sessions = counters.websocket_sessions.load();
  s.sse_sessions = counters.sse_sessions.load();
  s.request_timeouts = counters.request_timeouts.load();
  s.handshake_timeouts = counters.handshake_timeouts.load();
  s.framed_messages = frames.framed();
  s.prepared_reuses = frames.reused();
  s.pings = counters.pings.load();
  s.idle_closes = counters.idle_closes.load();
  s.overflow_closes = counters.overflow_closes.load();
  s.stalled_closes = counters.stalled_closes.load();
  for (const auto& lane : lanes_)
    s.buffered_bytes += lane->buffered.load(std::memory_order_relaxed);
  return s;
}

namespace {

class ServerImpl final : public Server {
 public:
  ServerImpl(asio::io_context& io, ServerOptions options, HttpHandler http)
      : core_(std::make_shared<Core>(io, std::move(options), std::move(http))) {}
  ~ServerImpl() override {
    core_->close_all();
    core_->stop_loops();
  }

  void start(ConnectionHandler& handler, Done done) override {
    core_->start(handler, std::move(done));
  }
  void stop_accepting(Done done) override { core_->stop_accepting(std::move(done)); }
  std::uint16_t port() const override { return core_->port.load(); }
  std::uint16_t tls_port() const override { return core_->tls_port.load(); }
  Status reload_tls() override {
    if (!core_->tls) return Status(Errc::invalid_argument, "the server has no TLS certificate");
    return core_->tls->reload();
  }
  std::size_t connections() const override { return core_->admission.open(); }
  ServerStats stats() const override { return core_->stats(); }
  void close_all() override { core_->close_all(); }
  void stop_threads() override { core_->stop_loops(); }

 private:
  std::shared_ptr<Core> core_;
};

void check(const ServerOptions& o) {
  auto fail = [](const std::string& what) {
    throw Error("herald::websocket::ServerOptions: " + what);
  };
  if (o.bind.empty()) fail("bind must name an address");
  if (o.websocket_path.empty() || o.websocket_path[0] != '/')
    fail("websocket_path must start with '/'");
  if (!o.sse_path.empty() && (o.sse_path[0] != '/' || o.sse_path == o.websocket_path))
    fail("sse_path must be empty (no SSE) or start with '/' and differ from websocket_path");
  if (!o.stomp_path.empty() && (o.stomp_path[0] != '/' || o.stomp_path == o.websocket_path))
    fail("stomp_path must start with '/' and differ from websocket_path");
  if (!o.sse_path.empty() && o.sse_path == o.stomp_path) fail("sse_path and stomp_path must differ");
  if (o.max_connections == 0) fail("max_connections must be >= 1");
  if (o.io_threads > 1024) fail("io_threads must be <= 1024 (one per core is the aim)");
  if (o.max_frame_bytes < 125) fail("max_frame_bytes must be >= 125");
  if (o.max_header_bytes < 256) fail("max_header_bytes must be >= 256");
  if (o.ping_interval.count() < 0 || o.idle_timeout.count() < 0)
    fail("ping_interval and idle_timeout must be >= 0 (0 disables)");
  if (o.ping_interval.count() > 0 && o.idle_timeout.count() > 0 &&
      o.ping_interval >= o.idle_timeout)
    fail("ping_interval must be shorter than idle_timeout (pongs keep sessions alive)");
  if (o.http_idle_timeout.count() <= 0) fail("http_idle_timeout must be > 0");
  if (o.header_timeout.count() <= 0 || o.body_timeout.count() <= 0)
    fail("header_timeout and body_timeout must be > 0");
  if (o.max_header_count == 0) fail("max_header_count must be >= 1");
  if (o.max_http_connections == 0) fail("max_http_connections must be >= 1");
  if (o.handshake_timeout.count() <= 0) fail("handshake_timeout must be > 0");
  if (o.close_timeout.count() <= 0) fail("close_timeout must be > 0");
  if (o.send_timeout.count() <= 0) fail("send_timeout must be > 0");
  if (o.max_buffered_bytes < 64 * 1024) fail("max_buffered_bytes must be >= 65536");
  if (o.tls.enabled() && o.tls.key_file.empty()) fail("tls.key_file must name the key's file");
  if (!o.tls.enabled() && (!o.tls.key_file.empty() || o.tls.port))
    fail("tls.key_file and tls.port need tls.cert_file");
  if (o.tls.port && *o.tls.port != 0 && *o.tls.port == o.port)
    fail("tls.port must differ from port");
}

}  // namespace
}  // namespace detail

std::unique_ptr<Server> Server::create(asio::io_context& io, ServerOptions options,
                                       HttpHandler http) {
  detail::check(options);
  return std::make_unique<detail::ServerImpl>(io, std::move(options), std::move(http));
}

}  // namespace herald::websocket
