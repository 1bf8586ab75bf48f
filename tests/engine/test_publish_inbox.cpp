// Engine rules of publishing to inboxes: persist, deliver live, backlog, history, read state,
// expiry, validation.

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;

TEST_CASE("publish to an offline user is stored - the backlog arrives on connect, in order") {
  World w;
  w.add();
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"alice"}, "{\"n\":" + std::to_string(i) + "}").ok());

  auto c = w.connect("alice");
  auto fs = frames(*c);
  REQUIRE(fs.size() >= 4);
  CHECK(fs[0]["op"] == "welcome");
  CHECK(fs[0]["user"] == "alice");
  CHECK(fs[0]["unread"] == 3);
  CHECK(fs[0]["cursor"] == 0);
  CHECK(fs[0]["head"] == 3);
  CHECK(seqs(fs, "inbox:alice") == range(1, 3));
  auto notes = only(fs, "notification");
  CHECK(notes[2]["data"]["n"] == 2);
  CHECK(notes[0]["type"] == "test.note");
  CHECK(notes[0]["epoch"] == std::to_string(w.store->epoch()));
  CHECK(notes[0]["id"].is_string());
  CHECK(w.engine().metrics().delivered.value() == 3);
}

TEST_CASE("a connected user receives a publish live, exactly once, with every field") {
  World w;
  w.add();
  auto c = w.connect("bob");
  frames(*c);  // welcome
  PublishRequest r;
  r.target = Target::to_users({"bob", "carol"});
  r.type = "blog.posted";
  r.data = R"({"title":"hello","tags":["a","b"]})";
  r.sender = "alice";
  r.expires_at = w.executor->now() + std::chrono::hours(1);
  auto res = w.publish(r);
  REQUIRE(res.ok());
  CHECK(res->streams_written == 2);
  CHECK_FALSE(res->duplicate);

  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  const json& f = fs[0];
  CHECK(f["op"] == "notification");
  CHECK(f["stream"] == "inbox:bob");
  CHECK(f["seq"] == 1);
  CHECK(f["id"] == std::to_string(res->id));
  CHECK(f["type"] == "blog.posted");
  CHECK(f["data"]["tags"][1] == "b");
  CHECK(f["sender"] == "alice");
  CHECK(f["created_at"] == to_unix_ms(w.executor->now()));
  CHECK(f["expires_at"] == to_unix_ms(*r.expires_at));
  CHECK_FALSE(f.contains("attempt"));
  CHECK(SnowflakeGenerator::node_of(res->id) == w.engine().options().node_id);
}

TEST_CASE("a type with quotes, backslashes and non-ASCII text arrives as it was published") {
  World w;
  w.add();
  auto c = w.connect("bob");
  frames(*c);  // welcome
  PublishRequest r;
  r.target = Target::to_users({"bob"});
  r.type = "caf\xc3\xa9 \"menu\" \\ \xe2\x82\xac/";
  auto res = w.publish(r);
  REQUIRE(res.ok());
  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["type"] == r.type);
}

TEST_CASE("every inbox has its own gap-free seq - per-user order is publish order") {
  World w;
  w.add();
  auto a = w.connect("a");
  auto b = w.connect("b");
  frames(*a);
  frames(*b);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(w.notify({"a"}, std::to_string(i)).ok());
    if (i % 2 == 0) REQUIRE(w.notify({"a", "b"}, std::to_string(100 + i)).ok());
  }
  auto fa = frames(*a);
  auto fb = frames(*b);
  CHECK(seqs(fa, "inbox:a") == range(1, 15));
  CHECK(seqs(fb, "inbox:b") == range(1, 5));
  // Order of data in a's inbox is the publish order.
  std::vector<int> data;
  for (const json& f : only(fa, "notification")) data.push_back(f["data"].get<int>());
  CHECK(data == std::vector<int>{0, 100, 1, 2, 102, 3, 4, 104, 5, 6, 106, 7, 8, 108, 9});
}

TEST_CASE("a user listed twice in a target gets one entry") {
  World w;
  w.add();
  auto r = w.notify({"a", "a", "b"});
  REQUIRE(r.ok());
  CHECK(r->streams_written == 2);
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("a"), {}, cb); });
  REQUIRE(page.ok());
  CHECK(page->entries.size() == 1);
}

TEST_CASE("inbox history pages newest first - limits are checked") {
  World w;
  w.add();
  for (int i = 1; i <= 7; ++i) REQUIRE(w.notify({"u"}, std::to_string(i)).ok());
  auto page = [&](Seq before, std::int64_t limit) {
    return w.ask<HistoryPage>([&](auto cb) {
      w.engine().history(StreamId::inbox("u"), HistoryQuery{before, limit}, cb);
    });
  };
  auto p1 = page(kSeqMax, 3);
  REQUIRE(p1.ok());
  std::vector<Seq> got;
  for (auto& e : p1->entries) got.push_back(e.seq);
  CHECK(got == std::vector<Seq>{7, 6, 5});
  CHECK(p1->next_before == 5);
  CHECK(p1->info.head == 7);
  auto p2 = page(p1->next_before, 3);
  auto p3 = page(p2->next_before, 3);
  REQUIRE(p3.ok());
  CHECK(p2->entries.front().seq == 4);
  CHECK(p3->entries.size() == 1);
  CHECK(p3->entries[0].seq == 1);
  CHECK(p3->next_before == 0);

  for (std::int64_t bad : {std::int64_t(0), std::int64_t(-1), std::int64_t(501),
                           std::int64_t(1) << 40}) {
    auto r = page(kSeqMax, bad);
    CHECK(r.status().code() == Errc::invalid_argument);
  }
  auto bad_user = w.ask<HistoryPage>([&](auto cb) {
    w.engine().history(StreamId::inbox("has space"), {}, cb);
  });
  CHECK(bad_user.status().code() == Errc::invalid_argument);
  CHECK(StreamId::parse("queue:x").status().code() == Errc::not_found);
}

TEST_CASE("unread count, mark read (some, all) and delete") {
  World w;
  w.add();
  for (int i = 0; i < 5; ++i) REQUIRE(w.notify({"u"}).ok());
  Engine& e = w.engine();
  auto unread = [&] { return w.ask<std::uint64_t>([&](auto cb) { e.unread_count("u", cb); }); };
  CHECK(unread().value() == 5);
  auto marked = w.ask<std::uint64_t>([&](auto cb) { e.mark_read("u", {1, 3, 99}, cb); });
  CHECK(marked.value() == 2);
  CHECK(unread().value() == 3);
  marked = w.ask<std::uint64_t>([&](auto cb) { e.mark_read("u", {1}, cb); });
  CHECK(marked.value() == 0);  // already read
  auto removed = w.ask<std::uint64_t>([&](auto cb) { e.remove("u", {2, 3, 42}, cb); });
  CHECK(removed.value() == 2);
  CHECK(unread().value() == 2);  // 4 and 5
  marked = w.ask<std::uint64_t>([&](auto cb) { e.mark_read("u", {}, cb); });
  CHECK(marked.value() == 2);
  CHECK(unread().value() == 0);
  auto page = w.ask<HistoryPage>([&](auto cb) { e.history(StreamId::inbox("u"), {}, cb); });
  std::vector<Seq> left;
  for (auto& en : page->entries) {
    left.push_back(en.seq);
    CHECK(en.read);
  }
  CHECK(left == std::vector<Seq>{5, 4, 1});
  // A new publish continues after the highest seq ever assigned: seqs are not reused.
  REQUIRE(w.notify({"u"}).ok());
  page = w.ask<HistoryPage>([&](auto cb) { e.history(StreamId::inbox("u"), {}, cb); });
  CHECK(page->entries.front().seq == 6);
  auto bad = w.ask<std::uint64_t>([&](auto cb) { e.remove("u", {}, cb); });
  CHECK(bad.status().code() == Errc::invalid_argument);
}

TEST_CASE("notifications past expires_at are neither listed, counted nor delivered") {
  World w;
  w.add();
  PublishRequest r;
  r.target = Target::to_users({"u"});
  r.type = "flash.sale";
  r.expires_at = w.executor->now() + std::chrono::seconds(1);
  REQUIRE(w.publish(r).ok());
  REQUIRE(w.notify({"u"}, "\"keeps\"").ok());
  w.executor->advance(std::chrono::seconds(2));

  auto unread = w.ask<std::uint64_t>([&](auto cb) { w.engine().unread_count("u", cb); });
  CHECK(unread.value() == 1);
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("u"), {}, cb); });
  REQUIRE(page->entries.size() == 1);
  CHECK(page->entries[0].seq == 2);
  auto c = w.connect("u");
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{2});

  // The periodic sweep purges it from the store.
  w.executor->advance(w.engine().options().expiry_sweep);
  ReadResult raw;
  w.store->read(StreamId::inbox("u"), ReadQuery{0, kSeqMax, 10, ReadQuery::Order::ascending, {}},
                Completion<ReadResult>(w.executor, [&](Result<ReadResult> x) { raw = x.value(); }));
  w.executor->run();
  CHECK(raw.entries.size() == 1);
}

TEST_CASE("bad input gets a clear status - nothing is stored or delivered - the engine serves on") {
  EngineOptions o = World::defaults();
  o.max_payload_bytes = 100;
  o.max_recipients = 3;
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);

  auto with = [&](auto change) {
    PublishRequest r;
    r.target = Target::to_users({"u"});
    r.type = "t";
    change(r);
    return w.publish(r).status();
  };
  CHECK(with([](auto& r) { r.data = std::string(101, ' ') + "1"; }).code() == Errc::payload_too_large);
  CHECK(with([](auto& r) { r.data = "{\"a\":"; }).code() == Errc::invalid_json);
  CHECK(with([](auto& r) { r.data = ""; }).code() == Errc::invalid_json);
  CHECK(with([](auto& r) { r.data = "{} {}"; }).code() == Errc::invalid_json);
  CHECK(with([](auto& r) { r.target.users.clear(); }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target.users = {"a", "b", "c", "d"}; }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target.users = {"u", ""}; }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target.users = {"bad\nid"}; }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.type = ""; }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.type = std::string(129, 't'); }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target = Target::to_topic(""); }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target = Target::to_topic("$broadcast"); }).code() ==
        Errc::invalid_argument);
  CHECK(with([](auto& r) { r.target = Target::to_followers("a b"); }).code() ==
        Errc::invalid_argument);
  CHECK(with([&](auto& r) { r.expires_at = w.executor->now(); }).code() == Errc::invalid_argument);
  CHECK(with([](auto& r) { r.sender = "no spaces"; }).code() == Errc::invalid_argument);
  Status s = with([](auto& r) { r.data = "[1,2"; });
  CHECK(s.message().find("JSON") != std::string::npos);

  CHECK(frames(*c).empty());
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("u"), {}, cb); });
  CHECK(page->entries.empty());
  CHECK(page->info.head == 0);
  CHECK(w.engine().metrics().publish_errors.value() == 16);
  CHECK(w.engine().metrics().published.value() == 0);

  REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
}

TEST_CASE("data_is_json: the host's JSON text is stored as given - the size limit still holds") {
  EngineOptions o = World::defaults();
  o.max_payload_bytes = 100;
  World w(o);
  w.add();
  PublishRequest r;
  r.target = Target::to_users({"u"});
  r.type = "t";
  r.data = R"({"b":[1,2],"a":"\u00e9"})";
  r.data_is_json = true;  // as herald-server sets it for data it parsed itself
  REQUIRE(w.publish(r).ok());
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("u"), {}, cb); });
  REQUIRE(page->entries.size() == 1);
  CHECK(page->entries[0].notification->data == R"({"b":[1,2],"a":"\u00e9"})");

  r.data = std::string(101, ' ') + "1";
  CHECK(w.publish(r).status().code() == Errc::payload_too_large);
}

TEST_CASE("store unavailable: publish fails retryably and nothing is claimed") {
  World w;
  w.add();
  auto c = w.connect("u");
  frames(*c);
  w.store->set_available(false);
  auto r = w.notify({"u"});
  CHECK(r.status().code() == Errc::unavailable);
  CHECK(r.status().retryable());
  CHECK(frames(*c).empty());
  w.store->set_available(true);
  REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
}

TEST_CASE("engine defaults: a crashed instance's sessions leave the registry within 15 s") {
  // The registry entries of an instance live registry_ttl past its last heartbeat; the
  // multi-instance bound promised to operators and embedders is 15 s.
  CHECK(EngineOptions{}.registry_ttl <= std::chrono::seconds(15));
  CHECK(EngineOptions{}.registry_ttl / 3 >= std::chrono::seconds(1));  // heartbeat interval
}

TEST_CASE("invalid engine options throw herald::Error with a message") {
  World w;
  auto make = [&](EngineOptions o) {
    Backends b;
    b.store = w.store;
    b.registry = w.registry;
    b.broker = w.hub->make_broker(w.executor);
    Engine e(w.executor, std::move(b), o);
  };
  EngineOptions o;
  o.fanout_chunk = 0;
  CHECK_THROWS_AS(make(o), Error);
  o = {};
  o.node_id = 2000;
  CHECK_THROWS_WITH_AS(make(o), doctest::Contains("node_id"), Error);
  o = {};
  o.ack_batch_delay = std::chrono::seconds(2);
  CHECK_THROWS_WITH_AS(make(o), doctest::Contains("ack_batch_delay must be 0..1 s"), Error);
  o.ack_batch_delay = std::chrono::milliseconds(-1);
  CHECK_THROWS_WITH_AS(make(o), doctest::Contains("ack_batch_delay"), Error);
  o = {};
  o.instance_id = "has space";
  CHECK_THROWS_AS(make(o), Error);
  o = {};
  o.rate_limit.per_second = 0;
  CHECK_THROWS_AS(make(o), Error);
  CHECK_THROWS_WITH_AS(Engine(w.executor, Backends{}), doctest::Contains("Store"), Error);
}
