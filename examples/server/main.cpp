// herald-server: the complete single-node service. REST + WebSocket + metrics on one port,
// the store in SQLite at ./herald.db (--store), in-memory broker and registry (--redis);
// configured by flags or environment
// (docs/operations.md). Exit codes: 0 after a signal, 1 if it could not start (e.g. the
// port is in use), 2 for a bad command line or configuration.
#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <CLI/CLI.hpp>
#include <asio.hpp>

#include "backends.hpp"
#include "events_out.hpp"
#include "herald/herald.hpp"
#include "herald/stomp.hpp"
#include "herald/websocket/server.hpp"
#include "ingest.hpp"
#include "logging.hpp"
#include "prometheus.hpp"
#include "rest_api.hpp"
#include "server_auth.hpp"

namespace {

using namespace herald;
using namespace herald::server;
using Millis = std::chrono::milliseconds;

// Everything the command line sets. Defaults are the embedded default: the store in SQLite at
// ./herald.db, in-memory broker and registry, 127.0.0.1:8080.
struct Config {
  std::string bind = "127.0.0.1";
  int port = 8080;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string log_level = "info";
  std::string instance_id;
  std::string redis;
  std::string store;     // --store; empty: kDefaultStore (unless --postgres)
  std::string postgres;  // --postgres, an alias of --store postgresql://…
  std::string sqlite_synchronous = "normal";
  bool allow_unshared_store = false;
  std::size_t max_payload_bytes = 64 * 1024;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_count = 100;
  double header_timeout = 10;  // seconds
  double body_timeout = 30;    // seconds
  double handshake_timeout = 10;  // seconds
  std::size_t max_connections_per_address = 1000;
  std::size_t max_http_connections = 10'000;
  std::size_t max_batch = 1000;
  double rate_limit = 10;
  double rate_burst = 100;
  std::size_t max_connections = 100'000;
  std::size_t topic_retention = 1000;
  std::size_t inbox_max_entries = 0;       // 0: no count limit
  double inbox_max_age = 90 * 86400.0;     // seconds; 0: no age limit
  double sweep_interval = 60;              // seconds
  std::size_t max_session_queue_bytes = 1 << 20;
  std::size_t max_session_topics = 256;
  std::size_t max_frame_bytes = 64 * 1024;
  double ack_timeout = 10;
  unsigned max_delivery_attempts = 3;
  double registry_ttl = 10;
  double shutdown_timeout = 10;
  double token_grace = 30;
  std::vector<std::string> allowed_hosts;
  std::string tls_cert;  // PEM chain; set: HTTPS and WSS
  std::string tls_key;
  int tls_port = -1;  // -1: --port serves TLS; else TLS here and --port stays plain
  std::string stomp_path = "/stomp";  // empty: no STOMP endpoint
  std::string sse_path = "/sse";      // empty: no Server-Sent Events endpoint
  AuthConfig auth;
  IngestConfig ingest;  // --ingest: publish requests from a Redis Stream
  EventsConfig events;  // --webhook-url, --events, --offline-after
};

// --ingest and its tuning (docs/operations.md, "Durable ingest").
void add_ingest_flags(CLI::App& app, IngestConfig& c) {
  app.add_option("--ingest", c.url,
                 "Consume publish requests from a Redis Stream: "
                 "redis://[[user]:password@]host[:port][/db]/stream (its own connection, "
                 "independent of --redis)")
      ->envname("HERALD_INGEST");
  app.add_option("--ingest-group", c.group, "Consumer group of --ingest (instances share it)")
      ->envname("HERALD_INGEST_GROUP")
      ->capture_default_str();
  app.add_option("--ingest-claim-idle", c.claim_idle,
                 "Seconds an entry may stay pending in a consumer before another claims it")
      ->envname("HERALD_INGEST_CLAIM_IDLE")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  app.add_option("--ingest-max-in-flight", c.max_in_flight,
                 "Entries being published and not yet acknowledged, at most (no read beyond)")
      ->envname("HERALD_INGEST_MAX_IN_FLIGHT")
      ->check(CLI::Range(1ul, 1'000'000ul))
      ->capture_default_str();
  app.add_option("--ingest-max-attempts", c.max_attempts,
                 "Deliveries of an entry before it goes to the dead-letter stream <stream>:dead")
      ->envname("HERALD_INGEST_MAX_ATTEMPTS")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
}

// Declares every flag, each with its HERALD_… environment variable.
void add_flags(CLI::App& app, Config& c) {
  app.add_option("--bind", c.bind, "Address to listen on (IPv4 or IPv6)")
      ->envname("HERALD_BIND")
      ->capture_default_str();
  app.add_option("--port", c.port, "TCP port for WebSocket and HTTP (0: any free port)")
      ->envname("HERALD_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--tls-cert", c.tls_cert,
                 "PEM certificate chain: serve HTTPS and WSS (TLS 1.2+); re-read on SIGHUP")
      ->envname("HERALD_TLS_CERT");
  app.add_option("--tls-key", c.tls_key, "PEM private key of --tls-cert; re-read on SIGHUP")
      ->envname("HERALD_TLS_KEY");
  app.add_option("--tls-port", c.tls_port,
                 "TLS on this port and plain HTTP/WebSocket on --port, side by side (0: any "
                 "free port; default: --port serves TLS only)")
      ->envname("HERALD_TLS_PORT")
      ->check(CLI::Range(0, 65535));
  app.add_option("--allowed-hosts", c.allowed_hosts,
                 "Host names answered besides IP literals and localhost (DNS rebinding "
                 "guard; on by itself when --bind is a loopback address)")
      ->envname("HERALD_ALLOWED_HOSTS")
      ->delimiter(',');
  app.add_option("--stomp-path", c.stomp_path,
                 "WebSocket path of the STOMP 1.2 endpoint (docs/stomp.md); empty: none")
      ->envname("HERALD_STOMP_PATH")
      ->capture_default_str();
  app.add_option("--sse-path", c.sse_path,
                 "path of the Server-Sent Events endpoint (docs/protocol.md); empty: none")
      ->envname("HERALD_SSE_PATH")
      ->capture_default_str();
  app.add_option("--threads", c.threads, "I/O threads (default: the number of cores)")
      ->envname("HERALD_THREADS")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--log-level", c.log_level, "Least severe level logged")
      ->envname("HERALD_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--instance-id", c.instance_id,
                 "Name of this instance (1..200 printable ASCII); default herald-<random>")
      ->envname("HERALD_INSTANCE_ID");
  app.add_option("--redis", c.redis,
                 "Redis URL (redis://[[user]:password@]host[:port][/db]) for the broker and "
                 "registry: servers sharing one Redis form one service")
      ->envname("HERALD_REDIS_URL");
  app.add_option("--registry-ttl", c.registry_ttl,
                 "Seconds after which a crashed instance's sessions leave the registry "
                 "(heartbeat every third of it)")
      ->envname("HERALD_REGISTRY_TTL")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--store", c.store,
                 std::string("Where notifications, read state, cursors and subscriptions are "
                             "kept: sqlite:PATH (one file, this instance only), memory (lost at "
                             "exit: tests), or postgresql://… (shared by every instance). "
                             "Default: ") +
                     kDefaultStore)
      ->envname("HERALD_STORE");
  app.add_option("--postgres", c.postgres,
                 "PostgreSQL URL (postgresql://… or key=value conninfo) for the store: the same "
                 "as --store postgresql://…")
      ->envname("HERALD_POSTGRES_URL");
  app.add_option("--sqlite-synchronous", c.sqlite_synchronous,
                 "SQLite store: normal survives a crash of this process (kill -9) but may lose "
                 "the last commits on power loss or an OS crash; full survives both (one fsync "
                 "per group commit)")
      ->envname("HERALD_SQLITE_SYNCHRONOUS")
      ->check(CLI::IsMember({"normal", "full"}))
      ->capture_default_str();
  app.add_flag("--allow-unshared-store", c.allow_unshared_store,
               "Accept --redis with a store other instances cannot share (sqlite:, memory): "
               "only when each user always reaches the same instance (sticky routing)")
      ->envname("HERALD_ALLOW_UNSHARED_STORE");
  app.add_option("--max-payload-bytes", c.max_payload_bytes,
                 "Largest notification `data`, as JSON text")
      ->envname("HERALD_MAX_PAYLOAD_BYTES")
      ->check(CLI::Range(1ul, 16ul << 20))
      ->capture_default_str();
  app.add_option("--max-body-bytes", c.max_body_bytes, "Largest HTTP request body (else 413)")
      ->envname("HERALD_MAX_BODY_BYTES")
      ->check(CLI::Range(1024ul, 64ul << 20))
      ->capture_default_str();
  app.add_option("--max-header-count", c.max_header_count,
                 "Most header lines in one HTTP request (else 431)")
      ->envname("HERALD_MAX_HEADER_COUNT")
      ->check(CLI::Range(1ul, 10'000ul))
      ->capture_default_str();
  app.add_option("--header-timeout", c.header_timeout,
                 "Seconds a request (or WebSocket handshake) may take to send its headers (else "
                 "408, closed): slow clients cannot hold connections")
      ->envname("HERALD_HEADER_TIMEOUT")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--body-timeout", c.body_timeout,
                 "Seconds a request may take to send its body after the headers (else 408)")
      ->envname("HERALD_BODY_TIMEOUT")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--handshake-timeout", c.handshake_timeout,
                 "Seconds a new connection may take to send its first complete request head, "
                 "TLS handshake included (else 408 or closed)")
      ->envname("HERALD_HANDSHAKE_TIMEOUT")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--max-batch", c.max_batch, "Most notifications in one batch POST /notify")
      ->envname("HERALD_MAX_BATCH")
      ->check(CLI::Range(1ul, 100'000ul))
      ->capture_default_str();
  app.add_option("--rate-limit", c.rate_limit,
                 "Publishes per second per sender, refilled continuously (0: no limit)")
      ->envname("HERALD_RATE_LIMIT")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--rate-burst", c.rate_burst, "Publishes a sender may make at once")
      ->envname("HERALD_RATE_BURST")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  app.add_option("--max-connections", c.max_connections, "Open connections (HTTP + WebSocket)")
      ->envname("HERALD_MAX_CONNECTIONS")
      ->check(CLI::Range(1ul, 10'000'000ul))
      ->capture_default_str();
  app.add_option("--max-connections-per-address", c.max_connections_per_address,
                 "Open connections from one client address (else 429, closed); 0: no cap. "
                 "Behind a reverse proxy every client has its address: raise it or use 0")
      ->envname("HERALD_MAX_CONNECTIONS_PER_ADDRESS")
      ->check(CLI::Range(0ul, 10'000'000ul))
      ->capture_default_str();
  app.add_option("--max-http-connections", c.max_http_connections,
                 "Connections not yet a WebSocket or SSE session: handshakes, REST clients, "
                 "idle keep-alive ones (else 503, closed)")
      ->envname("HERALD_MAX_HTTP_CONNECTIONS")
      ->check(CLI::Range(1ul, 10'000'000ul))
      ->capture_default_str();
  app.add_option("--max-session-queue-bytes", c.max_session_queue_bytes,
                 "Unwritten bytes a WebSocket session may queue; past it the session is closed "
                 "(4008) and resumes by cursor")
      ->envname("HERALD_MAX_SESSION_QUEUE_BYTES")
      ->check(CLI::Range(1024ul, 1ul << 30))
      ->capture_default_str();
  app.add_option("--max-session-topics", c.max_session_topics,
                 "Topics one WebSocket session may join; a subscribe past it gets the error "
                 "limit_exceeded and the session stays open")
      ->envname("HERALD_MAX_SESSION_TOPICS")
      ->check(CLI::Range(1ul, 1'000'000ul))
      ->capture_default_str();
  app.add_option("--max-frame-bytes", c.max_frame_bytes,
                 "Largest WebSocket frame a client may send; larger ones close the session (1009)")
      ->envname("HERALD_MAX_FRAME_BYTES")
      ->check(CLI::Range(256ul, 16ul << 20))
      ->capture_default_str();
  app.add_option("--topic-retention", c.topic_retention, "Newest entries kept per topic")
      ->envname("HERALD_TOPIC_RETENTION")
      ->check(CLI::Range(1ul, 100'000'000ul))
      ->capture_default_str();
  app.add_option("--inbox-max-entries", c.inbox_max_entries,
                 "Newest entries kept per inbox; older ones are removed by the sweep (0: no "
                 "limit)")
      ->envname("HERALD_INBOX_MAX_ENTRIES")
      ->capture_default_str();
  app.add_option("--inbox-max-age", c.inbox_max_age,
                 "Seconds an inbox entry is kept; older ones are removed by the sweep (0: no "
                 "limit; default 90 days)")
      ->envname("HERALD_INBOX_MAX_AGE")
      ->check(CLI::Range(0.0, 100.0 * 365 * 86400))
      ->capture_default_str();
  app.add_option("--sweep-interval", c.sweep_interval,
                 "Seconds between sweeps (expired notifications, inbox retention)")
      ->envname("HERALD_SWEEP_INTERVAL")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--ack-timeout", c.ack_timeout,
                 "Seconds a client has to ack an inbox notification before it is redelivered")
      ->envname("HERALD_ACK_TIMEOUT")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  app.add_option("--max-delivery-attempts", c.max_delivery_attempts,
                 "Deliveries of an inbox notification to a session without an ack before it is "
                 "dead-lettered (the first included; each waits twice as long as the last)")
      ->envname("HERALD_MAX_DELIVERY_ATTEMPTS")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.add_option("--shutdown-timeout", c.shutdown_timeout,
                 "Seconds from SIGINT/SIGTERM to exit, at most (then forced)")
      ->envname("HERALD_SHUTDOWN_TIMEOUT")
      ->check(CLI::Range(0.5, 3600.0))
      ->capture_default_str();
  app.add_option("--token-grace", c.token_grace,
                 "Seconds a session outlives its token's exp before it is closed (4011) unless "
                 "the client sent {\"op\":\"refresh\"}")
      ->envname("HERALD_TOKEN_GRACE")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  add_auth_flags(app, c.auth);
  add_ingest_flags(app, c.ingest);
  add_events_flags(app, c.events);
}

EngineOptions engine_options(const Config& c) {
  EngineOptions o;
  o.instance_id = c.instance_id;
  o.max_payload_bytes = c.max_payload_bytes;
  o.topic_retention = c.topic_retention;
  o.inbox_max_entries = c.inbox_max_entries;
  o.inbox_max_age = Millis(static_cast<std::int64_t>(c.inbox_max_age * 1000));
  o.expiry_sweep = Millis(static_cast<std::int64_t>(c.sweep_interval * 1000));
  o.max_session_queue_bytes = c.max_session_queue_bytes;
  o.max_session_topics = c.max_session_topics;
  o.ack_timeout = Millis(static_cast<std::int64_t>(c.ack_timeout * 1000));
  o.max_delivery_attempts = c.max_delivery_attempts;
  o.offline_after = Millis(static_cast<std::int64_t>(c.events.offline_after * 1000));
  o.registry_ttl = Millis(static_cast<std::int64_t>(c.registry_ttl * 1000));
  o.rate_limit = {c.rate_limit > 0 ? c.rate_limit : 1.0, c.rate_burst, c.rate_limit > 0};
  // Draining in-flight publishes gets 80% of the bound; the rest closes connections.
  o.shutdown_timeout = Millis(static_cast<std::int64_t>(c.shutdown_timeout * 800));
  o.token_grace = Millis(static_cast<std::int64_t>(c.token_grace * 1000));
  // No instance of herald-server reads relayed presence changes (it sets no on_presence;
  // GET /users/{id}/presence asks the Registry, user.online/offline events come from it
  // too): publishing them would cost two Redis messages per session, read by every instance.
  o.relay_presence = false;
  return o;
}

// True for 127.0.0.0/8 and ::1 (a development server the browser may be tricked into reaching).
bool loopback(const std::string& bind) {
  std::error_code ec;
  const asio::ip::address a = asio::ip::make_address(bind, ec);
  return !ec && a.is_loopback();
}

websocket::ServerOptions server_options(const Config& c) {
  websocket::ServerOptions o;
  // Thread 1 runs the engine, the backends and a share of the connections; each other
  // thread is a loop of the server's own with its share (shared-nothing, see server.hpp).
  o.io_threads = c.threads - 1;
  o.bind = c.bind;
  o.port = static_cast<std::uint16_t>(c.port);
  o.max_connections = c.max_connections;
  o.max_body_bytes = c.max_body_bytes;
  o.max_header_count = c.max_header_count;
  o.header_timeout = Millis(static_cast<std::int64_t>(c.header_timeout * 1000));
  o.body_timeout = Millis(static_cast<std::int64_t>(c.body_timeout * 1000));
  o.handshake_timeout = Millis(static_cast<std::int64_t>(c.handshake_timeout * 1000));
  o.max_connections_per_address = c.max_connections_per_address;
  o.max_http_connections = c.max_http_connections;
  o.max_frame_bytes = c.max_frame_bytes;
  o.stomp_path = c.stomp_path;
  o.sse_path = c.sse_path;
  o.tls.cert_file = c.tls_cert;
  o.tls.key_file = c.tls_key;
  if (c.tls_port >= 0) o.tls.port = static_cast<std::uint16_t>(c.tls_port);
  return o;
}

// The transport's counters in Prometheus text.
std::string transport_metrics(const websocket::Server& server) {
  const websocket::ServerStats s = server.stats();
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, std::uint64_t v) {
    append_metric(out, std::string("herald_transport_") + name, type, help, v);
  };
  add("connections", "gauge", "Open connections (HTTP and WebSocket).", server.connections());
  add("accepted_total", "counter", "TCP connections accepted.", s.accepted);
  add("rejected_total", "counter", "Connections refused by --max-connections.", s.rejected);
  add("rejected_address_total", "counter",
      "Connections refused by --max-connections-per-address (429).", s.rejected_address);
  add("rejected_http_total", "counter", "Connections refused by --max-http-connections.",
      s.rejected_http);
  add("request_timeouts_total", "counter",
      "Requests answered 408: --header-timeout, --body-timeout or --handshake-timeout.",
      s.request_timeouts);
  add("handshake_timeouts_total", "counter",
      "Connections without a complete first request within --handshake-timeout.",
      s.handshake_timeouts);
  add("http_requests_total", "counter", "Requests handed to the REST API.", s.http_requests);
  add("http_errors_total", "counter", "Requests answered by the transport itself.", s.http_errors);
  add("websocket_sessions_total", "counter", "WebSocket handshakes completed.",
      s.websocket_sessions);
  add("framed_messages_total", "counter", "WebSocket messages framed.", s.framed_messages);
  add("prepared_reuses_total", "counter", "Sends of a message framed for an earlier session.",
      s.prepared_reuses);
  add("pings_total", "counter", "Keep-alive pings sent.", s.pings);
  add("idle_closes_total", "counter", "Sessions closed for idleness (4009).", s.idle_closes);
  add("overflow_closes_total", "counter", "Sessions closed by the transport's buffer bound.",
      s.overflow_closes);
  add("stalled_closes_total", "counter",
      "Connections cut after reading nothing for 30 s while output waited.",
      s.stalled_closes);
  add("buffered_bytes", "gauge", "Bytes queued for clients and not yet written.",
      s.buffered_bytes);
  return out;
}

// Readiness: not ready while an external backend is disconnected (`unready` says why),
// otherwise whatever `probe` (the store query) answers.
ReadinessProbe external_first(std::function<std::string()> unready, ReadinessProbe probe) {
  return [unready = std::move(unready), probe = std::move(probe)](auto answer) {
    const std::string why = unready();
    if (!why.empty()) return answer(false, why);
    probe(std::move(answer));
  };
}

// The running service: owns the order of start and shutdown.
class Service {
 public:
  Service(asio::io_context& io, const Config& config)
      : io_(io),
        config_(config),
        strand_(asio::make_strand(io)),
        signals_(strand_, SIGINT, SIGTERM),
        hangup_(strand_),
        deadline_(strand_),
        executor_(make_asio_executor(io)) {}

  // Builds the server, engine and API (throws herald::Error on bad options), then starts.
  void start() {
    // Before listening: may throw (a bad URL, a database that cannot be reached or migrated).
    if (!config_.ingest.url.empty()) check_ingest(config_.ingest);
    events_ = make_event_outputs(io_, config_.events);
    ServerAuth auth = make_server_auth(config_.auth);
    auth_mode_ = auth.mode;
    reload_keys_ = std::move(auth.reload_keys);
    BackendChoice choice;
    choice.redis = config_.redis;
    choice.store = parse_store(config_.store, config_.postgres);
    choice.sqlite_synchronous = config_.sqlite_synchronous;
    choice.allow_unshared_store = config_.allow_unshared_store;
    ServerBackends backends = make_backends(io_, executor_, choice);
    backends_ = backends.names;
    close_store_ = std::move(backends.close_store);
    store_metrics_ = std::move(backends.store_metrics);
    for (const std::string& w : backends.warnings)
      spdlog::warn("event=store_warning message={}", quote(w));
    // The Server needs the HTTP handler before the Engine exists, and the RestApi needs the
    // Engine: the handler forwards to api_, which is set before anything listens.
    server_ =
        websocket::Server::create(io_, server_options(config_),
                                  [this](HttpRequest r, Respond respond) { forward(r, respond); });
    backends.engine.transports = {server_.get()};
    if (!config_.stomp_path.empty()) {
      // STOMP sessions are translated on a strand of their own, not the engine's.
      stomp::StompOptions so;
      so.path = config_.stomp_path;
      stomp_ = stomp::wrap(*server_, make_asio_executor(io_), so);
      backends.engine.transports = {stomp_.get()};
    }
    engine_ = std::make_unique<Engine>(executor_, std::move(backends.engine),
                                       engine_options(config_), std::move(auth.websocket));
    RestOptions rest;
    rest.max_body_bytes = config_.max_body_bytes;
    rest.max_batch = config_.max_batch;
    rest.check_host = loopback(config_.bind) || !config_.allowed_hosts.empty();
    rest.allowed_hosts = config_.allowed_hosts;
    rest.auth = std::move(auth.rest);
    rest.cors_origins = std::move(auth.cors_origins);
    rest.extra_metrics = [this, tokens = std::move(auth.token_metrics)] {
      const ServerIngest* ingest = ingest_ready_.load(std::memory_order_acquire);
      return transport_metrics(*server_) + (store_metrics_ ? store_metrics_() : std::string()) +
             (tokens ? tokens() : std::string()) + (ingest ? ingest->metrics() : std::string()) +
             (events_ ? events_->metrics() : std::string());
    };
    if (events_) {
      rest.extra_routes = events_->routes();
      // On the engine's executor; publish() only queues.
      engine_->on_event([events = events_.get()](const OutcomeEvent& e) { events->publish(e); });
    }
    api_ = std::make_unique<RestApi>(
        *engine_,
        external_first(std::move(backends.unready),
                       store_probe(*engine_, executor_, [this] { return running_.load(); })),
        rest);
    api_ready_.store(api_.get(), std::memory_order_release);
    signals_.async_wait([this](const std::error_code& ec, int sig) { on_signal(ec, sig); });
    // SIGHUP re-reads the token keys and the TLS certificate; without either it stays fatal.
    if (reload_keys_ || !config_.tls_cert.empty()) {
      hangup_.add(SIGHUP);
      hangup_.async_wait([this](const std::error_code& ec, int) { on_hangup(ec); });
    }
    engine_->start([this](Status s) { on_started(s); });
  }

  int exit_code() const { return exit_code_.load(); }
  /// After the io_context stopped: the transport's own threads stop too (see serve()).
  void stop_threads() {
    if (server_) server_->stop_threads();
    if (close_store_) close_store_();
  }

 private:
  void forward(HttpRequest& r, Respond& respond) {
    RestApi* api = api_ready_.load(std::memory_order_acquire);
    if (!api) {
      HttpResponse busy;
      busy.status = 503;
      busy.body = R"({"error":{"code":"unavailable","message":"starting"}})";
      return respond(std::move(busy));
    }
    api->handle(std::move(r), std::move(respond));  // which logs the answer (log_request)
  }

  void on_started(const Status& s) {
    if (!s.ok()) {
      spdlog::error("event=start_failed error={}", quote(s.message()));
      exit_code_ = 1;
      io_.stop();
      return;
    }
    if (!config_.ingest.url.empty() && !start_ingest_now()) return;
    running_ = true;
    spdlog::info(
        "event=listening addr={}:{} port={} tls_port={} instance={} threads={} ws_path=/ws "
        "sse_path={} stomp_path={} backends=\"{}\" auth={}",
        config_.bind, server_->port(), server_->port(), server_->tls_port(),
        quote(engine_->instance_id()), config_.threads, quote(config_.sse_path),
        quote(config_.stomp_path), backends_,
        auth_mode_);
    if (auth_mode_ == "development")
      spdlog::warn(
          "event=dev_auth message=\"WebSocket clients are trusted by ?userId= and the REST API "
          "is open; do not expose this server to untrusted networks\"");
  }

  // After the engine started: its publishes need it. False (and exit 1) on an error.
  bool start_ingest_now() {
    IngestConfig c = config_.ingest;
    c.rate_limit = config_.rate_limit;
    try {
      ingest_ = start_ingest(io_, *engine_, c);
    } catch (const Error& e) {
      spdlog::error("event=start_failed error={}", quote(e.what()));
      exit_code_ = 1;
      io_.stop();
      return false;
    }
    ingest_ready_.store(ingest_.get(), std::memory_order_release);
    spdlog::info("event=ingest_started source={} group={} consumer={}",
                 quote(redacted(config_.ingest.url)), quote(c.group), quote(engine_->instance_id()));
    return true;
  }

  // The URL without its password, for the log.
  static std::string redacted(const std::string& url) {
    const std::size_t at = url.find('@');
    const std::size_t colon = url.find(':', 8);
    if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon + 1) + "***" + url.substr(at);
  }

  void on_signal(const std::error_code& ec, int sig) {
    if (ec) return;
    if (stopping_) return force("second signal");
    stopping_ = true;
    signals_.async_wait([this](const std::error_code& e, int s) { on_signal(e, s); });
    begin_shutdown(sig);
  }

  // SIGHUP: the JWT key files and the TLS certificate again (rotation). What is unusable is
  // not taken: the old keys or certificate stay. Open connections are not touched.
  void on_hangup(const std::error_code& ec) {
    if (ec) return;
    if (reload_keys_) {
      const std::string error = reload_keys_();
      if (error.empty())
        spdlog::info("event=keys_reloaded");
      else
        spdlog::error("event=keys_reload_failed error={}", quote(error));
    }
    if (!config_.tls_cert.empty()) {
      const Status s = server_->reload_tls();
      if (s.ok())
        spdlog::info("event=tls_reloaded cert={}", quote(config_.tls_cert));
      else
        spdlog::error("event=tls_reload_failed error={}", quote(s.message()));
    }
    hangup_.async_wait([this](const std::error_code& e, int) { on_hangup(e); });
  }

  // Stop accepting, drain, close sessions (going away), close connections, stop.
  void begin_shutdown(int sig) {
    const auto bound = Millis(static_cast<std::int64_t>(config_.shutdown_timeout * 1000));
    spdlog::info("event=shutdown_begin signal={} timeout_ms={}", sig, bound.count());
    running_ = false;
    deadline_.expires_after(bound);
    deadline_.async_wait([this](const std::error_code& ec) {
      if (!ec) force("timeout");
    });
    // The ingest first: it stops reading and waits for the publishes in flight, which
    // need the engine; then the engine.
    if (ingest_) {
      ingest_->stop([this] {
        asio::post(strand_, [this] {
          spdlog::info("event=ingest_stopped");
          shutdown_engine();
        });
      });
      return;
    }
    shutdown_engine();
  }

  void shutdown_engine() {
    engine_->shutdown([this] { asio::post(strand_, [this] { after_engine(); }); });
  }

  // Two things finish the shutdown, in parallel: the connections close, and the webhook
  // sends the events it still holds (the engine emits no more), within the bound.
  void after_engine() {
    spdlog::info("event=engine_stopped connections={}", server_->connections());
    closing_parts_ = events_ ? 2 : 1;
    if (events_) {
      events_->drain(deadline_.expiry() - kDrainMargin, [this] {
        asio::post(strand_, [this] {
          spdlog::info("event=events_drained");
          part_closed();
        });
      });
    }
    server_->close_all();
    wait_closed(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }

  // Gives the transport time to write close frames and last responses.
  void wait_closed(std::chrono::steady_clock::time_point until) {
    if (server_->connections() > 0 && std::chrono::steady_clock::now() < until) {
      poll_.emplace(strand_);
      poll_->expires_after(Millis(20));
      poll_->async_wait([this, until](const std::error_code&) { wait_closed(until); });
      return;
    }
    part_closed();
  }

  // On strand_: one part of after_engine's is over; the last one stops the process.
  void part_closed() {
    if (--closing_parts_ > 0) return;
    deadline_.cancel();
    signals_.cancel();
    hangup_.cancel();
    spdlog::info("event=stopped exit_code=0");
    io_.stop();
  }

  // Exit 0 now, skipping destructors (the in-memory state is lost either way).
  [[noreturn]] void force(const char* reason) {
    spdlog::warn("event=shutdown_forced reason={}", quote(reason));
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(0);
  }

  asio::io_context& io_;
  const Config& config_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::signal_set signals_;
  asio::signal_set hangup_;  // SIGHUP, when there are keys or a certificate to reload
  std::function<std::string()> reload_keys_;
  asio::steady_timer deadline_;
  std::optional<asio::steady_timer> poll_;
  int closing_parts_ = 0;  // after_engine's parts still running, on strand_
  // The webhook's drain ends this long before the shutdown bound, so that the process
  // still stops by itself (not forced) when a receiver does not answer.
  static constexpr Millis kDrainMargin{250};
  std::shared_ptr<Executor> executor_;
  // Before server_: destroyed after it, as the server reports to it until it is gone.
  std::unique_ptr<Transport> stomp_;
  std::unique_ptr<websocket::Server> server_;
  // Before engine_: the engine's on_event callback points at it.
  std::unique_ptr<EventOutputs> events_;  // --webhook-url / --events; null: none
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<RestApi> api_;
  std::unique_ptr<ServerIngest> ingest_;  // set on strand_ once the engine started
  std::atomic<const ServerIngest*> ingest_ready_{nullptr};
  std::string backends_;   // names, for the log
  std::function<void()> close_store_;  // ServerBackends::close_store
  std::function<std::string()> store_metrics_;  // ServerBackends::store_metrics
  std::string auth_mode_;  // for the log
  std::atomic<RestApi*> api_ready_{nullptr};
  std::atomic<bool> running_{false};
  bool stopping_ = false;  // on strand_
  std::atomic<int> exit_code_{0};
};

int serve(const Config& config) {
  // One thread runs this io_context; the server's own loops are the other threads.
  asio::io_context io(1);
  Service service(io, config);
  try {
    service.start();
  } catch (const herald::Error& e) {
    std::cerr << "herald-server: " << e.what() << "\n";
    return 2;
  }
  io.run();
  // Before the engine goes: no connection calls into it after this, and no store call
  // completes on a store thread of its own (ServerBackends::close_store).
  service.stop_threads();
  return service.exit_code();
}

}  // namespace

// Every connection is a descriptor: take the whole hard limit, not the usual soft 1024.
static void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

// SQLite frees its savepoint bookkeeping (tens of KB on a grown database) at the end of each
// group commit, i.e. of each publish when they come one at a time; glibc then hands the top
// of the store's writer thread's heap back to the kernel (madvise) and faults it in again
// for the next commit: with the
// default SQLite store, ~30 µs of CPU per publish at 5,000 publishes/s (docs/performance.md,
// "Thirteenth pass"). Keep up to 4 MiB free at the top of each heap instead. An operator's
// own GLIBC_TUNABLES top_pad wins.
static void keep_heap_tops() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "top_pad") != nullptr) return;
  mallopt(M_TOP_PAD, 4 << 20);
#endif
}

int main(int argc, char** argv) {
  raise_descriptor_limit();
  keep_heap_tops();
  Config config;
  CLI::App app{"herald-server " HERALD_VERSION_STRING
               ": real-time notifications over WebSocket with a REST API, on one port.\n"
               "Needs credentials (--api-key; docs/security.md), or --dev-auth for local "
               "development (WebSocket clients connect to /ws?userId=U, the REST API is open)."};
  app.footer(
      "Every flag can also be set by the environment variable shown as Env.\n"
      "Docs: docs/operations.md (flags, logs, metrics, shutdown), docs/protocol.md.");
  app.set_version_flag("--version", HERALD_VERSION_STRING);
  add_flags(app, config);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  setup_logging(*parse_log_level(config.log_level));
  std::signal(SIGPIPE, SIG_IGN);
  return serve(config);
}
