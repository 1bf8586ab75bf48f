// The floor of this machine for herald_ws_load's paced-broadcast and unicast scenarios: the
// same sockets and the same traffic (N receiving connections from 127.0.0.x, keep-alive
// request connections with one request in flight each, open loop) served by a minimal
// epoll loop that speaks no protocol at all: a request of a POST's size in, an answer of a
// 202's size out, and a record of a notification frame's size written to each recipient.
// Whatever a real server adds (HTTP and WebSocket parsing, JSON, the engine) comes on top.
// Server and generator are threads of this process, so they share the cores as
// herald-server and herald_ws_load do. Prints figures; asserts nothing; bounded in time.
//
//   herald_loopback_floor [--connections 2000] [--server-threads 1] [--http-connections 8]
//                         [--scenarios paced,unicast] [--paced-rate 10] [--paced-seconds 5]
//                         [--unicast-rate 5000] [--unicast-seconds 5] [--work-us 0]
//
// --work-us N spins N microseconds (CPU only, no memory touched) per request before
// answering, as a real server computes before it writes: it shows what this machine charges
// on top of the work itself once answers come later than the generator can stay awake.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "measure.hpp"

namespace {

// Sizes of what herald_ws_load and herald-server exchange in the unicast scenario.
constexpr std::size_t kRequest = 200;  // POST /notify with its headers and body
constexpr std::size_t kAnswer = 120;   // HTTP/1.1 202 with the id
constexpr std::size_t kFrame = 170;    // a notification frame

struct Record {  // the first bytes of a request and of a frame
  std::int64_t scheduled_us;
  std::int64_t k;
  std::int32_t target;  // recipient index, -1: everyone
};

using herald::bench::CpuTimes;
using herald::bench::now_us;
using herald::bench::thread_cpu;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

void set_nonblocking_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) die("fcntl");
}

struct Options {
  int connections = 2000;
  int server_threads = 1;
  int http_connections = 8;
  int paced_rate = 10, paced_seconds = 5;
  int unicast_rate = 5000, unicast_seconds = 5;
  int work_us = 0;
  std::string scenarios = "paced,unicast";
};

// ---- the server: thread 0 reads requests and answers them; frames go out from the thread
// that owns the recipient's socket (socket i belongs to thread i % threads), as herald's
// lanes do. Other threads are handed their work through a queue and an eventfd.

class FloorServer {
 public:
  FloorServer(std::vector<int> recipients, std::vector<int> requests, int threads, int work_us)
      : recipients_(std::move(recipients)),
        requests_(std::move(requests)),
        shards_(threads),
        work_us_(work_us) {
    for (auto& s : shards_) {
      s.epoll = epoll_create1(0);
      s.wake = eventfd(0, EFD_NONBLOCK);
      epoll_event ev{EPOLLIN, {}};
      ev.data.fd = s.wake;
      epoll_ctl(s.epoll, EPOLL_CTL_ADD, s.wake, &ev);
    }
    for (int fd : requests_) {
      epoll_event ev{EPOLLIN, {}};
      ev.data.fd = fd;
      epoll_ctl(shards_[0].epoll, EPOLL_CTL_ADD, fd, &ev);
    }
  }
  ~FloorServer() {
    for (auto& s : shards_) {
      close(s.epoll);
      close(s.wake);
    }
  }

  void start() {
    stop_ = false;
    for (std::size_t i = 0; i < shards_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
  }
  // Stops the threads; returns the CPU time they used since start().
  CpuTimes stop() {
    stop_ = true;
    for (auto& s : shards_) {
      const std::uint64_t one = 1;
      if (write(s.wake, &one, sizeof one) < 0) die("eventfd write");
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    CpuTimes cpu;
    for (auto& s : shards_) cpu = cpu + s.cpu;
    return cpu;
  }
  std::uint64_t short_writes() const { return short_writes_; }

 private:
  struct Shard {
    int epoll = -1, wake = -1;
    std::mutex mutex;
    std::vector<Record> inbox;  // under mutex
    CpuTimes cpu;               // the thread's, written when it ends
  };

  void run(std::size_t index) {
    Shard& shard = shards_[index];
    std::vector<Record> work;
    std::vector<char> in(1 << 16);
    std::vector<std::size_t> pending(requests_.size(), 0);  // bytes of a partial request
    std::vector<std::vector<char>> partial(requests_.size(), std::vector<char>(kRequest));
    epoll_event events[64];
    while (!stop_) {
      const int n = epoll_wait(shard.epoll, events, 64, -1);
      for (int e = 0; e < n; ++e) {
        const int fd = events[e].data.fd;
        if (fd == shard.wake) {
          std::uint64_t count = 0;
          if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN) die("eventfd read");
          {
            std::lock_guard<std::mutex> lock(shard.mutex);
            work.swap(shard.inbox);
          }
          for (const Record& r : work) deliver(index, r);
          work.clear();
          continue;
        }
        const auto conn = static_cast<std::size_t>(
            std::find(requests_.begin(), requests_.end(), fd) - requests_.begin());
        const ssize_t got = recv(fd, in.data(), in.size(), 0);
        if (got <= 0) continue;
        for (ssize_t at = 0; at < got;) {
          const std::size_t take =
              std::min<std::size_t>(kRequest - pending[conn], static_cast<std::size_t>(got - at));
          std::memcpy(partial[conn].data() + pending[conn], in.data() + at, take);
          pending[conn] += take;
          at += static_cast<ssize_t>(take);
          if (pending[conn] < kRequest) break;
          pending[conn] = 0;
          Record r{};
          std::memcpy(&r, partial[conn].data(), sizeof r);
          compute();
          answer(fd);
          route(r);
        }
      }
    }
    shard.cpu = thread_cpu();
  }

  // --work-us: the computing a real server does per request, without touching memory.
  void compute() const {
    if (work_us_ <= 0) return;
    const std::int64_t until = now_us() + work_us_;
    while (now_us() < until) {
    }
  }

  void answer(int fd) {
    static const std::string text(kAnswer, 'a');
    if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
      ++short_writes_;
  }

  // On thread 0: hands the record to every shard that has a recipient of it.
  void route(const Record& r) {
    for (std::size_t i = 1; i < shards_.size(); ++i) {
      if (r.target >= 0 && static_cast<std::size_t>(r.target) % shards_.size() != i) continue;
      {
        std::lock_guard<std::mutex> lock(shards_[i].mutex);
        shards_[i].inbox.push_back(r);
      }
      const std::uint64_t one = 1;
      if (write(shards_[i].wake, &one, sizeof one) < 0) die("eventfd write");
    }
    if (r.target < 0 || static_cast<std::size_t>(r.target) % shards_.size() == 0) deliver(0, r);
  }

  void deliver(std::size_t shard, const Record& r) {
    char frame[kFrame] = {};
    std::memcpy(frame, &r, sizeof r);
    auto write_to = [&](std::size_t i) {
      if (send(recipients_[i], frame, kFrame, MSG_NOSIGNAL) != static_cast<ssize_t>(kFrame))
        ++short_writes_;
    };
    if (r.target >= 0) return write_to(static_cast<std::size_t>(r.target));
    for (std::size_t i = shard; i < recipients_.size(); i += shards_.size()) write_to(i);
  }

  std::vector<int> recipients_, requests_;
  std::vector<Shard> shards_;
  const int work_us_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> short_writes_{0};
};

// ---- the generator: one thread, like herald_ws_load --------------------------------------

struct Phase {
  std::vector<std::int64_t> latency_us;
  std::uint64_t deliveries = 0;
};

class Generator {
 public:
  Generator(std::vector<int> receivers, std::vector<int> requesters)
      : receivers_(std::move(receivers)), requesters_(std::move(requesters)),
        partial_(receivers_.size(), 0), buffered_(receivers_.size()) {
    epoll_ = epoll_create1(0);
    for (std::size_t i = 0; i < receivers_.size(); ++i) add(receivers_[i], i);
    for (std::size_t i = 0; i < requesters_.size(); ++i) add(requesters_[i], kRequester + i);
  }
  ~Generator() { close(epoll_); }

  // Publishes `count` records at `rate` per second (targets from `target`), reads until every
  // expected delivery arrived or the deadline; returns what arrived.
  template <class Target>
  Phase run(int count, int rate, std::size_t expected, Target target) {
    Phase phase;
    phase.latency_us.reserve(expected);
    const std::int64_t t0 = now_us() + 10'000;
    std::deque<Record> queue;
    for (int k = 0; k < count; ++k)
      queue.push_back({t0 + static_cast<std::int64_t>(k) * 1'000'000 / rate, k, target()});
    std::vector<bool> busy(requesters_.size(), false);
    std::vector<std::size_t> answered(requesters_.size(), 0);
    const std::int64_t deadline = t0 + (count / rate + 30) * 1'000'000LL;
    std::vector<char> in(1 << 16);
    epoll_event events[256];
    while (phase.deliveries < expected && now_us() < deadline) {
      const std::int64_t now = now_us();
      for (std::size_t c = 0; c < requesters_.size() && !queue.empty(); ++c) {
        if (busy[c] || queue.front().scheduled_us > now) continue;
        char request[kRequest] = {};
        std::memcpy(request, &queue.front(), sizeof(Record));
        queue.pop_front();
        if (send(requesters_[c], request, kRequest, MSG_NOSIGNAL) != static_cast<ssize_t>(kRequest))
          die("request send");
        busy[c] = true;
      }
      const bool can_send = !queue.empty() && std::find(busy.begin(), busy.end(), false) != busy.end();
      timespec timeout{0, 0};
      const std::int64_t wait = can_send ? std::max<std::int64_t>(0, queue.front().scheduled_us - now) : 20'000;
      timeout.tv_sec = wait / 1'000'000;
      timeout.tv_nsec = (wait % 1'000'000) * 1000;
      const int n = epoll_pwait2(epoll_, events, 256, &timeout, nullptr);
      for (int e = 0; e < n; ++e) {
        const std::uint64_t id = events[e].data.u64;
        if (id >= kRequester) {
          const std::size_t c = id - kRequester;
          const ssize_t got = recv(requesters_[c], in.data(), in.size(), 0);
          if (got <= 0) continue;
          answered[c] += static_cast<std::size_t>(got);
          if (answered[c] >= kAnswer) {
            answered[c] -= kAnswer;
            busy[c] = false;
          }
          continue;
        }
        const ssize_t got = recv(receivers_[id], in.data(), in.size(), 0);
        if (got > 0) consume(id, in.data(), static_cast<std::size_t>(got), phase);
      }
    }
    return phase;
  }

 private:
  static constexpr std::uint64_t kRequester = 1ull << 32;

  void add(int fd, std::uint64_t id) {
    epoll_event ev{EPOLLIN, {}};
    ev.data.u64 = id;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  // Frames may arrive split across reads: the first bytes of a partial one are kept.
  void consume(std::size_t i, const char* data, std::size_t size, Phase& phase) {
    const std::int64_t now = now_us();
    while (size > 0) {
      const std::size_t take = std::min(kFrame - partial_[i], size);
      if (partial_[i] < sizeof(Record))
        std::memcpy(buffered_[i].data() + partial_[i], data,
                    std::min(take, sizeof(Record) - partial_[i]));
      partial_[i] += take;
      data += take;
      size -= take;
      if (partial_[i] < kFrame) break;
      partial_[i] = 0;
      Record r{};
      std::memcpy(&r, buffered_[i].data(), sizeof r);
      phase.latency_us.push_back(now - r.scheduled_us);
      ++phase.deliveries;
    }
  }

  std::vector<int> receivers_, requesters_;
  std::vector<std::size_t> partial_;
  std::vector<std::array<char, sizeof(Record)>> buffered_;
  int epoll_ = -1;
};

// Connects `count` client sockets from 127.0.0.1..250 and accepts each on the server side.
void connect_pairs(int listener, const sockaddr_in& to, int count, std::vector<int>& clients,
                   std::vector<int>& servers) {
  for (int i = 0; i < count; ++i) {
    const int c = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(0x7f000001u + static_cast<unsigned>(i % 250));
    if (bind(c, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) die("bind");
    if (connect(c, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) die("connect");
    const int s = accept(listener, nullptr, nullptr);
    if (s < 0) die("accept");
    set_nonblocking_nodelay(c);
    set_nonblocking_nodelay(s);
    clients.push_back(c);
    servers.push_back(s);
  }
}

void report(const char* name, Phase& p, std::size_t expected, int publishes, CpuTimes server,
            CpuTimes generator, double steal_share) {
  const herald::bench::LatencySummary l = herald::bench::summarize(p.latency_us);
  const double cpu = server.total();
  std::printf(
      "%s: %llu/%zu deliveries; latency p50 %.2f ms p99 %.2f ms max %.2f ms; "
      "server CPU %.3f s (user %.3f, system %.3f) = %.2f us/delivery = %.1f us/publish; "
      "generator CPU %.3f s; machine steal %.0f%%\n",
      name, static_cast<unsigned long long>(p.deliveries), expected, l.p50_ms, l.p99_ms, l.max_ms,
      cpu, server.user, server.system,
      p.deliveries ? 1e6 * cpu / static_cast<double>(p.deliveries) : 0.0, 1e6 * cpu / publishes,
      generator.total(), 100 * steal_share);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--server-threads") o.server_threads = std::max(1, std::stoi(v));
    else if (k == "--work-us") o.work_us = std::max(0, std::stoi(v));
    else if (k == "--http-connections") o.http_connections = std::max(1, std::stoi(v));
    else if (k == "--scenarios") o.scenarios = v;
    else if (k == "--paced-rate") o.paced_rate = std::stoi(v);
    else if (k == "--paced-seconds") o.paced_seconds = std::stoi(v);
    else if (k == "--unicast-rate") o.unicast_rate = std::stoi(v);
    else if (k == "--unicast-seconds") o.unicast_seconds = std::stoi(v);
    else return std::fprintf(stderr, "unknown option %s\n", k.c_str()), 2;
  }
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 512) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die("listen");
  std::vector<int> receivers, recipients, requesters, requests;
  connect_pairs(listener, addr, o.connections, receivers, recipients);
  connect_pairs(listener, addr, o.http_connections, requesters, requests);
  close(listener);
  std::printf("%d connections, %d request connections, %d server thread(s), %d us work per request\n",
              o.connections, o.http_connections, o.server_threads, o.work_us);

  FloorServer server(recipients, requests, o.server_threads, o.work_us);
  Generator generator(receivers, requesters);
  auto phase = [&](const char* name, int count, int rate, std::size_t expected, auto target) {
    server.start();
    const herald::bench::MachineTimes machine0 = herald::bench::machine_times();
    const CpuTimes generator0 = thread_cpu();
    Phase p = generator.run(count, rate, expected, target);
    const CpuTimes generator_cpu = thread_cpu() - generator0;
    const CpuTimes server_cpu = server.stop();
    report(name, p, expected, count, server_cpu, generator_cpu,
           herald::bench::steal_share(machine0, herald::bench::machine_times()));
  };
  if (o.scenarios.find("paced") != std::string::npos) {
    const int n = o.paced_rate * o.paced_seconds;
    phase("paced broadcast", n, o.paced_rate, static_cast<std::size_t>(n) * receivers.size(),
          [] { return -1; });
  }
  if (o.scenarios.find("unicast") != std::string::npos) {
    std::mt19937 rng(7);
    const int n = o.unicast_rate * o.unicast_seconds;
    phase("unicast", n, o.unicast_rate, static_cast<std::size_t>(n),
          [&] { return static_cast<std::int32_t>(rng() % receivers.size()); });
  }
  if (server.short_writes() > 0)
    std::printf("warning: %llu short writes (socket buffers full): figures understate the work\n",
                static_cast<unsigned long long>(server.short_writes()));
  for (int fd : receivers) close(fd);
  for (int fd : recipients) close(fd);
  for (int fd : requesters) close(fd);
  for (int fd : requests) close(fd);
  return 0;
}
