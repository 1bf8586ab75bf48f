#pragma once
// RestApi under test: an engine on the deterministic World (ManualExecutor, in-memory
// backends) and a helper that sends one HTTP request through RestApi::handle() and runs the
// engine until the answer is there.

#include <cctype>
#include <map>
#include <optional>
#include <string>

#include "rest_api.hpp"
#include "support/engine_fixture.hpp"

namespace herald::server::test {

using herald::test::json;
using herald::test::World;

/// One answer, with the body parsed when it is JSON.
struct Reply {
  HttpResponse raw;
  json body;
  int responses = 0;  // how many times respond was called (must be 1)

  int status() const { return raw.status; }
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : raw.headers)
      if (k == name) return v;
    return {};
  }
  /// error.field, error.code of an error body ("" when absent).
  std::string field() const { return body["error"].value("field", ""); }
  std::string code() const { return body["error"].value("code", ""); }
};

inline std::string decode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

/// The request a transport would hand over for `target` ("/path?a=1&b=2").
inline HttpRequest make_request(std::string method, const std::string& target,
                                std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = target;
  const std::size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.path = r.path.find('%') == std::string::npos ? r.path : decode(r.path, false);
  if (q != std::string::npos) {
    std::string rest = target.substr(q + 1);
    while (!rest.empty()) {
      std::string pair = rest.substr(0, rest.find('&'));
      rest = pair.size() < rest.size() ? rest.substr(pair.size() + 1) : std::string();
      const std::size_t eq = pair.find('=');
      r.query[decode(pair.substr(0, eq), true)] =
          eq == std::string::npos ? "" : decode(pair.substr(eq + 1), true);
    }
  }
  if (r.method == "POST" || !body.empty()) r.headers["content-type"] = "application/json";
  r.body = std::move(body);
  r.remote = "127.0.0.1:50000";
  return r;
}

/// Sends one request and runs the engine until idle.
inline Reply call(World& w, RestApi& api, HttpRequest request) {
  auto reply = std::make_shared<Reply>();
  api.handle(std::move(request), [reply](HttpResponse r) {
    ++reply->responses;
    reply->raw = std::move(r);
  });
  w.executor->run();
  if (reply->raw.content_type == "application/json" && !reply->raw.body.empty())
    reply->body = json::parse(reply->raw.body);
  return *reply;
}

/// One engine ("i0") and its RestApi.
struct Api {
  explicit Api(EngineOptions options = World::defaults(), RestOptions rest = {})
      : w(options), engine(w.add()), api(engine, {}, rest) {}

  Reply operator()(const std::string& method, const std::string& target,
                   const std::string& body = {}) {
    Reply r = call(w, api, make_request(method, target, body));
    CHECK_MESSAGE(r.responses == 1,
                  method << " " << target << " answered " << r.responses << " times");
    return r;
  }
  Reply post(const std::string& target, const json& body) {
    return (*this)("POST", target, body.dump());
  }

  World w;
  Engine& engine;
  RestApi api;
};

}  // namespace herald::server::test
