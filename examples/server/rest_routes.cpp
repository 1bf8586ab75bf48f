// The helpers the REST API's route files share (rest_routes.hpp).

#include "rest_routes.hpp"

#include <algorithm>
#include <charconv>

namespace herald::server {

HttpResponse json_text_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse json_response(int status, const json& body) {
  return json_text_response(status, dump(body));
}

json error_json(const Problem& p) {
  json e = {{"code", p.code}};
  if (!p.field.empty()) e["field"] = p.field;
  e["message"] = p.message;
  return e;
}

HttpResponse error_response(const Problem& p) {
  HttpResponse r = json_response(p.status, {{"error", error_json(p)}});
  r.headers = p.headers;
  return r;
}

std::optional<Problem> int_param(const HttpRequest& r, const char* name, std::int64_t lo,
                                 std::int64_t hi, std::int64_t& out) {
  auto it = r.query.find(name);
  if (it == r.query.end()) return std::nullopt;
  const std::string& text = it->second;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    return bad_field(name, std::string(name) + " must be an integer in " + std::to_string(lo) +
                               ".." + std::to_string(hi));
  out = v;
  return std::nullopt;
}

std::optional<Problem> page_limit(const RestApi::Call& c, std::int64_t& limit) {
  const auto max_page = static_cast<std::int64_t>(c.engine.options().max_page);
  limit = std::min<std::int64_t>(100, max_page);
  return int_param(c.request, "limit", 1, max_page, limit);
}

std::optional<Problem> topic_page(const RestApi::Call& c, std::int64_t& limit, std::string& after) {
  if (auto p = page_limit(c, limit)) return p;
  if (auto it = c.request.query.find("after"); it != c.request.query.end()) after = it->second;
  if (after.empty() || valid_name(after)) return std::nullopt;
  return bad_field("after", "after must be a topic name");
}

std::optional<Problem> check_user(const std::string& user) {
  if (valid_name(user)) return std::nullopt;
  return bad_field("userId", "user id must be 1..200 printable ASCII characters without space");
}

std::optional<Problem> check_topic(const std::string& topic) {
  if (valid_name(topic) && topic.front() != '$') return std::nullopt;
  return bad_field("topic",
                   "topic must be 1..200 printable ASCII characters without space, not "
                   "starting with '$'");
}

std::optional<simdjson::dom::element> read_body(RestApi::Call& c) {
  const std::string& body = c.request.body;
  if (body.size() > c.options.max_body_bytes) {
    c.respond(
        error_response({413,
                        "payload_too_large",
                        "body",
                        "the body is " + std::to_string(body.size()) + " bytes; the limit is " +
                            std::to_string(c.options.max_body_bytes),
                        {}}));
    return std::nullopt;
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(body).get(root)) {
    c.respond(error_response(bad_field(
        "body", std::string("malformed JSON: ") + simdjson::error_message(error), "invalid_json")));
    return std::nullopt;
  }
  return root;
}

std::optional<simdjson::dom::object> read_object(RestApi::Call& c, const std::string& shape) {
  auto body = read_body(c);
  if (!body) return std::nullopt;
  simdjson::dom::object members;
  if (body->get_object().get(members) == simdjson::SUCCESS) return members;
  c.respond(error_response(bad_field("body", "expected " + shape)));
  return std::nullopt;
}

}  // namespace herald::server
