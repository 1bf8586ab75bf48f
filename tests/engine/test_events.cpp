// Outcome events (include/herald/events.hpp, docs/events.md) on the in-memory backends:
// user.online / user.offline once per cluster-wide transition, notification.undelivered,
// notification.dead_lettered and notification.read, and their JSON form.

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// Every event of every engine of a World, as "kind user" strings and as the events.
struct Heard {
  std::vector<std::string> kinds;
  std::vector<OutcomeEvent> events;

  void listen(World& w, std::size_t n) {
    w.engine(n).on_event([this](const OutcomeEvent& e) {
      kinds.push_back(std::string(to_string(e.kind)) + " " + e.user);
      events.push_back(e);
    });
    w.executor->run();
  }
  void clear() {
    kinds.clear();
    events.clear();
  }
};

}  // namespace

TEST_CASE("events: one user.online and one user.offline per user across instances") {
  Heard heard;  // before the World: it reports while the World shuts down
  World w;
  w.add();
  w.add();
  heard.listen(w, 0);
  heard.listen(w, 1);
  auto a0 = w.connect("a", 0);
  auto a1 = w.connect("a", 1);
  auto a2 = w.connect("a", 1);
  CHECK(heard.kinds == std::vector<std::string>{"user.online a"});
  CHECK(heard.events.at(0).instance == "i0");
  a0->close();
  w.executor->run();
  a1->close();
  w.executor->run();
  CHECK(heard.kinds == std::vector<std::string>{"user.online a"});  // a2 is still open
  a2->close();
  w.executor->run();
  CHECK(heard.kinds == std::vector<std::string>{"user.online a", "user.offline a"});
  CHECK(heard.events.at(1).instance == "i1");
  auto again = w.connect("a", 0);
  CHECK(heard.kinds.back() == "user.online a");
}

TEST_CASE("events: a user whose last session was on a stopped instance goes offline once") {
  Heard heard;
  World w;
  w.add();
  w.add();
  heard.listen(w, 0);
  heard.listen(w, 1);
  auto b = w.connect("b", 1);
  heard.clear();
  w.engine(1).shutdown([] {});
  w.executor->run();
  CHECK(heard.kinds == std::vector<std::string>{"user.offline b"});
}

TEST_CASE("events: notification.undelivered offline_after a publish to a user with no session") {
  EngineOptions o = World::defaults();
  o.offline_after = seconds(5);
  Heard heard;
  World w(o);
  w.add();
  w.add();
  heard.listen(w, 0);
  heard.listen(w, 1);
  auto online = w.connect("on", 1);
  heard.clear();
  auto id = w.notify({"off", "on", "later"}, "1");
  REQUIRE(id.ok());
  w.executor->advance(milliseconds(4999));
  CHECK(heard.kinds.empty());
  auto later = w.connect("later", 0);  // connects before the check: delivered, no event
  heard.clear();
  w.executor->advance(milliseconds(1));
  REQUIRE(heard.kinds == std::vector<std::string>{"notification.undelivered off"});
  const OutcomeEvent& e = heard.events.at(0);
  CHECK(e.notification_id == id->id);
  CHECK(e.seq == 1);
  CHECK(e.type == "test.note");
  CHECK(e.instance == "i0");  // the publishing instance
  w.executor->advance(seconds(60));
  CHECK(heard.kinds.size() == 1);  // at most once
}

TEST_CASE("events: offline_after 0 reports undelivered at once, and topics never") {
  EngineOptions o = World::defaults();
  o.offline_after = Duration::zero();
  Heard heard;
  World w(o);
  w.add();
  heard.listen(w, 0);
  REQUIRE(w.notify({"nobody"}, "1").ok());
  CHECK(heard.kinds == std::vector<std::string>{"notification.undelivered nobody"});
  PublishRequest r;
  r.target = Target::to_topic("news");
  r.type = "t";
  r.data = "1";
  REQUIRE(w.publish(r).ok());
  CHECK(heard.kinds.size() == 1);
}

TEST_CASE("events: notification.dead_lettered after the last attempt") {
  EngineOptions o = World::defaults();
  o.ack_timeout = seconds(1);
  o.max_delivery_attempts = 2;
  Heard heard;
  World w(o);
  w.add();
  heard.listen(w, 0);
  auto c = w.connect("u");
  frames(*c);
  heard.clear();
  REQUIRE(w.notify({"u"}, "\"x\"").ok());
  w.executor->advance(seconds(1));  // attempt 2
  CHECK(heard.kinds.empty());
  w.executor->advance(seconds(2));  // its timeout: dead letter
  REQUIRE(heard.kinds == std::vector<std::string>{"notification.dead_lettered u"});
  CHECK(heard.events.at(0).attempts == 2);
  CHECK(heard.events.at(0).seq == 1);
  CHECK(heard.events.at(0).type == "test.note");
}

TEST_CASE("events: notification.read when mark_read changed entries, by API and by frame") {
  Heard heard;
  World w;
  w.add();
  heard.listen(w, 0);
  REQUIRE(w.notify({"r"}, "1").ok());
  REQUIRE(w.notify({"r"}, "2").ok());
  auto c = w.connect("r");
  frames(*c);
  heard.clear();
  auto n = w.ask<std::uint64_t>([&](auto cb) { w.engine().mark_read("r", {1}, cb); });
  REQUIRE(n.ok());
  REQUIRE(heard.kinds == std::vector<std::string>{"notification.read r"});
  CHECK(heard.events.at(0).seqs == std::vector<Seq>{1});
  CHECK(heard.events.at(0).changed == 1);
  n = w.ask<std::uint64_t>([&](auto cb) { w.engine().mark_read("r", {1}, cb); });
  CHECK(heard.kinds.size() == 1);  // nothing changed: no event
  c->send(R"({"op":"read_all"})");
  w.executor->run();
  REQUIRE(heard.kinds.size() == 2);
  CHECK(heard.events.at(1).seqs.empty());
  CHECK(heard.events.at(1).changed == 1);
}

TEST_CASE("events: the JSON form") {
  OutcomeEvent e;
  e.kind = EventKind::notification_dead_lettered;
  e.event_id = 42;
  e.user = "alice";
  e.instance = "i0";
  e.at = from_unix_ms(1'750'000'000'123);
  e.notification_id = 382500874258702336ull;
  e.seq = 7;
  e.type = "blog.posted";
  e.attempts = 3;
  CHECK(to_json(e) ==
        R"({"at":1750000000123,"attempts":3,"event":"notification.dead_lettered","id":"42",)"
        R"("instance":"i0","notification":{"id":"382500874258702336","seq":7,)"
        R"("stream":"inbox:alice","type":"blog.posted"},"user":"alice"})");
  OutcomeEvent on;
  on.kind = EventKind::user_online;
  on.user = "bob";
  on.instance = "i1";
  CHECK(to_json(on) == R"({"at":0,"event":"user.online","id":"0","instance":"i1","user":"bob"})");
}
