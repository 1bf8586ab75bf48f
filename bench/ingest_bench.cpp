// Durable ingest (herald-server --ingest): how fast one instance drains a Redis Stream into
// its store, and how long an entry takes from XADD to a WebSocket client.
//
//   herald_ingest_bench [entries=100000] [latency_samples=2000] [rate_per_s=500] [--postgres URL]
//
// Starts its own redis-server (no persistence) and herald-server (memory store unless
// --postgres, then that store; the output says which) on free loopback ports.
//   1. throughput: `entries` XADDed while herald is stopped, then herald starts; the time
//      from its `event=ingest_started` log line until the group's lag and pending are 0.
//   2. latency: one WebSocket client; `latency_samples` entries XADDed at `rate_per_s`,
//      each carrying its send time; p50/p99/max of XADD → notification frame.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include "measure.hpp"
#include "support/child_process.hpp"
#include "support/free_port.hpp"
#include "ws_client.hpp"

using herald::bench::now_us;
using herald::test::ChildProcess;
using herald::websocket::test::json;
using herald::websocket::test::WsClient;
using Millis = std::chrono::milliseconds;

namespace {

const char* const kStream = "bench";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "ingest_bench: %s\n", what.c_str());
  std::exit(1);
}

long long integer(redisContext* c, const char* command) {
  auto* r = static_cast<redisReply*>(redisCommand(c, command));
  if (!r) fail("redis: no reply");
  long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_INTEGER)
    v = r->element[0]->integer;
  freeReplyObject(r);
  return v;
}

// The group's lag and pending count are both 0.
bool drained(redisContext* c) {
  if (integer(c, "XPENDING bench herald") != 0) return false;
  auto* r = static_cast<redisReply*>(redisCommand(c, "XINFO GROUPS bench"));
  bool zero = false;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
    const redisReply* g = r->element[0];
    for (std::size_t i = 0; i + 1 < g->elements; i += 2)
      if (std::string(g->element[i]->str) == "lag")
        zero = g->element[i + 1]->type == REDIS_REPLY_INTEGER && g->element[i + 1]->integer == 0;
  }
  if (r) freeReplyObject(r);
  return zero;
}

void xadd_pipelined(redisContext* c, int count) {
  for (int n = 0; n < count; ++n) {
    const std::string body = R"({"to":{"users":["u)" + std::to_string(n % 1000) +
                             R"("]},"type":"bench","data":{"n":)" + std::to_string(n) + "}}";
    redisAppendCommand(c, "XADD %s * body %b", kStream, body.data(), body.size());
    if (n % 1000 == 999 || n + 1 == count) {
      for (int i = 0; i <= n % 1000; ++i) {
        void* r = nullptr;
        if (redisGetReply(c, &r) != REDIS_OK) fail("XADD failed");
        freeReplyObject(r);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string postgres;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--postgres" && i + 1 < argc) {
      postgres = argv[++i];
    } else {
      positional.push_back(argv[i]);
    }
  }
  const int entries = positional.size() > 0 ? std::atoi(positional[0].c_str()) : 100'000;
  const int samples = positional.size() > 1 ? std::atoi(positional[1].c_str()) : 2000;
  const int rate = positional.size() > 2 ? std::atoi(positional[2].c_str()) : 500;

  const std::uint16_t redis_port = herald::test::free_port();
  ChildProcess redis({"/usr/bin/redis-server", "--port", std::to_string(redis_port), "--bind",
                      "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", ""});
  if (!redis.wait_log("Ready to accept connections")) fail("redis-server: " + redis.log());
  redisContext* c = redisConnect("127.0.0.1", redis_port);
  if (!c || c->err) fail("cannot connect to redis-server");

  // 1. throughput
  xadd_pipelined(c, entries);
  std::vector<std::string> args{HERALD_SERVER_BINARY, "--dev-auth", "--port", "0",
                                "--rate-limit", "0", "--log-level", "info",
                                "--ingest", "redis://127.0.0.1:" + std::to_string(redis_port) + "/" + kStream};
  if (!postgres.empty()) args.insert(args.end(), {"--postgres", postgres});
  ChildProcess server(args);
  if (!server.wait_log("event=ingest_started")) fail("herald-server: " + server.log());
  const auto start = std::chrono::steady_clock::now();
  while (!drained(c)) std::this_thread::sleep_for(Millis(5));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("store=%s entries=%d drained_in_s=%.3f throughput_per_s=%.0f\n",
              postgres.empty() ? "memory" : "postgres", entries, seconds, entries / seconds);

  // 2. latency XADD → WebSocket
  const std::string log = server.log();
  const std::size_t at = log.find(" port=");
  if (at == std::string::npos) fail("no port in the log");
  const auto port = static_cast<std::uint16_t>(std::stoul(log.substr(at + 6)));
  WsClient ws(port, "/ws?userId=lat");
  if (!ws.ok() || ws.next_op("welcome").is_null()) fail("WebSocket handshake failed");
  std::vector<std::int64_t> latency;
  std::thread reader([&] {
    while (static_cast<int>(latency.size()) < samples) {
      json f = ws.next_op("notification", Millis(5000));
      if (f.is_null()) break;
      latency.push_back(now_us() - f["data"]["t"].get<std::int64_t>());
      if (latency.size() % 50 == 0)
        ws.send_text(R"({"op":"ack","seq":)" + std::to_string(f["seq"].get<std::uint64_t>()) + "}");
    }
  });
  const auto interval = std::chrono::microseconds(1'000'000 / std::max(1, rate));
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < samples; ++i) {
    std::this_thread::sleep_until(next);  // pacing the producer, not synchronisation
    next += interval;
    const std::string body = R"({"to":{"users":["lat"]},"type":"lat","data":{"t":)" +
                             std::to_string(now_us()) + "}}";
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "XADD %s * body %b", kStream, body.data(), body.size()));
    if (!r) fail("XADD failed");
    freeReplyObject(r);
  }
  reader.join();
  std::vector<std::int64_t> sorted = latency;
  const herald::bench::LatencySummary s = herald::bench::summarize(sorted);
  std::printf("latency_samples=%zu/%d rate_per_s=%d xadd_to_ws_p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
              latency.size(), samples, rate, s.p50_ms, s.p99_ms, s.max_ms);
  redisFree(c);
  server.stop(SIGTERM);
  return latency.size() == static_cast<std::size_t>(samples) ? 0 : 1;
}
