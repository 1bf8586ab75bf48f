// SQLite Store benchmark (issue 16): inbox appends per second through the real SqliteStore
// API with 1, 64 and 1,024 appends in flight (each completion issues the next append), on a
// new database file per run. Group commit: the appends queued while one transaction commits
// go into the next. Prints figures; asserts nothing.
//
//   herald_sqlite_bench [--appends=50000] [--users=1000] [--synchronous=normal|full|both]
//                       [--dir=PATH]      (default: a new directory under $TMPDIR)

// Standard headers before Asio: Asio's configuration depends on them (see docs/embedding).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <herald/herald.hpp>

#include "herald/sqlite/store.hpp"
#include "support/temp_dir.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Flags {
  std::map<std::string, std::string> values;
  Flags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto eq = a.find('=');
      if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
        throw std::runtime_error("unknown argument " + a + " (flags are --name=value)");
      }
      values[a.substr(2, eq - 2)] = a.substr(eq + 1);
    }
  }
  std::string get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
};

// Runs `total` single-inbox appends with `inflight` outstanding; returns appends per second.
double run(const std::string& path, herald::sqlite::Synchronous sync, std::size_t total,
           std::size_t inflight, std::size_t users) {
  herald::sqlite::SqliteOptions options;
  options.path = path;
  options.synchronous = sync;
  auto store = herald::sqlite::SqliteStore::open(options);

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  auto executor = herald::make_asio_executor(io);
  const auto created = herald::from_unix_ms(1'750'000'000'000);
  std::size_t issued = 0;
  std::size_t completed = 0;
  std::size_t failed = 0;
  std::function<void()> issue = [&] {
    auto n = std::make_shared<herald::Notification>();
    n->id = ++issued;
    n->type = "bench";
    n->data = R"({"title":"hello","body":"a notification of a typical size for the bench"})";
    n->created_at = created;
    herald::AppendRequest r;
    r.notification = std::move(n);
    r.streams = {herald::StreamId::inbox("user" + std::to_string(issued % users))};
    store->append(std::move(r), herald::Completion<herald::AppendResult>(
                                    executor, [&](herald::Result<herald::AppendResult> res) {
                                      ++completed;
                                      if (!res.ok()) ++failed;
                                      if (issued < total) issue();
                                      if (completed == total) work.reset();
                                    }));
  };
  const auto start = SteadyClock::now();
  for (std::size_t i = 0; i < inflight && issued < total; ++i) issue();
  io.run();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (failed > 0) std::printf("  (%zu appends failed)\n", failed);
  const herald::sqlite::SqliteStats w = store->stats();
  std::printf(
      "  WAL: started over %llu times; checkpointer %llu checkpoints, %llu pages; "
      "writer %llu checkpoints, %llu pages\n",
      static_cast<unsigned long long>(w.wal_rewinds),
      static_cast<unsigned long long>(w.checkpoints),
      static_cast<unsigned long long>(w.checkpointed_frames),
      static_cast<unsigned long long>(w.writer_checkpoints),
      static_cast<unsigned long long>(w.writer_checkpointed_frames));
  executor.reset();
  return static_cast<double>(total) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags flags(argc, argv);
    const std::size_t total = std::stoul(flags.get("appends", "50000"));
    const std::size_t users = std::stoul(flags.get("users", "1000"));
    const std::string sync = flags.get("synchronous", "normal");
    std::unique_ptr<herald::test::TempDir> temp;
    std::string dir = flags.get("dir", "");
    if (dir.empty()) {
      temp = std::make_unique<herald::test::TempDir>();
      dir = temp->path();
    }
    std::vector<std::pair<std::string, herald::sqlite::Synchronous>> modes;
    if (sync == "normal" || sync == "both") modes.emplace_back("NORMAL", herald::sqlite::Synchronous::normal);
    if (sync == "full" || sync == "both") modes.emplace_back("FULL", herald::sqlite::Synchronous::full);
    if (modes.empty()) throw std::runtime_error("--synchronous must be normal, full or both");
    std::printf("SQLite store: %zu single-inbox appends per run over %zu users, files in %s\n",
                total, users, dir.c_str());
    int run_no = 0;
    for (const auto& [name, mode] : modes) {
      for (std::size_t inflight : {std::size_t{1}, std::size_t{64}, std::size_t{1024}}) {
        const std::string path = dir + "/bench-" + std::to_string(++run_no) + ".db";
        const double rate = run(path, mode, total, inflight, users);
        std::printf("  synchronous=%-6s in flight %5zu: %9.0f appends/s\n", name.c_str(),
                    inflight, rate);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald_sqlite_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
