// herald_chaos: a fault run with a loss count. Starts a private redis-server, a private
// PostgreSQL and N herald-server instances on both (loopback only), connects M clients that
// ack and resume, publishes unicast notifications at a steady rate while it kills and
// restarts every server in turn, drains, and prints what was answered and what arrived.
//
//   herald_chaos [--duration 90] [--instances 3] [--clients 100] [--rate 200] [--check]
//                [--ack-timeout 1] [--fault-every 8] [--down 2] [--drain 60] [--seed 1]
//                [--resume since|cursor] [--faults redis,postgres,kill,term]
//                [--server build/examples/server/herald-server]
//
// Exit code: 2 if a server could not be set up or restarted; with --check, 1 if the run lost,
// reordered or doubled a notification, a server crashed, or a SIGTERM did not end in a
// graceful exit (Report::failed); else 0. The counters are explained in
// docs/performance.md, "Chaos run".
#include <sys/resource.h>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "cluster.hpp"
#include "faults.hpp"
#include "http_pool.hpp"
#include "inbox_client.hpp"
#include "ledger.hpp"
#include "publisher.hpp"
#include "report.hpp"

namespace {

using namespace herald::chaos;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Options {
  double duration_s = 90;
  std::size_t instances = 3, clients = 100;
  double rate = 200;
  bool check = false;
  std::string ack_timeout = "1";
  std::string resume = "since";  // or "cursor"
  std::vector<FaultKind> faults = FaultPlan{}.kinds;
  double fault_every_s = 8, down_s = 2, drain_s = 60;
  std::uint32_t seed = 1;
  std::string server = HERALD_SERVER_BINARY;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "herald_chaos: %s\nusage: herald_chaos [--duration S] [--instances 2..5] "
               "[--clients N] [--rate R] [--check] [--ack-timeout S] [--fault-every S] "
               "[--down S] [--drain S] [--resume since|cursor] [--faults redis,postgres,kill,term] "
               "[--seed N] [--server PATH]\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string, std::function<void(const std::string&)>> set{
      {"--duration", [&](const std::string& v) { o.duration_s = std::stod(v); }},
      {"--instances", [&](const std::string& v) { o.instances = std::stoul(v); }},
      {"--clients", [&](const std::string& v) { o.clients = std::stoul(v); }},
      {"--rate", [&](const std::string& v) { o.rate = std::stod(v); }},
      {"--ack-timeout", [&](const std::string& v) { o.ack_timeout = v; }},
      {"--fault-every", [&](const std::string& v) { o.fault_every_s = std::stod(v); }},
      {"--down", [&](const std::string& v) { o.down_s = std::stod(v); }},
      {"--drain", [&](const std::string& v) { o.drain_s = std::stod(v); }},
      {"--resume", [&](const std::string& v) { o.resume = v; }},
      {"--faults", [&](const std::string& v) { o.faults = parse_fault_kinds(v); }},
      {"--seed", [&](const std::string& v) { o.seed = static_cast<std::uint32_t>(std::stoul(v)); }},
      {"--server", [&](const std::string& v) { o.server = v; }},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--check") {
      o.check = true;
      continue;
    }
    const auto setter = set.find(flag);
    if (setter == set.end()) usage("unknown option " + flag);
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string v = argv[++i];
    try {
      setter->second(v);
    } catch (const std::logic_error&) {
      usage("bad value for " + flag + ": " + v);
    }
  }
  if (o.instances < 2 || o.instances > 5) usage("--instances must be 2..5");
  if (o.resume != "since" && o.resume != "cursor") usage("--resume must be since or cursor");
  if (o.clients < 1 || o.rate <= 0 || o.duration_s <= 0 || o.fault_every_s <= 0)
    usage("--clients, --rate, --duration and --fault-every must be positive");
  return o;
}

milliseconds ms(double seconds_) {
  return milliseconds(static_cast<long long>(seconds_ * 1000));
}

std::string decimal(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

void say(const std::string& line) {
  std::printf("chaos: %s\n", line.c_str());
  std::fflush(stdout);
}

/// Runs `f` on the I/O thread and returns its result (the ledger and the clients live
/// there). Throws if the I/O thread does not get to it within 10 s.
template <class T>
T on_io(asio::io_context& io, std::function<T()> f) {
  auto done = std::make_shared<std::promise<T>>();
  auto result = done->get_future();
  asio::post(io, [done, f] { done->set_value(f()); });
  if (result.wait_for(seconds(10)) != std::future_status::ready)
    throw std::runtime_error("the I/O thread did not answer within 10 s");
  return result.get();
}

/// Polls `condition` on the I/O thread until it holds or `timeout` passes; whether it held.
bool wait_on_io(asio::io_context& io, milliseconds timeout, std::function<bool()> condition) {
  const auto until = Clock::now() + timeout;
  for (;;) {
    if (on_io(io, condition)) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(100));  // polling interval of a bounded wait
  }
}

/// The index (in `ports`) of the instance with the most sessions of `clients`.
std::size_t busiest_instance(const std::vector<std::uint16_t>& ports,
                             const std::vector<std::shared_ptr<InboxClient>>& clients) {
  std::vector<std::size_t> sessions(ports.size());
  for (const auto& c : clients)
    for (std::size_t i = 0; i < ports.size(); ++i)
      if (c->port() == ports[i]) ++sessions[i];
  return static_cast<std::size_t>(std::max_element(sessions.begin(), sessions.end()) -
                                  sessions.begin());
}

void raise_descriptor_limit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

/// The run's I/O side (clients, producer, ledger on one I/O thread) driven in phases from
/// the main thread, which also runs the fault schedule.
class ChaosRun {
 public:
  ChaosRun(const Options& o, Cluster& cluster)
      : o_(o),
        cluster_(cluster),
        ports_(cluster.instance_ports()),
        work_(asio::make_work_guard(io_)),
        ledger_(o.clients),
        http_(io_, seconds(10)),
        publisher_(io_, ledger_, http_, PublisherOptions{ports_, o.clients, o.rate}, o.seed) {
    const ClientSetup setup{ports_, o.resume == "cursor"};
    for (std::size_t i = 0; i < o.clients; ++i) {
      // Sources 127.0.0.2 … : the clients are not one address; the producer is 127.0.0.1.
      const auto source = asio::ip::make_address_v4(0x7f000002u + static_cast<unsigned>(i % 200));
      clients_.push_back(std::make_shared<InboxClient>(io_, ledger_, i, setup, source,
                                                       o.seed * 7919u + static_cast<unsigned>(i)));
    }
    io_thread_ = std::thread([this] { io_.run(); });
  }
  ~ChaosRun() {
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  /// Starts the clients and waits (bounded) until each has a session.
  void connect_clients() {
    on_io<bool>(io_, [&] {
      for (auto& c : clients_) c->start(milliseconds(1000));
      return true;
    });
    const bool all = wait_on_io(io_, seconds(30), [&] {
      return std::all_of(clients_.begin(), clients_.end(), [](auto& c) { return c->connected(); });
    });
    say(std::to_string(o_.clients) + " clients " + (all ? "connected" : "NOT all connected") +
        "; publishing " + decimal(o_.rate) + "/s for " + decimal(o_.duration_s) + " s");
  }

  /// Publishes for the duration while the faults run, then waits (bounded) for the last
  /// answers and retries.
  FaultLog publish_under_faults() {
    const auto start = Clock::now();
    const auto publish_until = start + ms(o_.duration_s);
    const auto retry_until = publish_until + seconds(20);
    on_io<bool>(io_, [&] {
      ledger_.set_origin(start);
      publisher_.start(start, publish_until, retry_until);
      return true;
    });
    const auto busiest = [this] {
      return on_io<std::size_t>(io_, [this] { return busiest_instance(ports_, clients_); });
    };
    FaultSchedule faults(cluster_,
                         FaultPlan{o_.faults, seconds(5), ms(o_.fault_every_s), ms(o_.down_s)}, say,
                         busiest);
    faults.run(start, publish_until);
    std::this_thread::sleep_until(publish_until);  // the publishing phase's end
    say("publishing ended; waiting for the last answers and retries");
    wait_on_io(io_,
               std::chrono::duration_cast<milliseconds>(retry_until - Clock::now()) + seconds(15),
               [&] { return publisher_.finished(); });
    drain();
    faults.collect_crashes();  // those during the drain too
    return faults.log();
  }

  /// Stops the clients; what they received and what was answered.
  Report finish(std::uint64_t& late) {
    late = on_io<std::uint64_t>(io_, [&] { return publisher_.late(); });
    return on_io<Report>(io_, [&] {
      for (auto& c : clients_) c->stop();
      return ledger_.report();
    });
  }

 private:
  // Waits (bounded by --drain) until every publish answered 202 was received.
  void drain() {
    const auto drain_start = Clock::now();
    const bool drained =
        wait_on_io(io_, ms(o_.drain_s), [&] { return ledger_.undelivered() == 0; });
    say(std::string(drained ? "drained" : "drain timed out") + " after " +
        decimal(std::chrono::duration<double>(Clock::now() - drain_start).count()) + " s");
  }

  const Options& o_;
  Cluster& cluster_;
  const std::vector<std::uint16_t> ports_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Ledger ledger_;
  HttpPool http_;
  Publisher publisher_;
  std::vector<std::shared_ptr<InboxClient>> clients_;
  std::thread io_thread_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  raise_descriptor_limit();
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Cluster cluster(ClusterOptions{o.server, o.instances, o.ack_timeout});
    say(cluster.describe());
    ChaosRun run(o, cluster);
    run.connect_clients();
    const FaultLog faults = run.publish_under_faults();
    std::uint64_t late = 0;
    const Report report = run.finish(late);
    const RunSummary summary{o.duration_s, o.instances, o.clients, o.rate, late, faults};
    print_report(summary, report);
    const bool failed = run_failed(summary, report);
    std::printf("result: %s\n", failed ? "FAIL" : "PASS");
    return o.check && failed ? 1 : 0;
  } catch (const std::exception& e) {  // a server could not be set up or restarted
    std::fprintf(stderr, "herald_chaos: %s\n", e.what());
    return 2;
  }
}
