// Engine benchmarks on the in-memory backends and the in-process transport (and the STOMP
// adapter over a second one). Prints figures; asserts nothing. Every loop is bounded.
// Usage: herald_bench [sessions] [publishes] [topics joined by one session]
//                    [STOMP sessions] [STOMP topic publishes]
// Standard headers before Asio: Asio's allocator choice depends on them (see docs/embedding).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <asio.hpp>
#include <herald/herald.hpp>
#include <herald/stomp.hpp>

namespace {

using Clock = std::chrono::steady_clock;

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 10, '\n');
  }
  return 0;
}

// Runs the io_context until `done()` holds (the engine's timers keep it from running out of
// work), giving up after 120 s.
template <class Pred>
void run_until(asio::io_context& io, Pred done) {
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  io.restart();
  while (!done() && Clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(100));
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t sessions = argc > 1 ? std::stoul(argv[1]) : 10'000;
  const std::size_t publishes = argc > 2 ? std::stoul(argv[2]) : 100'000;
  const std::size_t followers = 100'000;
  const std::size_t joins = argc > 3 ? std::stoul(argv[3]) : 50'000;
  const std::size_t stomp_sessions = argc > 4 ? std::stoul(argv[4]) : 2'000;
  const std::size_t stomp_publishes = argc > 5 ? std::stoul(argv[5]) : 200;

  asio::io_context io;
  auto executor = herald::make_asio_executor(io);
  auto store = herald::MemoryStore::create();
  herald::InProcTransport transport;
  herald::InProcTransport stomp_inner;  // section 5: STOMP clients
  auto stomp = herald::stomp::wrap(stomp_inner, executor);
  herald::Backends backends;
  backends.store = store;
  backends.registry = herald::MemoryRegistry::create();
  backends.broker = herald::MemoryBrokerHub::create()->make_broker(executor);
  backends.transports = {&transport, stomp.get()};
  herald::EngineOptions options;
  options.rate_limit.enabled = false;
  options.max_unacked = 1'000'000;  // clients below never ack: measure pushing, not acks
  options.ack_timeout = std::chrono::hours(1);
  options.max_session_queue_bytes = std::size_t{1} << 30;  // replies pile up unread in section 4
  options.max_session_topics = joins;  // section 4 joins them all from one session
  herald::Engine engine(executor, std::move(backends), options);
  bool started = false;
  engine.start([&started](herald::Status s) {
    if (!s.ok()) std::fprintf(stderr, "start: %s\n", s.message().c_str());
    started = s.ok();
  });
  run_until(io, [&] { return started; });
  if (!started) return 1;

  // 1. Memory per idle session (engine + in-process transport + registry entry).
  std::size_t received = 0;
  std::vector<std::shared_ptr<herald::InProcClient>> clients;
  clients.reserve(sessions);
  const long rss_before = rss_kib();
  for (std::size_t i = 0; i < sessions; ++i) {
    auto c = transport.connect({"/ws", {{"userId", "u" + std::to_string(i)}}, {}, "bench"});
    c->on_frame([&received](const std::string&) { ++received; });
    clients.push_back(std::move(c));
  }
  run_until(io, [&] { return received >= sessions; });  // each gets its welcome
  const long rss_after = rss_kib();
  std::printf("sessions: %zu connected, %.0f bytes RSS per idle session\n", sessions,
              1024.0 * static_cast<double>(rss_after - rss_before) / static_cast<double>(sessions));

  // 2. Publish throughput: one recipient each, round-robin over the connected users.
  received = 0;
  std::size_t ok = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < publishes; ++i) {
    herald::PublishRequest r;
    r.target = herald::Target::to_users({"u" + std::to_string(i % sessions)});
    r.type = "bench";
    r.data = R"({"i":1})";
    engine.publish(std::move(r), [&ok](herald::Result<herald::PublishResult> x) { ok += x.ok(); });
    if (i % 1000 == 999) run_until(io, [&] { return ok == i + 1; });  // bounded batches
  }
  run_until(io, [&] { return ok == publishes && received >= publishes; });
  double secs = seconds_since(t0);
  std::printf("publish: %zu ok in %.3f s = %.0f publishes/s, %zu frames delivered\n", ok, secs,
              static_cast<double>(ok) / secs, received);

  // 3. Fan-out to followers of one topic.
  std::size_t subscribed = 0;
  for (std::size_t i = 0; i < followers; ++i)
    engine.subscribe("f" + std::to_string(i), "celebrity",
                     [&subscribed](herald::Result<bool>) { ++subscribed; });
  run_until(io, [&] { return subscribed == followers; });
  herald::PublishRequest fan;
  fan.target = herald::Target::to_followers("celebrity");
  fan.type = "bench.fanout";
  std::size_t written = 0;
  bool fanned = false;
  t0 = Clock::now();
  engine.publish(fan, [&](herald::Result<herald::PublishResult> x) {
    if (x.ok()) written = x->streams_written;
    fanned = true;
  });
  run_until(io, [&] { return fanned; });
  secs = seconds_since(t0);
  std::printf("fan-out: %zu inboxes written in %.3f s = %.0f entries/s\n", written, secs,
              static_cast<double>(written) / secs);
  std::printf("delivery latency: %llu samples, mean %.1f us\n",
              static_cast<unsigned long long>(engine.metrics().delivery_latency.count()),
              1e6 * engine.metrics().delivery_latency.sum() /
                  static_cast<double>(std::max<std::uint64_t>(1, engine.metrics().delivery_latency.count())));

  // 4. One session joining many topics, then leaving them all by disconnecting; then how
  // long an unrelated publish waits (the engine's executor is shared by everyone).
  std::size_t answers = 0;
  auto joiner = transport.connect({"/ws", {{"userId", "joiner"}}, {}, "bench"});
  joiner->on_frame([&answers](const std::string&) { ++answers; });
  run_until(io, [&] { return answers >= 1; });
  answers = 0;
  t0 = Clock::now();
  for (std::size_t i = 0; i < joins; ++i)
    joiner->send(R"({"op":"subscribe","topic":"j)" + std::to_string(i) + R"("})");
  run_until(io, [&] { return answers >= joins; });
  std::printf("topic joins: %zu by one session in %.3f s\n", answers, seconds_since(t0));
  t0 = Clock::now();
  joiner->close();
  bool published = false;
  herald::PublishRequest after;
  after.target = herald::Target::to_users({"u0"});
  after.type = "bench.after";
  engine.publish(after, [&published](herald::Result<herald::PublishResult>) { published = true; });
  run_until(io, [&] { return published; });
  std::printf("topic leaves: the session closed, an unrelated publish answered after %.3f s\n",
              seconds_since(t0));

  // 5. A topic fan-out to STOMP sessions: the cost of one MESSAGE (headers written per
  // session, the body shared), in process.
  std::size_t connected = 0, receipts = 0, messages = 0;
  std::vector<std::shared_ptr<herald::InProcClient>> stomp_clients;
  for (std::size_t i = 0; i < stomp_sessions; ++i) {
    auto c = stomp_inner.connect({"/stomp", {}, {}, "bench"});
    c->on_frame([&](const std::string& f) {
      if (f.rfind("MESSAGE", 0) == 0) ++messages;
      if (f.rfind("CONNECTED", 0) == 0) ++connected;
      if (f.rfind("RECEIPT", 0) == 0) ++receipts;
    });
    c->send(herald::stomp::encode({"CONNECT",
                                   {{"accept-version", "1.2"},
                                    {"host", "bench"},
                                    {"login", "s" + std::to_string(i)},
                                    {"heart-beat", "0,0"}},
                                   {}}));
    stomp_clients.push_back(std::move(c));
  }
  run_until(io, [&] { return connected == stomp_sessions; });
  for (auto& c : stomp_clients)
    c->send(herald::stomp::encode(
        {"SUBSCRIBE", {{"id", "t"}, {"destination", "/topic/news"}, {"receipt", "r"}}, {}}));
  run_until(io, [&] { return receipts == stomp_sessions; });
  std::size_t news = 0;
  t0 = Clock::now();
  for (std::size_t i = 0; i < stomp_publishes; ++i) {
    herald::PublishRequest r;
    r.target = herald::Target::to_topic("news");
    r.type = "news.posted";
    r.data = R"({"title":"a headline of some forty characters"})";
    engine.publish(std::move(r), [&news](herald::Result<herald::PublishResult>) { ++news; });
  }
  run_until(
      io, [&] { return news == stomp_publishes && messages == stomp_sessions * stomp_publishes; });
  secs = seconds_since(t0);
  std::printf("stomp fan-out: %zu MESSAGEs to %zu sessions in %.3f s = %.2f us per MESSAGE\n",
              messages, stomp_sessions, secs,
              1e6 * secs / static_cast<double>(std::max<std::size_t>(1, messages)));

  bool stopped = false;
  engine.shutdown([&stopped] { stopped = true; });
  run_until(io, [&] { return stopped; });
}
