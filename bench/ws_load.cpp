// Load generator for herald-server: N WebSocket clients (spread over 127.0.0.x source
// addresses), publishes over keep-alive HTTP, open-loop latency (each publish carries its
// scheduled time), lost/duplicate counts, and the server's RSS and CPU from /proc.
// Prints figures; asserts nothing. Every phase is bounded in count and time.
//
//   ws_load --server build/examples/server/herald-server --connections 2000
//   ws_load --port 8080 --server-pid 1234        (an already running server)
//   ws_load … --scenarios followers --follower-messages 50   (inbox fan-out to followers)
//   ws_load … --store sqlite     (herald-server's default store, a new file; default: memory)
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include "measure.hpp"
#include "ws_frame.hpp"

namespace {

using asio::ip::tcp;

using herald::bench::now_us;

// ---- server process figures from /proc ------------------------------------------------

long proc_rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long v = 0;
  while (in >> key) {
    if (key == "VmRSS:") return (in >> v, v);
    in.ignore(1 << 12, '\n');
  }
  return 0;
}

using herald::bench::CpuTimes;
using herald::bench::MachineTimes;

// User and system CPU seconds of a process.
CpuTimes proc_cpu(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  auto close = all.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  CpuTimes t;
  const auto tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) t.user = std::stod(field) / tick;
    if (i == 15) t.system = std::stod(field) / tick;
  }
  return t;
}

// What a scenario cost a process (user, system CPU: the server, or the generator itself) and how
// much of the machine the hypervisor took meanwhile: a run with a high steal share is a noisy run.
class CpuMeter {
 public:
  explicit CpuMeter(int pid)
      : pid_(pid), used0_(proc_cpu(pid)), machine0_(herald::bench::machine_times()) {}
  CpuTimes used() const { return proc_cpu(pid_) - used0_; }
  double steal_share() const {
    return herald::bench::steal_share(machine0_, herald::bench::machine_times());
  }

 private:
  int pid_;
  CpuTimes used0_;
  MachineTimes machine0_;
};

// ---- what the clients saw ---------------------------------------------------------------

struct Tally {
  std::vector<std::uint32_t> per_k;      // deliveries per publish index
  std::vector<std::int64_t> latency_us;  // receive time - scheduled publish time
  std::uint64_t deliveries = 0, duplicates = 0, gaps = 0;
  std::int64_t last_delivery_us = 0;
  std::FILE* trace = nullptr;  // --trace: one line per delivery (scheduled us, latency us, k)
  int ack_every = 16;          // --ack-every: an inbox ack after every N-th seq
  void reset(std::size_t publishes, std::size_t expected) {
    per_k.assign(publishes, 0);
    latency_us.clear();
    latency_us.reserve(expected);
    deliveries = duplicates = gaps = 0;
  }
};

// Reads the integer after `key`, searching from `from`; returns the position after the key,
// or npos if it is not there (frames are small; no full JSON parse on the client so that the
// generator stays cheap). The frame lies inside a larger string, so the digits are always
// followed by a non-digit.
std::size_t number_after(std::string_view s, std::string_view key, std::int64_t& out,
                         std::size_t from = 0) {
  const auto p = s.find(key, from);
  if (p == std::string_view::npos) return p;
  out = std::strtoll(s.data() + p + key.size(), nullptr, 10);
  return p + key.size();
}

/// Input lands here: the generator is single-threaded and consumes it at once.
std::array<char, 1 << 16>& read_buffer() {
  static std::array<char, 1 << 16> buffer;
  return buffer;
}

// ---- one WebSocket client ---------------------------------------------------------------

class WsClient;

// Reads for every upgraded client: one level-triggered epoll set, itself watched by the
// io_context, so one wake-up serves every socket that is ready. (An async_wait per socket
// costs an epoll_ctl per wake-up, since asio never tries it speculatively; with that and a
// full search of each frame per key, the generator spent as much CPU per delivery as the
// server it measures, on the same two cores.)
//
// With a read interval (--read-every-ms), the set is drained at most once per interval: the
// sockets' buffers hold what arrives meanwhile and each recv takes more frames, so the
// generator's CPU per delivery falls (its wake-ups, recv calls and the ACKs they send are
// per read, not per frame). For rate runs on a machine where the generator shares the
// server's cores; the latencies it prints then include up to one interval.
class Receiver {
 public:
  Receiver(asio::io_context& io, std::chrono::milliseconds interval)
      : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)), pause_(io), interval_(interval) {
    wait();
  }
  void add(int fd, WsClient* client) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = client;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev);
  }

 private:
  void wait() {
    epoll_.async_wait(asio::posix::descriptor_base::wait_read, [this](asio::error_code e) {
      if (e) return;
      drain();
      if (interval_.count() == 0) return wait();
      pause_.expires_after(interval_);
      pause_.async_wait([this](asio::error_code e2) {
        if (!e2) wait();
      });
    });
  }
  void drain();

  asio::posix::stream_descriptor epoll_;
  asio::steady_timer pause_;
  std::chrono::milliseconds interval_;
};

class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  WsClient(asio::io_context& io, Receiver& receiver, Tally& tally, std::string user)
      : socket_(io), receiver_(receiver), tally_(tally), user_(std::move(user)) {}
  ~WsClient() { close(); }

  void start(const tcp::endpoint& server, const asio::ip::address& source) {
    asio::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (!ec) socket_.bind(tcp::endpoint(source, 0), ec);
    if (ec) return fail();
    socket_.async_connect(server, [self = shared_from_this()](asio::error_code e) {
      if (e) return self->fail();
      self->handshake();
    });
  }
  bool welcomed() const { return welcomed_; }
  bool failed() const { return failed_; }
  void close() {
    asio::error_code ec;
    socket_.close(ec);
    if (fd_ >= 0) ::close(fd_);  // leaves the receiver's set with it
    fd_ = -1;
  }

  // Reads what the socket holds (the receiver saw it ready), then consumes whole frames.
  void on_readable() {
    if (fd_ < 0) return;
    auto& buffer = read_buffer();
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n <= 0) return fail();
      in_.append(buffer.data(), static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < buffer.size()) break;
    }
    parse();
    flush();
  }

 private:
  void fail() {
    failed_ = true;
    close();
  }

  void handshake() {
    auto req =
        std::make_shared<std::string>(herald::bench::ws_upgrade_request("/ws?userId=" + user_));
    asio::async_write(socket_, asio::buffer(*req),
                      [self = shared_from_this(), req](asio::error_code e, std::size_t) {
                        if (e) return self->fail();
                        asio::async_read_until(
                            self->socket_, asio::dynamic_buffer(self->in_), "\r\n\r\n",
                            [self](asio::error_code e2, std::size_t n) {
                              if (e2 || self->in_.compare(0, 12, "HTTP/1.1 101") != 0)
                                return self->fail();
                              self->in_.erase(0, n);
                              self->upgraded();
                            });
                      });
  }

  // From here on the socket is a plain non-blocking descriptor read by the receiver.
  void upgraded() {
    asio::error_code ec;
    socket_.non_blocking(true, ec);
    if (!ec) fd_ = socket_.release(ec);
    if (ec) return fail();
    receiver_.add(fd_, this);
    parse();  // what came with the 101
    flush();
  }

  // Consumes whole frames from in_. Cheap on purpose (it shares the cores with the server):
  // frames are looked at in place, in_ is trimmed once per read.
  void parse() {
    std::size_t pos = 0;
    while (auto frame = herald::bench::next_server_frame(std::string_view(in_).substr(pos))) {
      pos += frame->size;
      if (frame->opcode == herald::bench::kWsText) on_text(frame->payload);
      if (frame->opcode == herald::bench::kWsPing)
        send_frame(herald::bench::kWsPong, frame->payload);
      if (frame->opcode == herald::bench::kWsClose) return fail();  // closed by the server
    }
    in_.erase(0, pos);
  }

  void on_text(std::string_view f) {
    if (!welcomed_) {
      welcomed_ = f.find("\"welcome\"") != std::string_view::npos;
      return;
    }
    // One pass from the front, in the order herald writes a notification:
    // {"op":"notification","stream":"inbox:…","seq":N,…,"data":{"k":K,"t":T}…
    constexpr std::string_view kHead = "{\"op\":\"notification\",\"stream\":\"";
    if (f.compare(0, kHead.size(), kHead) != 0) return;
    const bool inbox = f.compare(kHead.size(), 6, "inbox:") == 0;
    std::int64_t k = -1, t = 0, seq = 0;
    std::size_t at = number_after(f, "\"seq\":", seq, kHead.size());
    if (at != std::string_view::npos) at = f.find("\"data\":", at);
    if (at != std::string_view::npos) at = number_after(f, "\"k\":", k, at);
    if (at != std::string_view::npos) number_after(f, "\"t\":", t, at);
    std::int64_t& last = inbox ? last_inbox_ : last_topic_;
    if (seq <= last) ++tally_.duplicates;
    if (last != 0 && seq > last + 1) ++tally_.gaps;
    last = std::max(last, seq);
    const std::int64_t now = now_us();
    ++tally_.deliveries;
    tally_.last_delivery_us = now;
    tally_.latency_us.push_back(now - t);
    if (tally_.trace) {
      std::fprintf(tally_.trace, "%lld %lld %lld\n", static_cast<long long>(t),
                   static_cast<long long>(now - t), static_cast<long long>(k));
    }
    if (k >= 0 && static_cast<std::size_t>(k) < tally_.per_k.size()) ++tally_.per_k[k];
    if (inbox && seq % tally_.ack_every == 0)
      send_frame(herald::bench::kWsText, "{\"op\":\"ack\",\"seq\":" + std::to_string(seq) + "}");
  }

  // Queued, written by flush(): what the socket does not take now waits for the next read
  // (acks and pongs are small and rare; the server keeps writing meanwhile).
  void send_frame(int opcode, std::string_view payload) {
    out_ += herald::bench::client_frame(opcode, payload);
  }
  void flush() {
    while (fd_ >= 0 && !out_.empty()) {
      const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (n < 0) return fail();
      out_.erase(0, static_cast<std::size_t>(n));
    }
  }

  tcp::socket socket_;  // until the upgrade
  int fd_ = -1;         // after it
  Receiver& receiver_;
  Tally& tally_;
  std::string user_;
  std::string in_, out_;
  bool welcomed_ = false, failed_ = false;
  std::int64_t last_inbox_ = 0, last_topic_ = 0;
};

void Receiver::drain() {
  std::array<epoll_event, 256> events;
  for (;;) {
    const int n =
        ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) static_cast<WsClient*>(events[i].data.ptr)->on_readable();
    if (n < static_cast<int>(events.size())) return;
  }
}

// ---- publisher: keep-alive HTTP connections, one request in flight each ----------------

class Publisher {
 public:
  Publisher(asio::io_context& io, tcp::endpoint server, int connections) : io_(io) {
    for (int i = 0; i < connections; ++i) {
      auto c = std::make_shared<Conn>(io);
      asio::error_code ec;
      c->socket.connect(server, ec);
      if (!ec) conns_.push_back(c);
    }
  }
  std::size_t connections() const { return conns_.size(); }
  std::size_t answered = 0, accepted = 0, reconnects = 0;
  // From each request's scheduled time to its whole answer (open loop, like deliveries).
  std::vector<std::int64_t> answer_latency_us;

  // Schedules a POST /notify with `body` at `when_us` (open loop).
  void post_at(std::int64_t when_us, std::string body) {
    request_at(when_us, "POST", "/notify", std::move(body));
  }
  // Schedules any request (e.g. PUT /users/{id}/subscriptions/{topic}).
  void request_at(std::int64_t when_us, std::string method, std::string path, std::string body) {
    queue_.push_back({when_us, std::move(method), std::move(path), std::move(body)});
  }
  void pump() {
    for (auto& c : conns_)
      if (!c->busy) next(c);
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io), timer(io) {}
    tcp::socket socket;
    asio::steady_timer timer;
    std::string in, out;
    bool busy = false;
    std::int64_t when_us = 0;  // of the request in flight
  };
  struct Item {
    std::int64_t when_us;
    std::string method, path, body;
  };

  void next(const std::shared_ptr<Conn>& c) {
    if (queue_.empty()) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    c->busy = true;
    c->when_us = item.when_us;
    const std::int64_t wait = item.when_us - now_us();
    auto send = [this, c, item = std::move(item)] {
      c->out = item.method + " " + item.path +
               " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: " +
               std::to_string(item.body.size()) + "\r\n\r\n" + item.body;
      asio::async_write(c->socket, asio::buffer(c->out), [this, c](asio::error_code e, std::size_t) {
        if (!e) read_response(c);
      });
    };
    if (wait <= 0) return send();
    c->timer.expires_after(std::chrono::microseconds(wait));
    c->timer.async_wait([send](asio::error_code) { send(); });
  }

  void read_response(const std::shared_ptr<Conn>& c) {
    asio::async_read_until(c->socket, asio::dynamic_buffer(c->in), "\r\n\r\n",
                           [this, c](asio::error_code e, std::size_t head) {
                             if (e) return;
                             std::int64_t length = 0;
                             auto p = c->in.find("Content-Length: ");
                             if (p == std::string::npos) p = c->in.find("content-length: ");
                             if (p != std::string::npos && p < head)
                               length = std::strtoll(c->in.c_str() + p + 16, nullptr, 10);
                             if (c->in.compare(0, 12, "HTTP/1.1 202") == 0) ++accepted;
                             const std::size_t total = head + static_cast<std::size_t>(length);
                             asio::async_read(c->socket, asio::dynamic_buffer(c->in),
                                              asio::transfer_exactly(total > c->in.size()
                                                                         ? total - c->in.size()
                                                                         : 0),
                                              [this, c, total](asio::error_code e2, std::size_t) {
                                                if (e2) return;
                                                c->in.erase(0, total);
                                                ++answered;
                                                answer_latency_us.push_back(now_us() - c->when_us);
                                                c->busy = false;
                                                next(c);
                                              });
                           });
  }

  asio::io_context& io_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::deque<Item> queue_;
};

// ---- the run ---------------------------------------------------------------------------

struct Options {
  std::string server_bin;
  int port = 0;
  int server_pid = 0;
  int server_threads = 0;
  int connections = 2000;
  int idle_connections = 0;  // extra idle-only run for RSS per connection (0: skip)
  int burst_messages = 200;
  int follower_messages = 50;  // publishes to the followers of one topic (every client)
  int paced_rate = 10, paced_seconds = 5;
  int unicast_rate = 5000, unicast_seconds = 5;
  int http_connections = 8;  // keep-alive publish connections, one request in flight each
  // Multi-instance runs (bench/cluster.sh): publish through another instance than the one
  // the clients are on, and count the Redis commands each notification costs.
  int publish_port = 0;  // 0: the server's own port
  int publish_pid = 0;   // its CPU is reported too
  int redis_port = 0;    // 0: no Redis statistics
  std::string scenarios = "burst,paced,unicast";
  std::string trace;  // file for one line per delivery: scheduled time, latency (us), k
  int read_every_ms = 0;  // 0: read the clients' sockets as soon as they are ready
  // An inbox ack after every N-th seq (cumulative). 1: an ack per notification, as the JS
  // client sends when notifications are sparse (it batches only within its ackDelay).
  int ack_every = 16;
  // The server's --store: memory (delivery alone), or sqlite (herald-server's default: a new
  // database in a directory of its own under $TMPDIR, removed after the run).
  std::string store = "memory";
  std::string store_dir;  // the sqlite run's directory
};

// Calls of one Redis command so far (INFO commandstats), or -1 if Redis did not answer.
long long redis_calls(int port, const std::string& command) {
  asio::io_context io;
  tcp::socket s(io);
  asio::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return -1;
  asio::write(s, asio::buffer(std::string("INFO commandstats\r\n")), ec);
  std::string reply;
  char buf[4096];
  // A bulk string: "$<n>\r\n" then n bytes; read until the whole of it arrived.
  while (!ec) {
    reply.append(buf, s.read_some(asio::buffer(buf), ec));
    const std::size_t eol = reply.find("\r\n");
    if (eol != std::string::npos && reply.size() >= eol + 2 + std::stoul(reply.substr(1, eol - 1)))
      break;
  }
  const std::string key = "cmdstat_" + command + ":calls=";
  const std::size_t at = reply.find(key);
  return at == std::string::npos ? 0 : std::atoll(reply.c_str() + at + key.size());
}

int free_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

int spawn_server(const Options& o) {
  const int pid = fork();
  if (pid == 0) {
    // --rate-limit 0: every publish comes without a sender from one address (one bucket).
    // --store memory by default: the figures measure delivery (and no ./herald.db is left).
    const std::string store =
        o.store == "sqlite" ? "sqlite:" + o.store_dir + "/herald.db" : std::string("memory");
    std::vector<std::string> args = {
        o.server_bin,  "--dev-auth", "--port",       std::to_string(o.port),
        "--log-level", "warn",       "--rate-limit", "0",
        "--store",     store};
    if (o.server_threads > 0) {
      args.push_back("--threads");
      args.push_back(std::to_string(o.server_threads));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

bool wait_until(asio::io_context& io, std::int64_t timeout_us, const std::function<bool()>& done) {
  const std::int64_t deadline = now_us() + timeout_us;
  io.restart();
  while (!done() && now_us() < deadline) io.run_one_for(std::chrono::milliseconds(20));
  return done();
}

// One scenario's line: what the clients saw, and the server's CPU over the scenario.
void report_latency(const char* name, Tally& t, std::size_t expected, CpuTimes cpu,
                    CpuTimes generator, double steal_share, double secs) {
  const herald::bench::LatencySummary l = herald::bench::summarize(t.latency_us);
  std::uint64_t lost = expected > t.deliveries ? expected - t.deliveries : 0;
  std::printf(
      "%s: %llu deliveries in %.3f s = %.0f/s; latency p50 %.2f ms p99 %.2f ms max %.2f ms; "
      "lost %llu, duplicates %llu, gaps %llu; server CPU %.3f s (user %.3f, system %.3f) "
      "= %.2f us/delivery; generator CPU %.2f us/delivery; machine steal %.0f%%\n",
      name, static_cast<unsigned long long>(t.deliveries), secs,
      static_cast<double>(t.deliveries) / secs, l.p50_ms, l.p99_ms, l.max_ms,
      static_cast<unsigned long long>(lost), static_cast<unsigned long long>(t.duplicates),
      static_cast<unsigned long long>(t.gaps), cpu.total(), cpu.user, cpu.system,
      t.deliveries ? 1e6 * cpu.total() / static_cast<double>(t.deliveries) : 0.0,
      t.deliveries ? 1e6 * generator.total() / static_cast<double>(t.deliveries) : 0.0,
      100 * steal_share);
}

std::string body_for(const char* to, std::size_t k, std::int64_t scheduled) {
  return std::string("{\"to\":") + to + ",\"type\":\"bench\",\"data\":{\"k\":" + std::to_string(k) +
         ",\"t\":" + std::to_string(scheduled) + "}}";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") o.server_bin = v;
    else if (k == "--port") o.port = std::stoi(v);
    else if (k == "--server-pid") o.server_pid = std::stoi(v);
    else if (k == "--server-threads") o.server_threads = std::stoi(v);
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--idle-connections") o.idle_connections = std::stoi(v);
    else if (k == "--burst-messages") o.burst_messages = std::stoi(v);
    else if (k == "--follower-messages")
      o.follower_messages = std::stoi(v);
    else if (k == "--paced-rate") o.paced_rate = std::stoi(v);
    else if (k == "--paced-seconds") o.paced_seconds = std::stoi(v);
    else if (k == "--unicast-rate") o.unicast_rate = std::stoi(v);
    else if (k == "--unicast-seconds") o.unicast_seconds = std::stoi(v);
    else if (k == "--publish-port") o.publish_port = std::stoi(v);
    else if (k == "--publish-pid") o.publish_pid = std::stoi(v);
    else if (k == "--redis-port") o.redis_port = std::stoi(v);
    else if (k == "--scenarios") o.scenarios = v;
    else if (k == "--http-connections") o.http_connections = std::stoi(v);
    else if (k == "--trace") o.trace = v;
    else if (k == "--read-every-ms")
      o.read_every_ms = std::stoi(v);
    else if (k == "--ack-every")
      o.ack_every = std::max(1, std::stoi(v));
    else if (k == "--store" && (v == "memory" || v == "sqlite"))
      o.store = v;
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  std::FILE* trace = nullptr;
  if (!o.trace.empty() && !(trace = std::fopen(o.trace.c_str(), "w")))
    return std::fprintf(stderr, "cannot write %s\n", o.trace.c_str()), 2;
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  signal(SIGPIPE, SIG_IGN);

  if (!o.server_bin.empty()) {
    if (o.store == "sqlite") {
      const char* tmp = std::getenv("TMPDIR");
      std::string dir =
          std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ws_load.XXXXXX";
      if (mkdtemp(dir.data()) == nullptr)
        return std::fprintf(stderr, "cannot make %s\n", dir.c_str()), 2;
      o.store_dir = dir;
    }
    if (o.port == 0) o.port = free_port();
    o.server_pid = spawn_server(o);
  }
  if (o.port == 0 || o.server_pid == 0)
    return std::fprintf(stderr, "give --server BIN, or --port P and --server-pid PID\n"), 2;
  asio::io_context io;
  const tcp::endpoint server(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(o.port));
  {  // wait (bounded) until the server accepts connections
    bool up = false;
    for (int attempt = 0; attempt < 200 && !up; ++attempt) {
      tcp::socket probe(io);
      asio::error_code ec;
      probe.connect(server, ec);
      up = !ec;
      if (!up) {
        asio::steady_timer t(io, std::chrono::milliseconds(50));
        t.wait(ec);
      }
    }
    if (!up) return std::fprintf(stderr, "server not reachable on port %d\n", o.port), 1;
  }
  std::printf("server pid %d port %d; RSS %ld KiB\n", o.server_pid, o.port, proc_rss_kib(o.server_pid));

  Tally tally, idle_tally;
  tally.trace = trace;
  tally.ack_every = o.ack_every;
  Receiver receiver(io, std::chrono::milliseconds(o.read_every_ms));
  auto open_clients = [&](int n, const std::string& prefix, Tally& into) {
    std::vector<std::shared_ptr<WsClient>> clients;
    for (int i = 0; i < n; ++i) {
      // Source addresses 127.0.0.1 .. 127.0.0.250 so one host can exceed 64K connections.
      auto source = asio::ip::make_address_v4(0x7f000001u + static_cast<unsigned>(i % 250));
      auto c = std::make_shared<WsClient>(io, receiver, into, prefix + std::to_string(i));
      c->start(server, source);
      clients.push_back(c);
    }
    wait_until(io, 120'000'000, [&] {
      return std::all_of(clients.begin(), clients.end(),
                         [](auto& c) { return c->welcomed() || c->failed(); });
    });
    std::size_t ok = std::count_if(clients.begin(), clients.end(), [](auto& c) { return c->welcomed(); });
    return std::make_pair(clients, ok);
  };

  if (o.idle_connections > 0) {
    // In waves: herald-server answers 503 to connections beyond --max-http-connections
    // (10,000) that have not upgraded yet, which 15,000 connects at once on two vCPUs reach.
    constexpr int kWave = 4000;
    const long before = proc_rss_kib(o.server_pid);
    std::vector<std::shared_ptr<WsClient>> idle;
    std::size_t ok = 0;
    for (int opened = 0; opened < o.idle_connections; opened += kWave) {
      auto [wave, wave_ok] = open_clients(std::min(kWave, o.idle_connections - opened),
                                          "idle" + std::to_string(opened) + "-", idle_tally);
      idle.insert(idle.end(), wave.begin(), wave.end());
      ok += wave_ok;
    }
    const long after = proc_rss_kib(o.server_pid);
    std::printf("idle: %zu/%d connections open; server RSS +%ld KiB = %.0f bytes per connection\n",
                ok, o.idle_connections, after - before,
                ok ? 1024.0 * static_cast<double>(after - before) / static_cast<double>(ok) : 0.0);
    for (auto& c : idle) c->close();  // the load phases count only their own clients
  }

  const long rss_before = proc_rss_kib(o.server_pid);
  const CpuMeter connect_cpu(o.server_pid);
  auto [clients, ok] = open_clients(o.connections, "u", tally);
  const CpuTimes connect_used = connect_cpu.used();
  const long rss_after = proc_rss_kib(o.server_pid);
  std::printf("connected: %zu/%d; server RSS +%ld KiB = %.0f bytes per connection\n", ok,
              o.connections, rss_after - rss_before,
              ok ? 1024.0 * static_cast<double>(rss_after - rss_before) / static_cast<double>(ok) : 0.0);
  // Accept, handshake, authentication, inbox open, welcome, presence: what a reconnecting
  // crowd costs the server per client.
  if (ok > 0) {
    const double per = 1e6 / static_cast<double>(ok);
    std::printf("connect: server CPU %.1f us per connection (user %.1f, system %.1f)\n",
                connect_used.total() * per, connect_used.user * per, connect_used.system * per);
  }
  const tcp::endpoint publish_to(asio::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(o.publish_port ? o.publish_port : o.port));
  Publisher pub(io, publish_to, o.http_connections);
  auto wants = [&](const char* scenario) { return o.scenarios.find(scenario) != std::string::npos; };

  // Broadcast burst: every publish scheduled now, as fast as the server takes them.
  if (wants("burst")) {
    tally.reset(o.burst_messages, ok * static_cast<std::size_t>(o.burst_messages));
    const std::size_t answered_before = pub.answered;
    const CpuMeter meter(o.server_pid), self(getpid());
    const std::int64_t t0 = now_us();
    for (int k = 0; k < o.burst_messages; ++k) pub.post_at(t0, body_for("{\"broadcast\":true}", k, t0));
    pub.pump();
    const std::size_t expected = ok * static_cast<std::size_t>(o.burst_messages);
    // Every delivery and every answer: an answer left over would count in the next scenario.
    wait_until(io, 60'000'000, [&] {
      return tally.deliveries >= expected &&
             pub.answered - answered_before >= static_cast<std::size_t>(o.burst_messages);
    });
    report_latency("broadcast burst", tally, expected, meter.used(), self.used(), meter.steal_share(),
                   (tally.last_delivery_us - t0) / 1e6);
  }
  // Follower fan-out (not in the default scenarios): every client's user follows one topic
  // (a stored subscription), then publishes to its followers, all scheduled at once: one
  // inbox entry per follower and publish, delivered and acked like any inbox entry.
  if (wants("followers")) {
    const std::size_t subscribed_before = pub.answered;
    const std::int64_t now = now_us();
    for (int i = 0; i < o.connections; ++i)
      pub.request_at(now, "PUT", "/users/u" + std::to_string(i) + "/subscriptions/bench-star", "");
    pub.pump();
    wait_until(io, 60'000'000, [&] {
      return pub.answered - subscribed_before >= static_cast<std::size_t>(o.connections);
    });
    const int n = o.follower_messages;
    tally.reset(n, ok * static_cast<std::size_t>(n));
    const std::size_t answered_before = pub.answered;
    const CpuMeter meter(o.server_pid), self(getpid());
    const std::int64_t t0 = now_us();
    for (int k = 0; k < n; ++k)
      pub.post_at(t0, body_for("{\"followersOf\":\"bench-star\"}", k, t0));
    pub.pump();
    const std::size_t expected = ok * static_cast<std::size_t>(n);
    wait_until(io, 60'000'000, [&] {
      return tally.deliveries >= expected &&
             pub.answered - answered_before >= static_cast<std::size_t>(n);
    });
    report_latency("follower fan-out", tally, expected, meter.used(), self.used(),
                   meter.steal_share(), (tally.last_delivery_us - t0) / 1e6);
  }
  // Paced broadcast.
  if (wants("paced")) {
    const int n = o.paced_rate * o.paced_seconds;
    tally.reset(n, ok * static_cast<std::size_t>(n));
    const std::size_t answered_before = pub.answered;
    const CpuMeter meter(o.server_pid), self(getpid());
    const std::int64_t t0 = now_us() + 10'000;
    for (int k = 0; k < n; ++k) {
      const std::int64_t at = t0 + static_cast<std::int64_t>(k) * 1'000'000 / o.paced_rate;
      pub.post_at(at, body_for("{\"broadcast\":true}", k, at));
    }
    pub.pump();
    const std::size_t expected = ok * static_cast<std::size_t>(n);
    wait_until(io, (o.paced_seconds + 30) * 1'000'000LL, [&] {
      return tally.deliveries >= expected &&
             pub.answered - answered_before >= static_cast<std::size_t>(n);
    });
    report_latency("paced broadcast", tally, expected, meter.used(), self.used(), meter.steal_share(),
                   (tally.last_delivery_us - t0) / 1e6);
  }
  // Unicast at a fixed rate to random connected users.
  if (wants("unicast")) {
    const int n = o.unicast_rate * o.unicast_seconds;
    tally.reset(n, static_cast<std::size_t>(n));
    const std::size_t accepted_before = pub.accepted, answered_before = pub.answered;
    pub.answer_latency_us.clear();
    std::mt19937 rng(7);
    const long long publish0 = o.redis_port ? redis_calls(o.redis_port, "publish") : 0;
    const long long evalsha0 = o.redis_port ? redis_calls(o.redis_port, "evalsha") : 0;
    std::optional<CpuMeter> publisher;  // the instance publishes go to, when it is another
    if (o.publish_pid) publisher.emplace(o.publish_pid);
    const CpuMeter meter(o.server_pid), self(getpid());
    const std::int64_t t0 = now_us() + 10'000;
    for (int k = 0; k < n; ++k) {
      const std::int64_t at = t0 + static_cast<std::int64_t>(k) * 1'000'000 / o.unicast_rate;
      const std::string to = "{\"users\":[\"u" + std::to_string(rng() % std::max<std::size_t>(1, ok)) + "\"]}";
      pub.post_at(at, body_for(to.c_str(), k, at));
    }
    pub.pump();
    // Every delivery and every answer: a server may send the frame before the 202.
    wait_until(io, (o.unicast_seconds + 30) * 1'000'000LL, [&] {
      return tally.deliveries >= static_cast<std::size_t>(n) &&
             pub.answered - answered_before >= static_cast<std::size_t>(n);
    });
    const CpuTimes cpu = meter.used();
    report_latency("unicast", tally, n, cpu, self.used(), meter.steal_share(),
                   (tally.last_delivery_us - t0) / 1e6);
    std::printf(
        "unicast: %zu/%d publishes accepted; server CPU %.1f us per publish (user %.1f, "
        "system %.1f)\n",
        pub.accepted - accepted_before, n, 1e6 * cpu.total() / n, 1e6 * cpu.user / n,
        1e6 * cpu.system / n);
    // The publisher's side alone: the answer leaves once the notification is stored.
    const herald::bench::LatencySummary answers = herald::bench::summarize(pub.answer_latency_us);
    std::printf("unicast: answers (202) p50 %.2f ms p99 %.2f ms max %.2f ms\n", answers.p50_ms,
                answers.p99_ms, answers.max_ms);
    if (publisher) {
      const CpuTimes publishing = publisher->used();
      std::printf("unicast: publishing instance CPU %.1f us per publish (user %.1f, system %.1f)\n",
                  1e6 * publishing.total() / n, 1e6 * publishing.user / n,
                  1e6 * publishing.system / n);
    }
    if (o.redis_port) {
      // Includes each broker's liveness ping (one PUBLISH per second per instance).
      const long long publishes = redis_calls(o.redis_port, "publish") - publish0;
      const long long lookups = redis_calls(o.redis_port, "evalsha") - evalsha0;
      std::printf("unicast: Redis PUBLISH %lld = %.3f per notification; registry scripts "
                  "(EVALSHA) %lld = %.3f per notification\n",
                  publishes, static_cast<double>(publishes) / n, lookups,
                  static_cast<double>(lookups) / n);
    }
  }

  if (!o.server_bin.empty()) {
    kill(o.server_pid, SIGTERM);
    int status = 0;
    waitpid(o.server_pid, &status, 0);
    std::printf("server exited with status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (!o.store_dir.empty()) {
      for (const char* f : {"/herald.db", "/herald.db-wal", "/herald.db-shm", "/herald.db-lock"})
        std::remove((o.store_dir + f).c_str());
      rmdir(o.store_dir.c_str());
    }
  }
  if (trace) std::fclose(trace);
  return 0;
}
