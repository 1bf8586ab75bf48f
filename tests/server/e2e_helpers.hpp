#pragma once
// Helpers of the end-to-end tests: REST calls and WebSocket sessions against a running
// herald-server (tests/server/server_process.hpp), with the test clients of
// backends/websocket/tests/ws_client.hpp.

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ws_client.hpp"

namespace herald::server::test {

using herald::websocket::test::HttpClient;
using herald::websocket::test::json;
using herald::websocket::test::WsClient;
using Millis = std::chrono::milliseconds;

inline json seed003(json user, const std::string& message, json target, const std::string& type) {
  json j = {{"userId", user}, {"message", message}, {"type", type}};
  if (!target.is_null()) j["target"] = target;
  return j;
}

// POSTs `body`; returns the parsed answer and checks its status.
inline json post(HttpClient& h, const std::string& target, const json& body, int status = 202) {
  auto r = h.request("POST", target, body.dump());
  CHECK_MESSAGE(r.status == status, target << " -> " << r.status << " " << r.body);
  return json::parse(r.body, nullptr, false);
}

inline json get(HttpClient& h, const std::string& target) {
  auto r = h.request("GET", target);
  CHECK_MESSAGE(r.status == 200, target << " -> " << r.status << " " << r.body);
  return json::parse(r.body, nullptr, false);
}

// Opens a session and returns it with its welcome frame read.
inline std::unique_ptr<WsClient> session(std::uint16_t port, const std::string& query, json* welcome) {
  auto c = std::make_unique<WsClient>(port, "/ws?" + query);
  REQUIRE_MESSAGE(c->ok(), "handshake status " << c->status());
  json w = c->next_op("welcome");
  REQUIRE(w.is_object());
  if (welcome) *welcome = w;
  return c;
}

// The next `n` notification frames of `stream`, in arrival order (fewer on timeout).
inline std::vector<json> notes(WsClient& c, const std::string& stream, std::size_t n,
                        Millis timeout = Millis(5000)) {
  std::vector<json> out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    json f = c.next_op("notification", left);
    if (f.is_null()) break;
    if (f["stream"] == stream) out.push_back(f);
  }
  return out;
}

inline std::vector<std::uint64_t> seqs_of(const std::vector<json>& fs) {
  std::vector<std::uint64_t> out;
  for (const json& f : fs) out.push_back(f["seq"].get<std::uint64_t>());
  return out;
}

// Asks `GET target` until `ok(status, body)` holds (bounded: the servers change state on
// their own timers, e.g. a registry TTL or a reconnect backoff).
inline bool eventually_get(HttpClient& h, const std::string& target,
                           const std::function<bool(int, const json&)>& ok,
                           Millis limit = Millis(15'000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto r = h.request("GET", target);
    if (ok(r.status, json::parse(r.body, nullptr, false))) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(Millis(50));
  }
}

// The value of the Prometheus sample `name` in a /metrics text; -1 if it has none.
inline long long metric(const std::string& text, const std::string& name) {
  const std::size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

// The server's Prometheus sample `name` now (GET /metrics); -1 if it has none.
inline long long metric(HttpClient& h, const std::string& name) {
  return metric(h.request("GET", "/metrics").body, name);
}

// Asks /metrics until `name` is `value` (bounded: servers count on their own timers, or
// after the answer a client already has).
inline bool metric_becomes(HttpClient& h, const std::string& name, long long value) {
  const auto until = std::chrono::steady_clock::now() + Millis(15'000);
  while (metric(h, name) != value) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(Millis(20));
  }
  return true;
}

}  // namespace herald::server::test
