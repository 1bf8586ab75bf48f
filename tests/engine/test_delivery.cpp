// Engine delivery rules: acks, redelivery with backoff, dead letters, bounded queues,
// resume by (seq, epoch), and the connect/disconnect races.

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::seconds;

namespace {

EngineOptions ack_options() {
  EngineOptions o = World::defaults();
  o.ack_timeout = seconds(1);
  o.max_delivery_attempts = 3;
  o.redelivery_backoff = 2.0;
  return o;
}

/// A 4 KB queue bound, reached by ~10 notifications of 300 bytes the client has not read.
EngineOptions small_queue_options() {
  EngineOptions o = World::defaults();
  o.max_session_queue_bytes = 4096;
  o.max_unacked = 1000;
  return o;
}

}  // namespace

TEST_CASE("unacked entries are redelivered with backoff, then dead-lettered and kept") {
  World w(ack_options());
  w.add();
  auto c = w.connect("u");
  frames(*c);
  REQUIRE(w.notify({"u"}, "\"x\"").ok());
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});

  w.executor->advance(std::chrono::milliseconds(999));
  CHECK(frames(*c).empty());
  w.executor->advance(std::chrono::milliseconds(1));
  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["seq"] == 1);
  CHECK(fs[0]["attempt"] == 2);
  CHECK(fs[0]["data"] == "x");

  w.executor->advance(std::chrono::milliseconds(1999));  // attempt 3 waits 2 s
  CHECK(frames(*c).empty());
  w.executor->advance(std::chrono::milliseconds(1));
  fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["attempt"] == 3);

  w.executor->advance(seconds(4));  // the last attempt's timeout: dead letter
  CHECK(frames(*c).empty());
  const Metrics& m = w.engine().metrics();
  CHECK(m.redelivered.value() == 2);
  CHECK(m.dead_lettered.value() == 1);
  auto dl =
      w.ask<std::vector<DeadLetter>>([&](auto cb) { w.engine().dead_letters("u", 0, 100, cb); });
  REQUIRE(dl.ok());
  REQUIRE(dl->size() == 1);
  CHECK(dl->at(0).seq == 1);
  CHECK(dl->at(0).attempts == 3);
  CHECK(dl->at(0).reason.find("not acknowledged") != std::string::npos);
  // Kept in the inbox.
  auto page = w.ask<HistoryPage>([&](auto cb) { w.engine().history(StreamId::inbox("u"), {}, cb); });
  CHECK(page->entries.size() == 1);
  w.executor->advance(seconds(60));
  CHECK(frames(*c).empty());  // never pushed again to this session
}

TEST_CASE("acks stop redelivery and advance the stored ack cursor (coalesced)") {
  World w(ack_options());
  w.add();
  auto c = w.connect("u");
  frames(*c);
  for (int i = 0; i < 5; ++i) REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == range(1, 5));
  c->send(R"({"op":"ack","seq":3})");
  w.executor->run();
  w.executor->advance(seconds(1));
  auto fs = frames(*c);
  CHECK(seqs(fs, "inbox:u") == std::vector<Seq>{4, 5});  // only the unacked were redelivered
  c->send(R"({"op":"ack","seq":"5"})");
  w.executor->run();
  w.executor->advance(seconds(30));
  CHECK(frames(*c).empty());
  CHECK(w.engine().metrics().acked.value() == 5);

  // Acking past what was delivered is an error and changes nothing.
  c->send(R"({"op":"ack","seq":9,"rid":"r1"})");
  w.executor->run();
  fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["op"] == "error");
  CHECK(fs[0]["rid"] == "r1");
  CHECK(fs[0]["code"] == "invalid_argument");

  // A new connection without `since` resumes after the stored ack cursor: nothing replayed.
  c->close();
  w.executor->run();
  auto c2 = w.connect("u");
  fs = frames(*c2);
  CHECK(fs[0]["cursor"] == 5);
  CHECK(seqs(fs, "inbox:u").empty());
}


// The ack timer is not cancelled by an ack (that would cost a timer per notification): it
// fires at the first entry's deadline, finds the later entry not yet due and waits for it.
TEST_CASE("an entry delivered after an ack is redelivered at its own deadline, not earlier") {
  World w(ack_options());
  w.add();
  auto c = w.connect("u");
  frames(*c);
  REQUIRE(w.notify({"u"}).ok());
  c->send(R"({"op":"ack","seq":1})");
  w.executor->run();
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
  w.executor->advance(std::chrono::milliseconds(600));
  REQUIRE(w.notify({"u"}).ok());  // due 600 ms after the first one's deadline
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{2});

  w.executor->advance(std::chrono::milliseconds(999));  // past entry 1's deadline only
  CHECK(frames(*c).empty());
  w.executor->advance(std::chrono::milliseconds(1));
  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["seq"] == 2);
  CHECK(fs[0]["attempt"] == 2);
  c->send(R"({"op":"ack","seq":2})");
  w.executor->run();
  w.executor->advance(seconds(30));
  CHECK(frames(*c).empty());
  CHECK(w.engine().metrics().redelivered.value() == 1);
}
TEST_CASE("a session never has more than max_unacked entries in flight - acks open the window") {
  EngineOptions o = ack_options();
  o.max_unacked = 4;
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);
  for (int i = 0; i < 10; ++i) REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == range(1, 4));
  c->send(R"({"op":"ack","seq":2})");
  w.executor->run();
  CHECK(seqs(frames(*c), "inbox:u") == range(5, 6));
  c->send(R"({"op":"ack","seq":6})");
  w.executor->run();
  CHECK(seqs(frames(*c), "inbox:u") == range(7, 10));
}

// A plain ack ({"op":"ack","seq":N}, as clients send it) is applied by the engine's next
// task, or by a timer after ack_batch_delay when nothing else runs: it never costs a task,
// and a wake-up of the engine's thread, of its own.
TEST_CASE("a plain ack waits for the engine's next task or ack_batch_delay, never for itself") {
  World w(ack_options());
  const Duration batch = EngineOptions{}.ack_batch_delay;
  REQUIRE(batch > Duration(0));
  w.add();
  auto c = w.connect("u");
  frames(*c);
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == range(1, 3));

  c->send(R"({"op":"ack","seq":1})");
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 0);  // waits: nothing else ran
  w.executor->advance(batch);
  CHECK(w.engine().metrics().acked.value() == 1);  // the timer applied it

  c->send(R"({"op":"ack","seq":2})");
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 1);
  REQUIRE(w.notify({"u"}).ok());  // the publish's first task applies it: no timer needed
  CHECK(w.engine().metrics().acked.value() == 2);
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{4});

  // Any other form of an ack is a task of its own, as before.
  c->send(R"({"op":"ack","seq":"3"})");
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 3);

  // A plain ack beyond what was delivered gets its error once applied, and changes nothing.
  c->send(R"({"op":"ack","seq":99})");
  w.executor->advance(batch);
  auto fs = frames(*c);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0]["op"] == "error");
  CHECK(fs[0]["code"] == "invalid_argument");
  CHECK(w.engine().metrics().acked.value() == 3);

  // A waiting ack is applied before the session's close: the stored cursor has it.
  c->send(R"({"op":"ack","seq":4})");
  c->close();
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 4);
  auto c2 = w.connect("u");
  fs = frames(*c2);
  CHECK(fs[0]["cursor"] == 4);
  CHECK(seqs(fs, "inbox:u").empty());
}

TEST_CASE("a waiting ack stops the redelivery whose timer fires before the batch's") {
  EngineOptions o = ack_options();
  o.ack_batch_delay = std::chrono::milliseconds(500);
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);
  REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{1});
  w.executor->advance(std::chrono::milliseconds(900));
  c->send(R"({"op":"ack","seq":1})");  // 100 ms before the ack timeout, 500 before the batch
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 0);
  w.executor->advance(std::chrono::milliseconds(100));  // the ack timer fires first
  CHECK(w.engine().metrics().acked.value() == 1);
  CHECK(frames(*c).empty());
  CHECK(w.engine().metrics().redelivered.value() == 0);
}

TEST_CASE(
    "acks are applied at once while a full window holds entries back, and with no batch delay") {
  EngineOptions o = ack_options();
  o.max_unacked = 2;
  World w(o);
  w.add();
  auto c = w.connect("u");
  frames(*c);
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*c), "inbox:u") == range(1, 2));  // 3 waits behind the window
  c->send(R"({"op":"ack","seq":2})");
  w.executor->run();  // no clock moves: the ack was posted
  CHECK(seqs(frames(*c), "inbox:u") == std::vector<Seq>{3});
  // The window has room again: the next ack waits as usual.
  c->send(R"({"op":"ack","seq":3})");
  w.executor->run();
  CHECK(w.engine().metrics().acked.value() == 2);
  w.executor->advance(EngineOptions{}.ack_batch_delay);
  CHECK(w.engine().metrics().acked.value() == 3);

  o.max_unacked = 256;
  o.ack_batch_delay = Duration(0);
  World w0(o);
  w0.add();
  auto c0 = w0.connect("u");
  frames(*c0);
  REQUIRE(w0.notify({"u"}).ok());
  c0->send(R"({"op":"ack","seq":1})");
  w0.executor->run();
  CHECK(w0.engine().metrics().acked.value() == 1);
}

TEST_CASE("a slow consumer is closed with a reason and recovers by cursor without a gap") {
  World w(small_queue_options());
  w.add();
  auto c = w.connect("u");
  frames(*c);
  const std::string data = "\"" + std::string(300, 'x') + "\"";
  for (int i = 0; i < 40; ++i) REQUIRE(w.notify({"u"}, data).ok());
  CHECK(c->closed());
  CHECK(c->close_code() == CloseCode::slow_consumer);
  CHECK(c->close_reason().find("reconnect") != std::string::npos);
  CHECK(w.engine().metrics().slow_consumers.value() == 1);
  // What was queued before the close is still readable; all of it fits the bound.
  auto got = frames(*c);
  auto first = seqs(got, "inbox:u");
  REQUIRE_FALSE(first.empty());
  CHECK(first.size() < 40);
  CHECK(first == range(1, first.size()));
  CHECK(w.engine().metrics().connections.value() == 0);

  // The reconnecting client's backlog (far over the bound) is paced by its reading: it is
  // not closed, and it gets exactly what it missed.
  for (int i = 40; i < 200; ++i) REQUIRE(w.notify({"u"}, data).ok());
  auto c2 = w.connect("u", 0, {{"since", std::to_string(first.back())}});
  auto rest = seqs(drain(w, *c2), "inbox:u");
  CHECK_FALSE(c2->closed());
  CHECK(rest == range(first.back() + 1, 200));
  CHECK(w.engine().metrics().slow_consumers.value() == 1);
}

TEST_CASE(
    "written reports wake the engine only for a paused replay - the queue bound counts every "
    "report made") {
  World w(small_queue_options());
  w.add();
  auto c = w.connect("u");
  frames(*c);
  w.executor->run();
  const std::string data = "\"" + std::string(300, 'x') + "\"";
  // A client that reads each frame at once: ~15 KB in all, over the 4 KB bound unless the
  // reports of what it read count. Nobody waits for them, so they post no engine task (a
  // report from a transport's thread would wake the engine's for nothing); the bound check
  // takes them.
  for (int i = 0; i < 40; ++i) {
    REQUIRE(w.notify({"u"}, data).ok());
    REQUIRE(seqs(frames(*c), "inbox:u") == std::vector<Seq>{static_cast<Seq>(i + 1)});
    CHECK(w.executor->run() == 0);
  }
  CHECK_FALSE(c->closed());
  CHECK(w.engine().metrics().slow_consumers.value() == 0);

  // A replay paced by the client's reading still goes on report by report (each report is
  // posted while the replay waits for room), to the end.
  c->close();
  w.executor->run();
  for (int i = 40; i < 200; ++i) REQUIRE(w.notify({"u"}, data).ok());
  auto c2 = w.connect("u", 0, {{"since", "40"}});
  CHECK(seqs(drain(w, *c2), "inbox:u") == range(41, 200));
  CHECK_FALSE(c2->closed());
}

TEST_CASE("resume by (seq, epoch) - a stale epoch or an impossible seq gets an explicit reset") {
  World w;
  w.add();
  for (int i = 0; i < 5; ++i) REQUIRE(w.notify({"u"}).ok());
  const std::string epoch = std::to_string(w.store->epoch());

  auto c = w.connect("u", 0, {{"since", "2"}, {"epoch", epoch}});
  auto fs = frames(*c);
  CHECK(fs[0]["cursor"] == 2);
  CHECK(seqs(fs, "inbox:u") == range(3, 5));
  CHECK(only(fs, "reset").empty());

  auto stale = w.connect("u", 0, {{"since", "2"}, {"epoch", "12345"}});
  fs = frames(*stale);
  REQUIRE(fs.size() == 2);
  CHECK(fs[0]["op"] == "welcome");
  CHECK(fs[0]["cursor"] == 5);
  CHECK(fs[1]["op"] == "reset");
  CHECK(fs[1]["stream"] == "inbox:u");
  CHECK(fs[1]["reason"] == "epoch_changed");
  CHECK(fs[1]["epoch"] == epoch);
  CHECK(fs[1]["head"] == 5);
  // After the reset the session is live from the head.
  REQUIRE(w.notify({"u"}).ok());
  CHECK(seqs(frames(*stale), "inbox:u") == std::vector<Seq>{6});

  auto ahead = w.connect("u", 0, {{"since", "99"}, {"epoch", epoch}});
  fs = frames(*ahead);
  REQUIRE(only(fs, "reset").size() == 1);
  CHECK(only(fs, "reset")[0]["reason"] == "ahead_of_stream");
  CHECK(seqs(fs, "inbox:u").empty());
  CHECK(w.engine().metrics().resume_refused.value() == 2);

  auto bad = w.connect("u", 0, {{"since", "-1"}});
  CHECK(bad->closed());
  CHECK(bad->close_code() == CloseCode::protocol_error);
}

TEST_CASE("a store that lost its history (new epoch) makes resuming clients reload") {
  World w;
  w.add();
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"u"}).ok());
  const std::string old_epoch = std::to_string(w.store->epoch());
  // The "restarted" store is a second World: same client cursor, new history.
  World w2;
  w2.add();
  REQUIRE(w2.notify({"u"}).ok());
  auto c = w2.connect("u", 0, {{"since", "3"}, {"epoch", old_epoch}});
  auto fs = frames(*c);
  REQUIRE(only(fs, "reset").size() == 1);
  CHECK(only(fs, "reset")[0]["reason"] == "epoch_changed");
  CHECK(seqs(fs, "inbox:u").empty());  // never a silent partial replay
}

TEST_CASE("race: a user connecting while a publish is in flight gets it exactly once") {
  // Start the publish after k executor steps of the connect, for every k up to the point
  // where the connect is complete: every interleaving of the two flows is covered.
  for (std::size_t k = 0; k < 40; ++k) {
    CAPTURE(k);
    World w;
    w.add();
    REQUIRE(w.notify({"u"}).ok());  // seq 1: backlog
    Handshake hs;
    hs.query["userId"] = "u";
    auto c = w.instances[0].transport->connect(hs);
    for (std::size_t i = 0; i < k; ++i) w.executor->run_one();
    PublishRequest r;
    r.target = Target::to_users({"u"});
    r.type = "t";
    bool done = false;
    w.engine().publish(r, [&](Result<PublishResult> x) { done = x.ok(); });
    w.executor->run();
    REQUIRE(done);
    CHECK(seqs(frames(*c), "inbox:u") == range(1, 2));
  }
}

TEST_CASE("race: a user who disconnects between the presence check and the write gets it on reconnect") {
  for (std::size_t k = 0; k < 30; ++k) {
    CAPTURE(k);
    World w;
    w.add();
    w.add();
    auto c = w.connect("u", 1);  // on instance 1; publish from instance 0
    frames(*c);
    PublishRequest r;
    r.target = Target::to_users({"u"});
    r.type = "t";
    bool done = false;
    w.engine(0).publish(r, [&](Result<PublishResult> x) { done = x.ok(); });
    for (std::size_t i = 0; i < k; ++i) w.executor->run_one();
    c->close();
    w.executor->run();
    REQUIRE(done);
    // Whatever the first session got before closing is not acknowledged: the new one
    // resumes from the stored ack cursor and gets the entry.
    auto c2 = w.connect("u", 0);
    CHECK(seqs(frames(*c2), "inbox:u") == std::vector<Seq>{1});
  }
}

TEST_CASE("redelivery: an entry sent while the ack timer waits for a backed-off redelivery is "
          "redelivered on its own time") {
  EngineOptions o = World::defaults();
  o.ack_timeout = std::chrono::seconds(1);
  o.redelivery_backoff = 2.0;
  World w(o);
  w.add();
  auto c = w.connect("u");
  drain(w, *c);
  REQUIRE(w.notify({"u"}).ok());  // seq 1 at t=0, due t=1
  CHECK(seqs(drain(w, *c), "inbox:u") == std::vector<Seq>{1});
  w.executor->advance(std::chrono::seconds(1));  // seq 1 again (attempt 2), next due t=3
  CHECK(seqs(drain(w, *c), "inbox:u") == std::vector<Seq>{1});
  REQUIRE(w.notify({"u"}).ok());  // seq 2 at t=1, due t=2
  CHECK(seqs(drain(w, *c), "inbox:u") == std::vector<Seq>{2});
  w.executor->advance(std::chrono::seconds(1));  // t=2: seq 2's redelivery, not seq 1's
  CHECK(seqs(drain(w, *c), "inbox:u") == std::vector<Seq>{2});
  w.executor->advance(std::chrono::seconds(1));  // t=3: seq 1's third attempt
  CHECK(seqs(drain(w, *c), "inbox:u") == std::vector<Seq>{1});
}
