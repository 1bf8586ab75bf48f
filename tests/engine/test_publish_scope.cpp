// Engine rules that depend on who publishes (PublishRequest::principal): idempotency keys
// scoped per principal with a 409-style conflict on a different request, and the rate
// limit of publishes without a sender. Also dead letters: listing, retry, discard.

#include "support/engine_fixture.hpp"

using namespace herald;
using namespace herald::test;
using std::chrono::seconds;

namespace {

PublishRequest keyed(std::vector<UserId> users, std::string type, std::string principal,
                     std::string key = "k-1") {
  PublishRequest r;
  r.target = Target::to_users(std::move(users));
  r.type = std::move(type);
  r.principal = std::move(principal);
  r.idempotency_key = std::move(key);
  return r;
}

std::uint64_t unread(World& w, const UserId& user) {
  return w.ask<std::uint64_t>([&](auto cb) { w.engine().unread_count(user, cb); }).value();
}

EngineOptions dead_letter_options() {
  EngineOptions o = World::defaults();
  o.ack_timeout = seconds(1);
  o.max_delivery_attempts = 2;
  o.redelivery_backoff = 1.0;
  return o;
}

// Lets the session's deliveries of its unacked entries run out: dead letters.
void exhaust_attempts(World& w) {
  for (int i = 0; i < 3; ++i) w.executor->advance(seconds(1));
}

}  // namespace

TEST_CASE("idempotency: one principal's key never hides another's notification") {
  World w;
  w.add();
  Result<PublishResult> first = w.publish(keyed({"u9"}, "t", "addr:10.0.0.1"));
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);

  Result<PublishResult> other = w.publish(keyed({"zzz"}, "other", "addr:10.0.0.2"));
  REQUIRE(other.ok());
  CHECK_FALSE(other->duplicate);
  CHECK(other->streams_written == 1);
  CHECK(unread(w, "zzz") == 1);
}

TEST_CASE(
    "idempotency: the same key with another request is a conflict - the same one a duplicate") {
  World w;
  w.add();
  PublishRequest original = keyed({"u9"}, "t", "addr:10.0.0.1");
  original.data = R"({"n":1})";
  Result<PublishResult> first = w.publish(original);
  REQUIRE(first.ok());

  Result<PublishResult> again = w.publish(original);
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->id == first->id);

  // Each part of the request counts: recipients, type, data, sender, expiry.
  std::vector<PublishRequest> changed(5, original);
  changed[0].target = Target::to_users({"zzz"});
  changed[1].type = "other";
  changed[2].data = R"({"n":2})";
  changed[3].sender = "alice";
  changed[4].expires_at = w.executor->now() + std::chrono::hours(1);
  for (PublishRequest& r : changed) {
    Result<PublishResult> conflict = w.publish(r);
    REQUIRE_FALSE(conflict.ok());
    CHECK(conflict.status().code() == Errc::idempotency_conflict);
  }
  CHECK(unread(w, "zzz") == 0);
  CHECK(unread(w, "u9") == 1);
  CHECK(w.engine().metrics().duplicates.value() == 1);

  // The users of a target are a set: another order (or a repeat) is the same request.
  PublishRequest two = keyed({"a", "b"}, "t", "p", "k-2");
  REQUIRE(w.publish(two).ok());
  PublishRequest reordered = keyed({"b", "a", "b"}, "t", "p", "k-2");
  CHECK(w.publish(reordered)->duplicate);
}

TEST_CASE("rate limit: publishes without a sender share their principal's bucket") {
  EngineOptions o = World::defaults();
  o.rate_limit = {0.5, 2, true};
  World w(o);
  w.add();
  auto anonymous = [](std::string principal) {
    PublishRequest r;
    r.target = Target::to_users({"u"});
    r.type = "t";
    r.principal = std::move(principal);
    return r;
  };
  CHECK(w.publish(anonymous("addr:10.0.0.1")).ok());
  CHECK(w.publish(anonymous("addr:10.0.0.1")).ok());
  Result<PublishResult> limited = w.publish(anonymous("addr:10.0.0.1"));
  REQUIRE_FALSE(limited.ok());
  CHECK(limited.status().code() == Errc::rate_limited);
  // Another principal, and a sender named like the principal, have buckets of their own.
  CHECK(w.publish(anonymous("addr:10.0.0.2")).ok());
  PublishRequest named = anonymous("addr:10.0.0.1");
  named.sender = "addr:10.0.0.1";
  CHECK(w.publish(named).ok());
  // In-process publishes naming neither are not limited.
  for (int i = 0; i < 5; ++i) CHECK(w.publish(anonymous("")).ok());
  w.executor->advance(seconds(2));
  CHECK(w.publish(anonymous("addr:10.0.0.1")).ok());
}

TEST_CASE("dead letters: listed by seq, retried to every instance's sessions, or discarded") {
  World w(dead_letter_options());
  w.add();
  w.add();
  auto here = w.connect("u", 0);
  auto there = w.connect("u", 1);
  frames(*here);
  frames(*there);
  for (int i = 0; i < 3; ++i) REQUIRE(w.notify({"u"}, std::to_string(i)).ok());
  exhaust_attempts(w);
  frames(*here);
  frames(*there);
  Engine& e = w.engine();
  auto page = w.ask<std::vector<DeadLetter>>([&](auto cb) { e.dead_letters("u", 0, 2, cb); });
  REQUIRE(page.ok());
  REQUIRE(page->size() == 2);
  CHECK(page->at(0).seq == 1);
  CHECK(page->at(1).seq == 2);
  auto rest = w.ask<std::vector<DeadLetter>>([&](auto cb) { e.dead_letters("u", 2, 2, cb); });
  REQUIRE(rest->size() == 1);
  CHECK(rest->at(0).seq == 3);

  // Retry: both sessions (one on each instance) get seq 2 again, as attempt 1.
  REQUIRE(w.ask<void>([&](auto cb) { e.retry_dead_letter("u", 2, cb); }).ok());
  for (auto* c : {here.get(), there.get()}) {
    auto fs = frames(*c);
    REQUIRE(seqs(fs, "inbox:u") == std::vector<Seq>{2});
    CHECK(only(fs, "notification")[0].value("attempt", 1) == 1);  // a first attempt
    CHECK(only(fs, "notification")[0]["data"] == 1);
  }
  auto left = w.ask<std::vector<DeadLetter>>([&](auto cb) { e.dead_letters("u", 0, 10, cb); });
  REQUIRE(left->size() == 2);
  CHECK(left->at(1).seq == 3);
  // With fresh attempts: an ack settles it; unacked, it is redelivered, then dead again.
  here->send(R"({"op":"ack","seq":2})");
  w.executor->run();
  w.executor->advance(seconds(1));
  CHECK(frames(*here).empty());
  CHECK(seqs(frames(*there), "inbox:u") == std::vector<Seq>{2});  // attempt 2

  // A second retry of the same seq finds no dead letter (the entry is in flight again).
  auto twice = w.ask<void>([&](auto cb) { e.retry_dead_letter("u", 2, cb); });
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().code() == Errc::not_found);

  // Discard: the dead letter goes, the inbox entry stays.
  CHECK(w.ask<bool>([&](auto cb) { e.discard_dead_letter("u", 3, cb); }).value());
  CHECK_FALSE(w.ask<bool>([&](auto cb) { e.discard_dead_letter("u", 3, cb); }).value());
  CHECK(unread(w, "u") == 3);

  // An entry that left the inbox cannot be retried; its dead letter is dropped.
  REQUIRE(w.ask<std::uint64_t>([&](auto cb) { e.remove("u", {1}, cb); }).value() == 1);
  auto gone = w.ask<void>([&](auto cb) { e.retry_dead_letter("u", 1, cb); });
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == Errc::not_found);
  auto after = w.ask<std::vector<DeadLetter>>([&](auto cb) { e.dead_letters("u", 0, 10, cb); });
  CHECK(after->empty());
}
