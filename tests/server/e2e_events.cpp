// End to end: outcome events (docs/events.md) from real herald-server processes to a
// webhook receiver in the test (webhook_receiver.hpp): each kind of event, the signature,
// retries and the failed listing, one user.online / user.offline across two instances, and
// the Redis Stream output.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "e2e_helpers.hpp"
#include "server_process.hpp"
#include "webhook_receiver.hpp"
#include "webhook_signature.hpp"
#if defined(HERALD_SERVER_WITH_REDIS)
#include "support/redis_client.hpp"
#include "support/redis_server.hpp"
#endif
#if defined(HERALD_SERVER_WITH_REDIS) && defined(HERALD_SERVER_WITH_POSTGRES)
#include "pg_server.hpp"
#endif

using namespace herald::server::test;
using herald::server::webhook_signature_valid;
using Requests = std::vector<WebhookReceiver::Request>;

namespace {

const std::string kWebhookSecret = "test-secret";

json to_user(const std::string& user, const std::string& type = "message") {
  return {{"to", {{"users", {user}}}}, {"type", type}, {"data", {{"text", "hi"}}}};
}

// "<event> <user>" of each delivered event, in arrival order.
std::vector<std::string> kinds(const Requests& requests) {
  std::vector<std::string> out;
  for (const json& e : WebhookReceiver::delivered(requests))
    out.push_back(e["event"].get<std::string>() + " " + e["user"].get<std::string>());
  return out;
}

std::vector<std::string> kinds(const WebhookReceiver& hook) { return kinds(hook.requests()); }

std::size_t count(const std::vector<std::string>& v, const std::string& item) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), item));
}

// Waits until `item` was delivered at least once.
bool heard(WebhookReceiver& hook, const std::string& item) {
  return hook.wait_for([&](const Requests& r) { return count(kinds(r), item) > 0; });
}

}  // namespace

TEST_CASE("events e2e: online, undelivered, dead_lettered, read and offline reach a signed webhook") {
  WebhookReceiver hook;
  ServerProcess server({"--webhook-url", hook.url(), "--webhook-secret", kWebhookSecret,
                        "--webhook-batch-wait", "0.02", "--offline-after", "0.3",
                        "--ack-timeout", "0.2", "--max-delivery-attempts", "2",
                        "--rate-limit", "0"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());

  json welcome;
  auto alice = session(server.port(), "userId=alice", &welcome);
  REQUIRE(heard(hook, "user.online alice"));

  post(http, "/notify", to_user("bob"));  // bob never connects
  REQUIRE(heard(hook, "notification.undelivered bob"));

  post(http, "/notify", to_user("alice", "never.acked"));  // alice reads but never acks
  REQUIRE(alice->next_op("notification").is_object());
  REQUIRE(heard(hook, "notification.dead_lettered alice"));

  post(http, "/users/alice/notifications/read", json{{"seqs", {1}}}, 200);
  REQUIRE(heard(hook, "notification.read alice"));

  alice->close();
  REQUIRE(heard(hook, "user.offline alice"));

  const std::vector<std::string> got = kinds(hook);
  CHECK(count(got, "user.online alice") == 1);
  CHECK(count(got, "user.offline alice") == 1);
  CHECK(count(got, "notification.undelivered bob") == 1);
  CHECK(count(got, "notification.undelivered alice") == 0);  // she was online
  for (const json& e : hook.delivered()) {
    if (e["event"] == "notification.dead_lettered") {
      CHECK(e["attempts"] == 2);
      CHECK(e["notification"]["type"] == "never.acked");
      CHECK(e["notification"]["stream"] == "inbox:alice");
    }
    if (e["event"] == "notification.read") CHECK(e["changed"] == 1);
  }

  // Every request is signed; a changed body, timestamp or secret does not verify.
  for (const auto& r : hook.requests()) {
    const std::string& ts = r.headers.at("herald-timestamp");
    const std::string& sig = r.headers.at("herald-signature");
    CHECK(sig.rfind("v1=", 0) == 0);
    CHECK(webhook_signature_valid(kWebhookSecret, ts, r.body, sig));
    CHECK_FALSE(webhook_signature_valid(kWebhookSecret, ts, r.body + " ", sig));
    CHECK_FALSE(webhook_signature_valid("wrong", ts, r.body, sig));
    CHECK_FALSE(webhook_signature_valid(kWebhookSecret, ts + "0", r.body, sig));
  }
}

TEST_CASE("events e2e: a batch answered 500 three times is retried and delivered once more") {
  WebhookReceiver hook({500, 500, 500});
  ServerProcess server({"--webhook-url", hook.url(), "--webhook-secret", kWebhookSecret,
                        "--webhook-batch-wait", "0.02", "--webhook-backoff", "0.05",
                        "--webhook-max-attempts", "5", "--offline-after", "0"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  post(http, "/notify", to_user("carol"));
  REQUIRE(hook.wait_for([](const Requests& r) { return r.size() >= 4; }));

  const Requests reqs = hook.requests();
  REQUIRE(reqs.size() == 4);  // three 500s, one 200, no more
  for (const auto& r : reqs) {
    CHECK(json::parse(r.body) == json::parse(reqs[0].body));  // the same events each time
    CHECK(webhook_signature_valid(kWebhookSecret, r.headers.at("herald-timestamp"), r.body,
                                  r.headers.at("herald-signature")));
  }
  CHECK(kinds(hook) == std::vector<std::string>{"notification.undelivered carol"});
  CHECK(metric_becomes(http, "herald_webhook_sent_total", 1));
  const std::string m = http.request("GET", "/metrics").body;
  CHECK(metric(m, "herald_webhook_retried_total") == 3);
  CHECK(metric(m, "herald_webhook_failed_total") == 0);
  CHECK(metric(m, "herald_webhook_pending") == 0);
}

TEST_CASE("events e2e: a batch that exhausted its attempts is listed, counted and can be retried") {
  WebhookReceiver hook({503, 503});
  ServerProcess server({"--webhook-url", hook.url(), "--webhook-batch-wait", "0.02",
                        "--webhook-backoff", "0.05", "--webhook-max-attempts", "2",
                        "--offline-after", "0"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  post(http, "/notify", to_user("dave"));
  json failed;
  REQUIRE(eventually_get(http, "/admin/webhooks/failed", [&](int status, const json& body) {
    failed = body;
    return status == 200 && body["batches"].size() == 1;
  }));
  const json& batch = failed["batches"][0];
  CHECK(batch["attempts"] == 2);
  CHECK(batch["status"] == 503);
  REQUIRE(batch["events"].size() == 1);
  CHECK(batch["events"][0]["event"] == "notification.undelivered");
  CHECK(batch["events"][0]["user"] == "dave");
  const std::string m = http.request("GET", "/metrics").body;
  CHECK(metric(m, "herald_webhook_failed_total") == 1);
  CHECK(metric(m, "herald_webhook_failed_batches") == 1);
  CHECK(metric(m, "herald_webhook_retried_total") == 1);
  CHECK(hook.delivered().empty());

  // Sent again on request; the receiver now answers 200.
  post(http, "/admin/webhooks/failed/" + batch["id"].get<std::string>() + "/retry", json::object(),
       202);
  REQUIRE(heard(hook, "notification.undelivered dave"));
  CHECK(get(http, "/admin/webhooks/failed")["batches"].empty());
  post(http, "/admin/webhooks/failed/999/retry", json::object(), 404);
}

TEST_CASE("events e2e: --offline-after waits before notification.undelivered") {
  WebhookReceiver hook;
  ServerProcess server({"--webhook-url", hook.url(), "--webhook-batch-wait", "0.02",
                        "--offline-after", "600"});  // longer than the test
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  post(http, "/notify", to_user("erin"));
  json welcome;
  auto marker = session(server.port(), "userId=marker", &welcome);
  REQUIRE(heard(hook, "user.online marker"));  // later than the publish: in order
  CHECK(count(kinds(hook), "notification.undelivered erin") == 0);
}

// At SIGTERM the webhook sends what it holds at once instead of waiting for its batch to
// fill: the events of a server's last moments reach the receiver before it exits.
TEST_CASE("events e2e: a graceful stop sends the queued events before the process exits") {
  WebhookReceiver hook;
  ServerProcess server(
      {"--webhook-url", hook.url(), "--webhook-batch-wait", "60", "--offline-after", "0"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  post(http, "/notify", to_user("gina"));
  REQUIRE(metric_becomes(http, "herald_webhook_pending", 1));  // waiting for its batch
  CHECK(hook.requests().empty());
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(kinds(hook) == std::vector<std::string>{"notification.undelivered gina"});
  CHECK(server.log().find("event=events_drained") != std::string::npos);
  CHECK(server.log().find("shutdown_forced") == std::string::npos);
}

// A receiver that keeps failing cannot hold the shutdown past its bound: the drain gives up
// just before it and the process still stops by itself.
TEST_CASE("events e2e: a graceful stop does not wait for a failing receiver past the bound") {
  WebhookReceiver hook(std::vector<int>(1000, 503));
  ServerProcess server({"--webhook-url", hook.url(), "--webhook-batch-wait", "60",
                        "--webhook-backoff", "0.05", "--webhook-max-attempts", "100",
                        "--offline-after", "0", "--shutdown-timeout", "3"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  post(http, "/notify", to_user("hank"));
  REQUIRE(metric_becomes(http, "herald_webhook_pending", 1));
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(hook.requests().size() >= 2);  // it was retried while draining
  CHECK(hook.delivered().empty());
  CHECK(server.log().find("event=events_drained") != std::string::npos);
  CHECK(server.log().find("shutdown_forced") == std::string::npos);
}

#if defined(HERALD_SERVER_WITH_REDIS)

TEST_CASE("events e2e: --events appends each event to a Redis Stream") {
  herald::test::RedisServer redis;
  ServerProcess server({"--events", redis.url() + "/herald-events", "--offline-after", "0"});
  REQUIRE_MESSAGE(server.port() != 0, server.log());
  HttpClient http(server.port());
  json welcome;
  auto frank = session(server.port(), "userId=frank", &welcome);
  post(http, "/notify", to_user("gina"));
  herald::test::RedisClient r(redis.port());
  std::vector<std::string> got;
  const auto until = std::chrono::steady_clock::now() + Millis(15'000);
  while (got.size() < 2 && std::chrono::steady_clock::now() < until) {
    got.clear();
    for (const json& entry : r.command({"XRANGE", "herald-events", "-", "+"})) {
      REQUIRE(entry[1][0] == "event");
      const json e = json::parse(entry[1][1].get<std::string>());
      got.push_back(e["event"].get<std::string>() + " " + e["user"].get<std::string>());
    }
    if (got.size() < 2) std::this_thread::sleep_for(Millis(20));
  }
  CHECK(got == std::vector<std::string>{"user.online frank", "notification.undelivered gina"});
}

#endif

#if defined(HERALD_SERVER_WITH_REDIS) && defined(HERALD_SERVER_WITH_POSTGRES)

TEST_CASE("events e2e: one user.online and one user.offline across two instances") {
  herald::test::RedisServer redis;
  herald::postgres::test::PgServer postgres;
  WebhookReceiver hook;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  for (const char* name : {"a", "b"}) {
    nodes.push_back(std::make_unique<ServerProcess>(std::vector<std::string>{
        "--redis", redis.url(), "--postgres", postgres.url(), "--instance-id", name,
        "--webhook-url", hook.url(), "--webhook-batch-wait", "0.02", "--offline-after", "0"}));
    REQUIRE_MESSAGE(nodes.back()->port() != 0, nodes.back()->log());
  }
  HttpClient on_a(nodes[0]->port());
  json welcome;
  auto s1 = session(nodes[0]->port(), "userId=hal", &welcome);
  auto s2 = session(nodes[1]->port(), "userId=hal", &welcome);
  REQUIRE(eventually_get(on_a, "/users/hal/presence",
                         [](int status, const json& b) { return status == 200 && b["sessions"].size() == 2; }));
  s1->close();
  // Once the registry shows one session, instance a has its answer to remove_session; a
  // marker event emitted by a after that arrives after any offline event a would send.
  REQUIRE(eventually_get(on_a, "/users/hal/presence",
                         [](int status, const json& b) { return status == 200 && b["sessions"].size() == 1; }));
  post(on_a, "/notify", to_user("marker"));
  REQUIRE(heard(hook, "notification.undelivered marker"));
  CHECK(count(kinds(hook), "user.offline hal") == 0);  // hal is still online on b
  s2->close();
  REQUIRE(heard(hook, "user.offline hal"));
  // A second marker, from b (where the offline happened): nothing else arrives before it.
  HttpClient on_b(nodes[1]->port());
  post(on_b, "/notify", to_user("marker2"));
  REQUIRE(heard(hook, "notification.undelivered marker2"));
  post(on_a, "/notify", to_user("marker3"));
  REQUIRE(heard(hook, "notification.undelivered marker3"));
  const std::vector<std::string> got = kinds(hook);
  CHECK(count(got, "user.online hal") == 1);
  CHECK(count(got, "user.offline hal") == 1);
}

#endif
