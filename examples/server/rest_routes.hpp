#pragma once
// What the files of the REST API's routes share (rest_api.cpp, admin_api.cpp): the context
// of one call, JSON responses and errors, query parameters and request bodies.

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "publish_body.hpp"
#include "rest_api.hpp"
#include "rest_auth.hpp"

namespace herald::server {

using json = nlohmann::ordered_json;

struct RestApi::Call {
  Engine& engine;
  const RestOptions& options;
  const ReadinessProbe& ready;
  HttpStats& stats;
  HttpRequest request;
  std::vector<std::string> params;  // the `*` segments of the matched route, decoded
  Respond respond;
  Principal principal = {};  // who is calling (rest_auth.hpp), set once authorized
};

/// A response whose body is JSON text already written.
HttpResponse json_text_response(int status, std::string body);
/// `body` as compact JSON text (invalid UTF-8 replaced).
std::string dump(const json& body);
HttpResponse json_response(int status, const json& body);
/// {"code":…,"field":…,"message":…}
json error_json(const Problem& p);
/// {"error":error_json(p)} with p's status and headers.
HttpResponse error_response(const Problem& p);

/// Reads an optional integer query parameter in [lo, hi] into `out`.
std::optional<Problem> int_param(const HttpRequest& r, const char* name, std::int64_t lo,
                                 std::int64_t hi, std::int64_t& out);
/// The `limit` of a keyset page: 1..max_page, 100 (or max_page if smaller) when not given.
std::optional<Problem> page_limit(const RestApi::Call& c, std::int64_t& limit);
/// page_limit() and the `after` of a page of topics: empty (from the start) or a topic name.
std::optional<Problem> topic_page(const RestApi::Call& c, std::int64_t& limit, std::string& after);

std::optional<Problem> check_user(const std::string& user);
std::optional<Problem> check_topic(const std::string& topic);

/// The JSON body of a request that must carry one; nullopt after responding with the error.
/// Request bodies are read with simdjson's DOM (one pass, UTF-8 validated, nothing copied
/// until a field is taken); responses are written with nlohmann. Contract: the element
/// lives in this thread's parser, valid until the next read_body on the same thread, so a
/// route takes what it needs from it before it returns (routes never nest).
std::optional<simdjson::dom::element> read_body(RestApi::Call& c);
/// read_body() for a body that must be a JSON object; else answers 400 (field `body`) saying
/// it expected `shape`.
std::optional<simdjson::dom::object> read_object(RestApi::Call& c, const std::string& shape);

/// Runs `fn(value)` for a successful engine result, else answers with its error.
template <class T, class Fn>
std::function<void(Result<T>)> on_ok(RestApi::Call& c, Fn fn) {
  return [respond = c.respond, problem = StatusMapper(c.engine.options()),
          fn = std::move(fn)](Result<T> r) mutable {
    if (!r.ok()) return respond(error_response(problem(r.status(), "")));
    respond(fn(std::move(r.value())));
  };
}

/// The `next` cursor of a keyset page: its last key when the page is full, else null.
template <class Key>
json next_cursor(const std::vector<Key>& page, std::int64_t limit) {
  if (page.empty() || page.size() < static_cast<std::size_t>(limit)) return nullptr;
  return json(page.back());
}

}  // namespace herald::server
