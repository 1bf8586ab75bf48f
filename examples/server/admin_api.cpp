// The admin routes (admin_api.hpp). Shapes: docs/admin.md.

#include "admin_api.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rest_routes.hpp"

namespace herald::server::admin {

namespace {

using Call = RestApi::Call;

// The reason of a disconnect body: empty, or an object with an optional string `reason`
// (other members are ignored, as everywhere in the REST API). nullopt after answering with
// the error.
std::optional<std::string> read_reason(Call& c) {
  if (c.request.body.empty()) return std::string();
  std::optional<simdjson::dom::object> members =
      read_object(c, "an empty body or {\"reason\":\"…\"}");
  if (!members) return std::nullopt;
  simdjson::dom::element value;
  if (members->at_key("reason").get(value) != simdjson::SUCCESS) return std::string();
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  c.respond(error_response(bad_field("reason", "reason must be a string")));
  return std::nullopt;
}

json load_json(const InstanceLoad& l) {
  if (l.reported_at == TimePoint{}) return nullptr;  // live, but no report yet
  return {{"sessions", l.sessions},
          {"connections", l.connections},
          {"queuedBytes", l.queued_bytes},
          {"startedAt", to_unix_ms(l.started_at)},
          {"reportedAt", to_unix_ms(l.reported_at)}};
}

}  // namespace

void post_disconnect(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  std::optional<std::string> reason = read_reason(c);
  if (!reason) return;
  auto problem = StatusMapper(c.engine.options());
  c.engine.disconnect(user, std::move(*reason),
                      [respond = c.respond, problem, user](Result<DisconnectResult> r) {
                        if (!r.ok()) return respond(error_response(problem(r.status(), "reason")));
                        respond(json_response(200, {{"user", user},
                                                    {"sessions", r->local + r->remote},
                                                    {"local", r->local},
                                                    {"remote", r->remote}}));
                      });
}

void get_topics(Call& c) {
  std::int64_t limit = 0;
  std::string after;
  if (auto p = topic_page(c, limit, after)) return c.respond(error_response(*p));
  c.engine.topics(after, limit, on_ok<std::vector<TopicCount>>(c, [limit](auto topics) {
                    json items = json::array();
                    std::vector<std::string> names;
                    for (const TopicCount& t : topics) {
                      items.push_back({{"topic", t.topic}, {"subscribers", t.subscribers}});
                      names.push_back(t.topic);
                    }
                    return json_response(
                        200, {{"topics", std::move(items)}, {"next", next_cursor(names, limit)}});
                  }));
}

void get_instances(Call& c) {
  c.engine.instances(
      on_ok<std::vector<InstanceStatus>>(c, [self = c.engine.instance_id()](auto instances) {
        json items = json::array();
        for (const InstanceStatus& i : instances)
          items.push_back({{"instance", i.instance}, {"load", load_json(i.load)}});
        return json_response(200, {{"self", self}, {"instances", std::move(items)}});
      }));
}

}  // namespace herald::server::admin
