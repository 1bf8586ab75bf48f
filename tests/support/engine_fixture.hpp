#pragma once
// A deterministic world for engine tests: one ManualExecutor (virtual clock), shared
// in-memory Store/Registry/Broker hub, and any number of engines ("instances"), each with
// an in-process transport.

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "herald/herald.hpp"

namespace doctest {
// Shows seq lists in failed assertions.
template <>
struct StringMaker<std::vector<std::uint64_t>> {
  static String convert(const std::vector<std::uint64_t>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
    return (out + "]").c_str();
  }
};
}  // namespace doctest

namespace herald::test {

using nlohmann::json;

struct Instance {
  std::unique_ptr<InProcTransport> transport;
  std::unique_ptr<Engine> engine;
};

class World {
 public:
  explicit World(EngineOptions base = defaults())
      : executor(std::make_shared<ManualExecutor>()),
        store(MemoryStore::create()),
        registry(MemoryRegistry::create([ex = executor] { return ex->now(); })),
        hub(MemoryBrokerHub::create()),
        base_(base) {}

  ~World() {
    for (auto& i : instances) {
      i.engine->shutdown([] {});
      executor->run();
      executor->advance(std::chrono::seconds(60));
    }
    instances.clear();
    executor->run();  // the engines' last tasks hold them: run them so nothing leaks
  }

  static EngineOptions defaults() {
    EngineOptions o;
    o.rate_limit.enabled = false;
    return o;
  }

  /// Starts one more engine named "i<N>" and returns it.
  Engine& add(EngineOptions o, Authenticator auth = dev_authenticator()) {
    Instance i;
    i.transport = std::make_unique<InProcTransport>();
    if (o.instance_id.empty()) o.instance_id = "i" + std::to_string(instances.size());
    Backends b;
    b.store = engine_store ? engine_store : store;
    b.registry = engine_registry ? engine_registry : registry;
    b.broker = hub->make_broker(executor);
    b.transports = {i.transport.get()};
    i.engine = std::make_unique<Engine>(executor, std::move(b), o, std::move(auth));
    Status started(Errc::internal, "start did not complete");
    i.engine->start([&](Status s) { started = s; });
    executor->run();
    REQUIRE_MESSAGE(started.ok(), started.message());
    instances.push_back(std::move(i));
    return *instances.back().engine;
  }
  Engine& add() { return add(base_); }

  Engine& engine(std::size_t n = 0) { return *instances.at(n).engine; }

  Result<PublishResult> publish(PublishRequest r, std::size_t on = 0) {
    Result<PublishResult> out(Status(Errc::internal, "publish did not complete"));
    engine(on).publish(std::move(r), [&](Result<PublishResult> x) { out = std::move(x); });
    executor->run();
    return out;
  }

  Result<PublishResult> notify(std::vector<UserId> users, std::string data = "{}",
                               std::size_t on = 0) {
    PublishRequest r;
    r.target = Target::to_users(std::move(users));
    r.type = "test.note";
    r.data = std::move(data);
    return publish(std::move(r), on);
  }

  /// Connects `user` to instance `on` with extra query parameters; runs until idle.
  std::shared_ptr<InProcClient> connect(const UserId& user, std::size_t on = 0,
                                        std::map<std::string, std::string> query = {}) {
    Handshake hs;
    hs.path = "/ws";
    hs.query = std::move(query);
    if (!user.empty()) hs.query["userId"] = user;
    auto c = instances.at(on).transport->connect(std::move(hs));
    executor->run();
    return c;
  }

  /// Runs an engine query and returns its result.
  template <class T, class Call>
  Result<T> ask(Call call) {
    Result<T> out(Status(Errc::internal, "query did not complete"));
    call([&](Result<T> r) { out = std::move(r); });
    executor->run();
    return out;
  }

  std::shared_ptr<ManualExecutor> executor;
  std::shared_ptr<MemoryStore> store;
  std::shared_ptr<MemoryRegistry> registry;
  std::shared_ptr<Registry> engine_registry;  // set before add(): engines use it instead
  std::shared_ptr<Store> engine_store;        // the same for the store
  std::shared_ptr<MemoryBrokerHub> hub;
  std::vector<Instance> instances;

 private:
  EngineOptions base_;
};

/// All frames the client has not taken yet, parsed.
inline std::vector<json> frames(InProcClient& c) {
  std::vector<json> out;
  for (const std::string& f : c.take_all()) out.push_back(json::parse(f));
  return out;
}

/// Reads like a live client: takes frames and lets the engine go on (it paces replays by
/// what the client read) until nothing more arrives.
inline std::vector<json> drain(World& w, InProcClient& c) {
  std::vector<json> out;
  for (;;) {
    w.executor->run();
    auto got = frames(c);
    if (got.empty()) return out;
    out.insert(out.end(), got.begin(), got.end());
  }
}

/// Only the frames with the given op.
inline std::vector<json> only(const std::vector<json>& fs, const std::string& op) {
  std::vector<json> out;
  for (const json& f : fs)
    if (f.value("op", "") == op) out.push_back(f);
  return out;
}

/// The seqs of the notification frames of one stream, in arrival order.
inline std::vector<Seq> seqs(const std::vector<json>& fs, const std::string& stream) {
  std::vector<Seq> out;
  for (const json& f : fs)
    if (f.value("op", "") == "notification" && f.value("stream", "") == stream)
      out.push_back(f["seq"].get<Seq>());
  return out;
}

inline std::vector<Seq> range(Seq from, Seq to) {
  std::vector<Seq> out;
  for (Seq s = from; s <= to; ++s) out.push_back(s);
  return out;
}

}  // namespace herald::test
