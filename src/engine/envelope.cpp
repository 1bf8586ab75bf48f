#include "engine/envelope.hpp"

#include <nlohmann/json.hpp>

#include "herald/json_text.hpp"

namespace herald {

using nlohmann::json;

// Shape: {"from":…, "n":{"id":"…","type":…,"data":…,"sender":…,"created_at":ms,
//         "expires_at":ms,"key":…}, "to":[["inbox:alice",seq,"epoch"],…]}, plus
//         "redelivery":true for a dead letter's retry
std::string encode(const Envelope& e) {
  const Notification& n = *e.notification;
  json jn = {{"id", std::to_string(n.id)},
             {"type", n.type},
             {"data", json::parse(n.data, nullptr, false)},
             {"created_at", to_unix_ms(n.created_at)}};
  if (!n.sender.empty()) jn["sender"] = n.sender;
  if (n.expires_at) jn["expires_at"] = to_unix_ms(*n.expires_at);
  json to = json::array();
  for (const Position& p : e.positions) to.push_back({p.stream.str(), p.seq, std::to_string(p.epoch)});
  json j{{"from", e.from}, {"n", std::move(jn)}, {"to", std::move(to)}};
  if (e.redelivery) j["redelivery"] = true;
  return j.dump();
}

Result<Envelope> decode_envelope(const std::string& payload) {
  const Status bad(Errc::internal, "malformed envelope from the broker");
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad;
  // Field access below may throw on a malformed envelope; envelopes come from other herald
  // instances, so a throw here means a bug or foreign traffic on our channels.
  try {
    Envelope e;
    e.from = j.at("from").get<std::string>();
    const json& jn = j.at("n");
    auto n = std::make_shared<Notification>();
    n->id = std::stoull(jn.at("id").get<std::string>());
    n->type = jn.at("type").get<std::string>();
    n->data = jn.at("data").dump();
    if (jn.contains("sender")) n->sender = jn["sender"].get<std::string>();
    n->created_at = from_unix_ms(jn.at("created_at").get<std::int64_t>());
    if (jn.contains("expires_at")) n->expires_at = from_unix_ms(jn["expires_at"].get<std::int64_t>());
    e.notification = std::move(n);
    e.redelivery = j.value("redelivery", false);
    for (const json& t : j.at("to")) {
      Result<StreamId> stream = StreamId::parse(t.at(0).get<std::string>());
      if (!stream.ok()) return bad;
      e.positions.push_back(
          {std::move(stream).value(), t.at(1).get<Seq>(), std::stoull(t.at(2).get<std::string>())});
    }
    return e;
  } catch (const std::exception&) {
    return bad;
  }
}

// Shape: {"from":…,"presence":{"instance":…,"online":true,"user":…}}; without "from" (an
// older sender) the event's instance announced it. One per connect and per disconnect:
// written without a JSON document, byte for byte what nlohmann::json{…}.dump() wrote before
// (keys sorted), so every instance reads it as before.
std::string encode(const PresenceEvent& e, const InstanceId& from) {
  std::string out;
  out.reserve(64 + from.size() + e.instance.size() + e.user.size());
  out += R"({"from":)";
  append_json_string(out, from);
  out += R"(,"presence":{"instance":)";
  append_json_string(out, e.instance);
  out += e.online ? R"(,"online":true,"user":)" : R"(,"online":false,"user":)";
  append_json_string(out, e.user);
  out += "}}";
  return out;
}

Result<PresenceMessage> decode_presence(const std::string& payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("presence"))
    return Status(Errc::internal, "malformed presence message from the broker");
  try {  // as for envelopes: only a bug or foreign traffic makes these throw
    const json& p = j["presence"];
    PresenceMessage m{PresenceEvent{p.at("user").get<std::string>(), p.at("online").get<bool>(),
                                    p.at("instance").get<std::string>()},
                      {}};
    m.from = j.contains("from") ? j["from"].get<std::string>() : m.event.instance;
    return m;
  } catch (const std::exception&) {
    return Status(Errc::internal, "malformed presence message from the broker");
  }
}

// Shape: {"membership":{"user":…,"topic":…,"joined":true},"from":…}
std::string encode(const MembershipMessage& m) {
  return json{{"membership", {{"user", m.user}, {"topic", m.topic}, {"joined", m.joined}}},
              {"from", m.from}}
      .dump();
}

Result<MembershipMessage> decode_membership(const std::string& payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("membership"))
    return Status(Errc::not_found, "not a membership message");
  try {  // as for envelopes: only a bug or foreign traffic makes these throw
    const json& m = j["membership"];
    return MembershipMessage{m.at("user").get<std::string>(), m.at("topic").get<std::string>(),
                             m.at("joined").get<bool>(), j.at("from").get<std::string>()};
  } catch (const std::exception&) {
    return Status(Errc::internal, "malformed membership message from the broker");
  }
}

// Shape: {"disconnect":{"user":…,"reason":…},"from":…}
std::string encode(const DisconnectMessage& m) {
  return json{{"disconnect", {{"user", m.user}, {"reason", m.reason}}}, {"from", m.from}}.dump();
}

Result<DisconnectMessage> decode_disconnect(const std::string& payload) {
  json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("disconnect"))
    return Status(Errc::not_found, "not a disconnect message");
  try {  // as for envelopes: only a bug or foreign traffic makes these throw
    const json& d = j["disconnect"];
    return DisconnectMessage{d.at("user").get<std::string>(), d.at("reason").get<std::string>(),
                             j.at("from").get<std::string>()};
  } catch (const std::exception&) {
    return Status(Errc::internal, "malformed disconnect message from the broker");
  }
}

std::string instance_channel(const InstanceId& instance) { return "herald:instance:" + instance; }
std::string all_instances_channel() { return "herald:all"; }
std::string topic_channel(const std::string& topic) { return "herald:topic:" + topic; }
std::string presence_channel() { return "herald:presence"; }

}  // namespace herald
