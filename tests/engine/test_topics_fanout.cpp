// Topics, broadcast, follower fan-out in chunks, idempotency and rate limits.

#include <algorithm>
#include <optional>

#include "support/engine_fixture.hpp"
#include "support/forwarding_store.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::seconds;

namespace {

// A Store that records the size of every append, around the real in-memory store.
class RecordingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::vector<std::size_t> append_sizes;

  void append(AppendRequest r, Completion<AppendResult> d) override {
    append_sizes.push_back(r.streams.size());
    inner_->append(std::move(r), std::move(d));
  }
};

}  // namespace

TEST_CASE("fan-out: the first chunk goes alone, then two chunks are in flight - a failed chunk "
          "starts nothing new and fails the publish naming what was written") {
  EngineOptions o = World::defaults();
  o.fanout_chunk = 10;
  World w(o);
  auto holding = std::make_shared<HoldingStore>(w.store);
  for (int i = 0; i < 50; ++i)
    w.store->subscribe("f" + std::to_string(100 + i), "band", Completion<bool>(w.executor, [](Result<bool>) {}));
  w.executor->run();
  Backends b;
  b.store = holding;
  b.registry = w.registry;
  b.broker = w.hub->make_broker(w.executor);
  Engine e(w.executor, std::move(b), o);
  e.start([](Status s) { REQUIRE(s.ok()); });
  w.executor->run();

  PublishRequest r;
  r.target = Target::to_followers("band");
  r.type = "band.news";
  std::optional<Result<PublishResult>> result;
  e.publish(r, [&](Result<PublishResult> x) { result = x; });
  w.executor->run();
  REQUIRE(holding->held.size() == 1);  // the first chunk (it checks the idempotency key) alone
  CHECK(holding->held[0].request.first_chunk);
  holding->release();
  w.executor->run();
  REQUIRE(holding->held.size() == 2);  // then two at once
  CHECK_FALSE(holding->held[0].request.first_chunk);
  holding->release(/*fail=*/true);
  w.executor->run();
  CHECK(holding->held.size() == 1);  // nothing new after the failure
  CHECK_FALSE(result.has_value());   // the chunk still in flight is waited for
  holding->release();
  w.executor->run();
  REQUIRE(result.has_value());
  CHECK(result->status().code() == Errc::unavailable);
  CHECK(result->status().message().find("after 20 streams were written") != std::string::npos);
  CHECK(holding->appends == 3);

  // Without failures: every chunk, never more than two in flight.
  std::optional<Result<PublishResult>> second;
  e.publish(r, [&](Result<PublishResult> x) { second = x; });
  std::size_t most = 0;
  for (int guard = 0; guard < 100 && !second; ++guard) {
    w.executor->run();
    most = std::max(most, holding->held.size());
    if (!holding->held.empty()) holding->release();
  }
  REQUIRE(second.has_value());
  REQUIRE(second->ok());
  CHECK((*second)->streams_written == 50);
  CHECK(most == 2);
  e.shutdown([] {});
  w.executor->run();
}

TEST_CASE("subscriptions persist - a followers publish reaches every subscriber's inbox") {
  World w;
  w.add();
  Engine& e = w.engine();
  for (const char* u : {"b", "a", "c"})
    CHECK(w.ask<bool>([&](auto cb) { e.subscribe(u, "alice-posts", cb); }).value());
  CHECK_FALSE(w.ask<bool>([&](auto cb) { e.subscribe("a", "alice-posts", cb); }).value());
  CHECK(w.ask<bool>([&](auto cb) { e.subscribe("a", "jobs", cb); }).value());
  auto subs = w.ask<std::vector<std::string>>([&](auto cb) { e.subscriptions("a", "", 100, cb); });
  CHECK(subs.value() == std::vector<std::string>{"alice-posts", "jobs"});
  CHECK(w.ask<bool>([&](auto cb) { e.unsubscribe("c", "alice-posts", cb); }).value());
  CHECK(w.ask<bool>([&](auto cb) { e.subscribe("x", "$broadcast", cb); }).status().code() ==
        Errc::invalid_argument);

  auto a = w.connect("a");
  frames(*a);
  PublishRequest r;
  r.target = Target::to_followers("alice-posts");
  r.type = "blog.posted";
  r.sender = "alice";
  auto res = w.publish(r);
  REQUIRE(res.ok());
  CHECK(res->streams_written == 2);  // a and b
  CHECK(seqs(frames(*a), "inbox:a") == std::vector<Seq>{1});
  CHECK(w.ask<std::uint64_t>([&](auto cb) { e.unread_count("b", cb); }).value() == 1);
  CHECK(w.ask<std::uint64_t>([&](auto cb) { e.unread_count("c", cb); }).value() == 0);
}

TEST_CASE("subscribers: keyset pages in id order - arguments are checked") {
  EngineOptions o = World::defaults();
  o.max_page = 3;
  World w(o);
  Engine& e = w.add();
  for (const char* u : {"d", "b", "e", "a", "c"})
    REQUIRE(w.ask<bool>([&](auto cb) { e.subscribe(u, "news", cb); }).ok());
  REQUIRE(w.ask<bool>([&](auto cb) { e.subscribe("z", "other", cb); }).ok());
  using Users = std::vector<UserId>;
  auto page = [&](const UserId& after, std::int64_t limit) {
    return w.ask<Users>([&](auto cb) { e.subscribers("news", after, limit, cb); });
  };
  CHECK(page("", 3).value() == Users{"a", "b", "c"});
  CHECK(page("c", 3).value() == Users{"d", "e"});
  CHECK(page("e", 3).value().empty());
  CHECK(page("bb", 1).value() == Users{"c"});
  CHECK(w.ask<Users>([&](auto cb) { e.subscribers("nobody", "", 3, cb); }).value().empty());
  CHECK(page("", 0).status().code() == Errc::invalid_argument);
  CHECK(page("", 4).status().code() == Errc::invalid_argument);
  CHECK(page("has space", 3).status().code() == Errc::invalid_argument);
  CHECK(w.ask<Users>([&](auto cb) { e.subscribers("$broadcast", "", 3, cb); }).status().code() ==
        Errc::invalid_argument);
  w.store->set_available(false);
  CHECK(page("", 3).status().code() == Errc::unavailable);
}

TEST_CASE("fan-out to 100,000 subscribers is written in bounded chunks and does not block") {
  World w;
  auto recording = std::make_shared<RecordingStore>(w.store);
  const std::size_t n = 100'000;
  for (std::size_t i = 0; i < n; ++i) {
    w.store->subscribe("f" + std::to_string(i), "celebrity",
                       Completion<bool>(w.executor, [](Result<bool>) {}));
  }
  w.executor->run();
  Backends b;
  b.store = recording;
  b.registry = w.registry;
  b.broker = w.hub->make_broker(w.executor);
  auto transport = std::make_unique<InProcTransport>();
  b.transports = {transport.get()};
  Engine e(w.executor, std::move(b), World::defaults());
  e.start([](Status s) { REQUIRE(s.ok()); });
  w.executor->run();
  Handshake hs;
  hs.query["userId"] = "f99999";
  auto fan = transport->connect(hs);
  w.executor->run();
  frames(*fan);
  recording->append_sizes.clear();

  PublishRequest big;
  big.target = Target::to_followers("celebrity");
  big.type = "celebrity.posted";
  PublishRequest small;
  small.target = Target::to_users({"someone"});
  small.type = "dm";
  std::vector<std::string> order;
  std::size_t written = 0;
  e.publish(big, [&](Result<PublishResult> r) {
    REQUIRE(r.ok());
    written = r->streams_written;
    order.push_back("big");
  });
  e.publish(small, [&](Result<PublishResult> r) {
    REQUIRE(r.ok());
    order.push_back("small");
  });
  w.executor->run();
  CHECK(written == n);
  // The small publish finished while the fan-out was still being written.
  CHECK(order == std::vector<std::string>{"small", "big"});
  std::size_t total = 0, largest = 0;
  for (std::size_t s : recording->append_sizes) {
    total += s;
    largest = std::max(largest, s);
  }
  CHECK(total == n + 1);
  CHECK(largest == e.options().fanout_chunk);
  CHECK(recording->append_sizes.size() == n / e.options().fanout_chunk + 1);
  CHECK(seqs(frames(*fan), "inbox:f99999") == std::vector<Seq>{1});
  e.shutdown([] {});
  w.executor->run();
}

TEST_CASE("topics: joined sessions get entries live - history keeps a bounded retention") {
  EngineOptions o = World::defaults();
  o.topic_retention = 5;
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);
  c->send(R"({"op":"subscribe","topic":"room1","rid":"s1"})");
  w.executor->run();
  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["op"] == "subscribed");
  CHECK(fs[0]["rid"] == "s1");
  CHECK(fs[0]["stream"] == "topic:room1");
  CHECK(fs[0]["head"] == 0);

  PublishRequest r;
  r.target = Target::to_topic("room1");
  r.type = "chat";
  for (int i = 0; i < 8; ++i) REQUIRE(w.publish(r).ok());
  CHECK(seqs(frames(*c), "topic:room1") == range(1, 8));

  auto page = w.ask<HistoryPage>([&](auto cb) {
    w.engine().history(StreamId::topic("room1"), HistoryQuery{kSeqMax, 50}, cb);
  });
  REQUIRE(page.ok());
  CHECK(page->entries.size() == 5);
  CHECK(page->entries.back().seq == 4);
  CHECK(page->info.trimmed_through == 3);

  // A client resuming from before the retained history is told to reload.
  auto c2 = w.connect("v");
  frames(*c2);
  c2->send(R"({"op":"subscribe","topic":"room1","since":1})");
  w.executor->run();
  fs = frames(*c2);
  REQUIRE(only(fs, "reset").size() == 1);
  CHECK(only(fs, "reset")[0]["reason"] == "trimmed");
  CHECK(seqs(fs, "topic:room1").empty());
  // One resuming inside the retention gets exactly the missed entries.
  auto c3 = w.connect("x");
  frames(*c3);
  c3->send(R"({"op":"subscribe","topic":"room1","since":6,"epoch":")" +
           std::to_string(w.store->epoch()) + "\"}");
  w.executor->run();
  CHECK(seqs(frames(*c3), "topic:room1") == range(7, 8));

  // Unsubscribed sessions get no more entries.
  c->send(R"({"op":"unsubscribe","topic":"room1","rid":"u1"})");
  w.executor->run();
  CHECK(only(frames(*c), "unsubscribed").size() == 1);
  REQUIRE(w.publish(r).ok());
  CHECK(frames(*c).empty());
  CHECK(seqs(frames(*c3), "topic:room1") == std::vector<Seq>{9});
}

TEST_CASE("topics: a session joins at most max_session_topics - past it limit_exceeded, the "
          "session stays open") {
  EngineOptions o = World::defaults();
  o.max_session_topics = 3;
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);
  for (int i = 0; i < 3; ++i)
    c->send(R"({"op":"subscribe","topic":"t)" + std::to_string(i) + R"(","rid":"s"})");
  w.executor->run();
  CHECK(only(frames(*c), "subscribed").size() == 3);  // $broadcast is not counted
  c->send(R"({"op":"subscribe","topic":"t3","rid":"over"})");
  w.executor->run();
  auto fs = frames(*c);
  REQUIRE(only(fs, "error").size() == 1);
  CHECK(only(fs, "error")[0]["code"] == "limit_exceeded");
  CHECK(only(fs, "error")[0]["rid"] == "over");
  CHECK_FALSE(c->closed());
  // Leaving one makes room; the refused topic was never joined.
  c->send(R"({"op":"unsubscribe","topic":"t0","rid":"u"})");
  c->send(R"({"op":"subscribe","topic":"t3","rid":"again"})");
  w.executor->run();
  fs = frames(*c);
  CHECK(only(fs, "unsubscribed").size() == 1);
  REQUIRE(only(fs, "subscribed").size() == 1);
  CHECK(only(fs, "subscribed")[0]["rid"] == "again");
  PublishRequest r;
  r.target = Target::to_topic("t3");
  r.type = "chat";
  REQUIRE(w.publish(r).ok());
  CHECK(seqs(frames(*c), "topic:t3") == std::vector<Seq>{1});
}

TEST_CASE("topics: sessions leaving a topic in any order leave the others joined") {
  World w;
  w.add();
  std::vector<std::shared_ptr<InProcClient>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(w.connect("m" + std::to_string(i)));
    clients.back()->send(R"({"op":"subscribe","topic":"hall"})");
    clients.back()->send(R"({"op":"subscribe","topic":"side"})");
  }
  w.executor->run();
  for (auto& c : clients) frames(*c);
  // Leave from the middle, the end and the start, by unsubscribe and by disconnect.
  clients[2]->send(R"({"op":"unsubscribe","topic":"hall"})");
  clients[5]->close();
  clients[0]->send(R"({"op":"unsubscribe","topic":"hall"})");
  w.executor->run();
  for (auto& c : clients) frames(*c);
  PublishRequest r;
  r.target = Target::to_topic("hall");
  r.type = "chat";
  REQUIRE(w.publish(r).ok());
  r.target = Target::to_topic("side");
  REQUIRE(w.publish(r).ok());
  for (int i : {1, 3, 4}) {
    auto fs = frames(*clients[i]);
    CHECK(seqs(fs, "topic:hall") == std::vector<Seq>{1});
    CHECK(seqs(fs, "topic:side") == std::vector<Seq>{1});
  }
  for (int i : {0, 2}) {
    auto fs = frames(*clients[i]);
    CHECK(seqs(fs, "topic:hall").empty());
    CHECK(seqs(fs, "topic:side") == std::vector<Seq>{1});
  }
}

TEST_CASE("broadcast reaches every session on every instance") {
  World w;
  w.add();
  w.add();
  w.add();
  std::vector<std::shared_ptr<InProcClient>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    clients.push_back(w.connect("u" + std::to_string(i), i));
    frames(*clients.back());
  }
  PublishRequest r;
  r.target = Target::to_everyone();
  r.type = "maintenance";
  REQUIRE(w.publish(r, 1).ok());
  for (auto& c : clients) CHECK(seqs(frames(*c), "topic:$broadcast") == std::vector<Seq>{1});
}

TEST_CASE("idempotency key: a retried publish returns the first result and delivers once") {
  World w;
  w.add();
  auto c = w.connect("u");
  frames(*c);
  PublishRequest r;
  r.target = Target::to_users({"u"});
  r.type = "order.shipped";
  r.idempotency_key = "order-17-shipped";
  auto first = w.publish(r);
  auto again = w.publish(r);
  REQUIRE(first.ok());
  REQUIRE(again.ok());
  CHECK_FALSE(first->duplicate);
  CHECK(again->duplicate);
  CHECK(again->id == first->id);
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
  CHECK(w.engine().metrics().duplicates.value() == 1);
  c->send(R"({"op":"ack","seq":1})");
  // After the window a publish with the same key is new.
  w.executor->advance(w.engine().options().dedup_window + seconds(1));
  auto later = w.publish(r);
  REQUIRE(later.ok());
  CHECK_FALSE(later->duplicate);
  CHECK(later->id != first->id);
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{2});
}

TEST_CASE("rate limit: a sender over its token bucket is refused with nothing written") {
  EngineOptions o;
  o.rate_limit = {1.0, 3.0, true};
  World w(o);
  w.add();
  PublishRequest r;
  r.target = Target::to_users({"u"});
  r.type = "t";
  r.sender = "spammer";
  for (int i = 0; i < 3; ++i) REQUIRE(w.publish(r).ok());
  auto refused = w.publish(r);
  CHECK(refused.status().code() == Errc::rate_limited);
  CHECK(refused.status().retryable());
  CHECK(refused.status().message().find("spammer") != std::string::npos);
  CHECK(w.engine().metrics().rate_limited.value() == 1);
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("u"), {}, cb); });
  CHECK(page->info.head == 3);
  // Another sender has its own bucket; time refills the bucket.
  r.sender = "other";
  CHECK(w.publish(r).ok());
  r.sender = "spammer";
  w.executor->advance(seconds(1));
  CHECK(w.publish(r).ok());
  CHECK(w.publish(r).status().code() == Errc::rate_limited);
}
