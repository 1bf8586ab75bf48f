// Broker conformance suite: the Broker contract (include/herald/broker.hpp), run against
// every Broker backend. Brokers of one fixture reach each other; each case uses channel
// names of its own. Lossy faults are not part of this suite (at-most-once allows loss, but
// a healthy backend on a healthy network does not lose messages, and these cases rely on
// that).
//
// Absence ("B did not receive m") is shown without sleeping, by per-channel FIFO: after m,
// the same publisher sends a marker on the same channel to a point where B listens again;
// once the marker arrived, m would have arrived before it.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conformance/harness.hpp"
#include "herald/broker.hpp"

namespace herald::conformance {
namespace {

// A started broker with what it reported.
struct Node {
  std::unique_ptr<Broker> broker;
  Recorder recorder;
};

class BrokerCase {
 public:
  Harness h;  // before the brokers: destroyed after them

  // A broker of the fixture, started, reporting to a fresh Recorder.
  Node& node() {
    auto n = std::make_unique<Node>();
    n->broker = fixture().make_broker(h.executor());
    REQUIRE_MESSAGE(static_cast<bool>(n->broker), "make_broker() gave null");
    const BrokerEvents events = n->recorder.events();
    require_ok(h.wait<void>([&](auto done) { n->broker->start(events, done); }, "start"), "start");
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  void subscribe(Node& n, const std::string& channel) {
    require_ok(h.wait<void>([&](auto done) { n.broker->subscribe(channel, done); }, "subscribe"),
               "subscribe");
  }
  void unsubscribe(Node& n, const std::string& channel) {
    require_ok(
        h.wait<void>([&](auto done) { n.broker->unsubscribe(channel, done); }, "unsubscribe"),
        "unsubscribe");
  }
  void publish(Node& n, const std::string& channel, const std::string& payload) {
    require_ok(
        h.wait<void>([&](auto done) { n.broker->publish(channel, payload, done); }, "publish"),
        "publish");
  }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

using Payloads = std::vector<std::string>;

}  // namespace

TEST_CASE("Broker: a publish reaches every subscriber, the publisher included") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.reach";
  Node& a = c.node();
  Node& b = c.node();
  Node& late = c.node();
  c.subscribe(a, ch);
  c.subscribe(b, ch);
  c.subscribe(late, ch + ".elsewhere");

  c.publish(a, ch, "m1");
  a.recorder.wait_for(c.h, ch, "m1");
  b.recorder.wait_for(c.h, ch, "m1");

  // `late` was not subscribed to `ch` when m1 was sent: once it is, the next message on the
  // channel is the first it gets there.
  c.subscribe(late, ch);
  c.publish(b, ch, "m2");
  late.recorder.wait_for(c.h, ch, "m2");
  a.recorder.wait_for(c.h, ch, "m2");
  b.recorder.wait_for(c.h, ch, "m2");
  CHECK(late.recorder.payloads(ch) == Payloads{"m2"});
  CHECK(late.recorder.payloads(ch + ".elsewhere").empty());
  CHECK(a.recorder.payloads(ch) == Payloads{"m1", "m2"});
  CHECK(b.recorder.payloads(ch) == Payloads{"m1", "m2"});
  CHECK(a.recorder.resets() == 0);
}

TEST_CASE("Broker: payloads arrive unchanged") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.bytes";
  Node& a = c.node();
  Node& b = c.node();
  c.subscribe(b, ch);
  const std::string json = R"({"type":"notification","data":{"text":"Grüße, 世界 \"q\" \\ \n"}})";
  std::string big(64 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  c.publish(a, ch, json);
  c.publish(a, ch, big);
  c.publish(a, ch, "");
  b.recorder.wait_for_messages(c.h, 3);
  CHECK(b.recorder.payloads(ch) == Payloads{json, big, ""});
  // A publisher hears its own messages only on channels it subscribed to.
  CHECK(a.recorder.messages().empty());
}

TEST_CASE("Broker: an unsubscribed broker receives nothing on that channel") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.unsubscribe";
  Node& a = c.node();
  Node& b = c.node();
  c.subscribe(a, ch);
  c.subscribe(b, ch);
  c.publish(a, ch, "m1");
  b.recorder.wait_for(c.h, ch, "m1");

  c.unsubscribe(b, ch);
  c.unsubscribe(b, ch);  // idempotent
  c.unsubscribe(b, ch + ".never-subscribed");
  c.publish(a, ch, "m2");
  a.recorder.wait_for(c.h, ch, "m2");

  c.subscribe(b, ch);
  c.publish(a, ch, "m3");
  b.recorder.wait_for(c.h, ch, "m3");
  CHECK(b.recorder.payloads(ch) == Payloads{"m1", "m3"});
  a.recorder.wait_for(c.h, ch, "m3");
  CHECK(a.recorder.payloads(ch) == Payloads{"m1", "m2", "m3"});
}

TEST_CASE("Broker: subscribing twice delivers each message once") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.twice";
  Node& a = c.node();
  Node& b = c.node();
  c.subscribe(b, ch);
  c.subscribe(b, ch);
  c.publish(a, ch, "m1");
  c.publish(a, ch, "m2");
  b.recorder.wait_for(c.h, ch, "m2");
  CHECK(b.recorder.payloads(ch) == Payloads{"m1", "m2"});

  // One unsubscribe undoes both subscribes.
  c.unsubscribe(b, ch);
  c.publish(a, ch, "m3");
  c.subscribe(b, ch);
  c.publish(a, ch, "m4");
  b.recorder.wait_for(c.h, ch, "m4");
  CHECK(b.recorder.payloads(ch) == Payloads{"m1", "m2", "m4"});
}

TEST_CASE("Broker: 1,000 messages on one channel arrive in publish order") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.fifo";
  Node& a = c.node();
  Node& b = c.node();
  c.subscribe(a, ch);
  c.subscribe(b, ch);

  // Published back to back, without waiting for each completion.
  constexpr int kCount = 1'000;
  auto completed = std::make_shared<int>(0);
  auto failed = std::make_shared<int>(0);
  Payloads sent;
  for (int i = 0; i < kCount; ++i) {
    sent.push_back("msg-" + std::to_string(i));
    a.broker->publish(ch, sent.back(), Done(c.h.executor(), [completed, failed](Result<void> r) {
                        ++*completed;
                        if (!r.ok()) ++*failed;
                      }));
  }
  c.h.run_until([&] { return *completed == kCount; }, "1,000 publish completions");
  CHECK(*failed == 0);
  b.recorder.wait_for_messages(c.h, kCount);
  a.recorder.wait_for_messages(c.h, kCount);
  CHECK(b.recorder.payloads(ch) == sent);
  CHECK(a.recorder.payloads(ch) == sent);
}

TEST_CASE("Broker: channels are independent") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string x = "conformance.independent.x";
  const std::string y = "conformance.independent.y";
  Node& a = c.node();
  Node& both = c.node();
  Node& only_y = c.node();
  c.subscribe(both, x);
  c.subscribe(both, y);
  c.subscribe(only_y, y);

  c.publish(a, x, "x1");
  c.publish(a, y, "y1");
  c.publish(a, x, "x2");
  c.publish(a, y, "y2");
  both.recorder.wait_for(c.h, x, "x2");
  both.recorder.wait_for(c.h, y, "y2");
  only_y.recorder.wait_for(c.h, y, "y2");
  CHECK(both.recorder.payloads(x) == Payloads{"x1", "x2"});
  CHECK(both.recorder.payloads(y) == Payloads{"y1", "y2"});
  CHECK(only_y.recorder.payloads(y) == Payloads{"y1", "y2"});

  // only_y got nothing from x: subscribed now, the next x message is the first it sees.
  c.subscribe(only_y, x);
  c.publish(a, x, "x3");
  only_y.recorder.wait_for(c.h, x, "x3");
  CHECK(only_y.recorder.payloads(x) == Payloads{"x3"});

  // Unsubscribing from x leaves y alone.
  c.unsubscribe(both, x);
  c.publish(a, y, "y3");
  both.recorder.wait_for(c.h, y, "y3");
  CHECK(both.recorder.payloads(y) == Payloads{"y1", "y2", "y3"});
}

TEST_CASE("Broker: no event is reported after stop completed") {
  if (!have_broker()) return;
  BrokerCase c;
  const std::string ch = "conformance.stop";
  Node& a = c.node();
  Node& stopping = c.node();
  Node& witness = c.node();
  c.subscribe(a, ch);
  c.subscribe(stopping, ch);
  c.subscribe(witness, ch);
  c.publish(a, ch, "m1");
  stopping.recorder.wait_for(c.h, ch, "m1");

  // m2 may or may not be reported: it is in flight while stop runs. Nothing after stop's
  // completion may be.
  a.broker->publish(ch, "m2", Done(c.h.executor(), [](Result<void>) {}));
  auto heard_at_stop = std::make_shared<std::size_t>(0);
  auto stopped = std::make_shared<bool>(false);
  const Recorder& heard = stopping.recorder;
  stopping.broker->stop(Done(c.h.executor(), [=, &heard](Result<void> r) {
    CHECK(r.ok());
    *heard_at_stop = heard.messages().size();
    *stopped = true;
  }));
  c.h.run_until([&] { return *stopped; }, "stop completion");

  c.publish(a, ch, "m3");
  c.publish(witness, ch, "m4");
  witness.recorder.wait_for(c.h, ch, "m4");
  a.recorder.wait_for(c.h, ch, "m4");
  c.h.poll();
  CHECK(stopping.recorder.messages().size() == *heard_at_stop);
  CHECK(stopping.recorder.payloads(ch).size() <= 2);
  CHECK(witness.recorder.payloads(ch) == Payloads{"m1", "m2", "m3", "m4"});
}

}  // namespace herald::conformance
