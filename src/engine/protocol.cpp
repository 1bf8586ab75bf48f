#include "engine/protocol.hpp"

#include <charconv>
#include <set>
#include <string_view>
#include <nlohmann/json.hpp>

#include "herald/json_text.hpp"

namespace herald::protocol {

using nlohmann::json;

namespace {

json info_json(const StreamInfo& info) {
  return {{"epoch", std::to_string(info.epoch)}, {"head", info.head}};
}

json base(const char* op, const std::string& rid) {
  json j = {{"op", op}};
  if (!rid.empty()) j["rid"] = rid;
  return j;
}

Status bad(std::string message) { return Status(Errc::invalid_argument, std::move(message)); }

// Reads an unsigned seq given as a JSON number or a decimal string.
std::optional<Seq> seq_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<Seq>();
  if (it->is_string()) return parse_u64(it->get<std::string>());
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> parse_u64(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || p != end) return std::nullopt;
  return value;
}

std::shared_ptr<const std::string> notification_body(const Notification& n) {
  std::string s;
  s.reserve(96 + n.type.size() + n.data.size() + n.sender.size());
  s += "\"id\":\"";
  append_json_integer(s, n.id);
  s += "\",\"type\":";
  append_json_string(s, n.type);
  s += ",\"data\":";
  s += n.data;  // validated JSON text, embedded as is
  if (!n.sender.empty()) {
    s += ",\"sender\":";
    append_json_string(s, n.sender);
  }
  s += ",\"created_at\":";
  append_json_integer(s, to_unix_ms(n.created_at));
  if (n.expires_at) {
    s += ",\"expires_at\":";
    append_json_integer(s, to_unix_ms(*n.expires_at));
  }
  s += '}';
  return std::make_shared<const std::string>(std::move(s));
}

std::string notification_head(const StreamId& stream, Seq seq, Epoch epoch,
                              std::uint32_t attempt) {
  // Sized once: this runs once per frame of every inbox delivery. 128 bytes hold the rest
  // of it (unless the name needs escapes), Frame::kHeadroom the transport's framing.
  std::string s;
  s.reserve(128 + stream.name().size() + Frame::kHeadroom);
  s += "{\"op\":\"notification\",\"stream\":\"";
  s += stream.is_inbox() ? "inbox:" : "topic:";  // StreamId::str(), without its copy
  append_json_escaped(s, stream.name());
  s += '"';
  s += ",\"seq\":";
  append_json_integer(s, seq);
  s += ",\"epoch\":\"";
  append_json_integer(s, epoch);
  s += '"';
  if (attempt > 1) {
    s += ",\"attempt\":";
    append_json_integer(s, attempt);
  }
  s += ',';
  if (s.capacity() - s.size() < Frame::kHeadroom) s.reserve(s.size() + Frame::kHeadroom);
  return s;
}

// Written without a JSON document (one per connection; a document cost ~35,000 instructions),
// byte for byte what nlohmann::json{…}.dump() wrote before: keys in sorted order.
std::string welcome(const Welcome& w) {
  const std::string stream = w.stream.str();
  std::string out;
  out.reserve(128 + w.session.size() + w.instance.size() + w.user.size() + stream.size());
  out += R"({"cursor":)";
  append_json_integer(out, w.cursor);
  out += R"(,"epoch":")";
  append_json_integer(out, w.epoch);
  out += R"(","head":)";
  append_json_integer(out, w.head);
  out += R"(,"instance":)";
  append_json_string(out, w.instance);
  out += R"(,"op":"welcome","session":)";
  append_json_string(out, w.session);
  out += R"(,"stream":)";
  append_json_string(out, stream);
  out += R"(,"unread":)";
  append_json_integer(out, w.unread);
  out += R"(,"user":)";
  append_json_string(out, w.user);
  out += '}';
  return out;
}

std::string reset(const StreamId& stream, const StreamInfo& info, const char* reason) {
  json j = info_json(info);
  j["op"] = "reset";
  j["stream"] = stream.str();
  j["reason"] = reason;
  return j.dump();
}

std::string error(const std::string& rid, const Status& status, const std::string& topic) {
  json j = base("error", rid);
  j["code"] = to_string(status.code());
  j["message"] = status.message();
  if (!topic.empty()) j["topic"] = topic;
  return j.dump();
}

std::string pong(const std::string& rid) { return base("pong", rid).dump(); }

std::string subscribed(const std::string& rid, const std::string& topic, const StreamInfo& info,
                       Seq cursor) {
  json j = base("subscribed", rid);
  j["topic"] = topic;
  j["stream"] = StreamId::topic(topic).str();
  j["epoch"] = std::to_string(info.epoch);
  j["head"] = info.head;
  j["cursor"] = cursor;
  return j.dump();
}

std::string refreshed(const std::string& rid, std::optional<TimePoint> expires_at) {
  json j = base("refreshed", rid);
  j["expiresAt"] = expires_at ? json(to_unix_ms(*expires_at)) : json(nullptr);
  return j.dump();
}

std::string unsubscribed(const std::string& rid, const std::string& topic) {
  json j = base("unsubscribed", rid);
  j["topic"] = topic;
  return j.dump();
}

std::string read_reply(const std::string& rid, std::uint64_t updated) {
  json j = base("read", rid);
  j["updated"] = updated;
  return j.dump();
}

std::string history_reply(const std::string& rid, const StreamId& stream,
                          const std::vector<Entry>& entries, Seq next_before) {
  // Items embed each notification's body as is (its data is validated JSON text).
  std::string items = "[";
  for (const Entry& e : entries) {
    if (items.size() > 1) items += ',';
    items += "{\"seq\":" + std::to_string(e.seq) + ",\"read\":" + (e.read ? "true" : "false") +
             ',' + *notification_body(*e.notification);
  }
  items += ']';
  json j = base("history", rid);
  j["stream"] = stream.str();
  j["next_before"] = next_before;
  std::string head = j.dump();
  head.pop_back();  // reopen the object to append the raw items
  return head + ",\"items\":" + items + '}';
}

namespace {

// An id given as a JSON number or string (seed 003 sends numbers): its text, or nullopt.
std::optional<std::string> id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  return std::nullopt;
}

// Seed 003's join frame: {"userId":1,"room":1}, no op.
Result<Request> parse_join(const json& j) {
  Request r;
  r.op = Request::Op::join;
  auto room = id_text(j["room"]);
  if (!room) return bad("'room' must be a room id (number or string)");
  r.topic = "room:" + *room;
  if (auto user = j.find("userId"); user != j.end()) {
    auto text = id_text(*user);
    if (!text) return bad("'userId' must be a user id (number or string)");
    r.user = *text;
  }
  return r;
}

// Client text quoted in a message: bytes other than printable ASCII become '?', so that the
// message stays UTF-8 (it becomes a close reason, which must be: RFC 6455 §5.5.1). A valid
// name is printable ASCII: nothing a client needs to see is lost.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c < 0x20 || c > 0x7E) c = '?';
  return out;
}

}  // namespace

Result<std::vector<TopicPosition>> parse_topic_list(const std::string& text, std::size_t max) {
  std::vector<TopicPosition> out;
  std::set<std::string> seen;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    std::string_view entry = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    TopicPosition p;
    std::string_view name = entry;
    if (const std::size_t at = entry.rfind('@'); at != std::string_view::npos) {
      const std::string_view pos = entry.substr(at + 1);
      const std::size_t dot = pos.find('.');
      auto seq = parse_u64(std::string(pos.substr(0, dot)));
      auto epoch = dot == std::string_view::npos ? std::optional<Epoch>(std::nullopt)
                                                 : parse_u64(std::string(pos.substr(dot + 1)));
      if (pos.empty()) {
        name = entry.substr(0, at);  // "a@5@": the name "a@5", no position
      } else if (seq && (dot == std::string_view::npos || epoch)) {
        name = entry.substr(0, at);
        p.since = seq;
        p.epoch = epoch;
      }
    }
    p.topic = std::string(name);
    if (!valid_name(p.topic) || p.topic[0] == '$')
      return bad("topics: invalid entry '" + printable(entry.substr(0, 64)) +
                 "' (name, name@seq or name@seq.epoch; names are 1..200 printable ASCII, not "
                 "starting with '$')");
    if (!seen.insert(p.topic).second) continue;  // listed again: the first entry stands
    out.push_back(std::move(p));
    if (out.size() > max)
      return bad("topics: more than " + std::to_string(max) + " entries");
  }
  return out;
}

std::optional<Seq> plain_ack(std::string_view text) {
  constexpr std::string_view kHead = R"({"op":"ack","seq":)";
  if (text.size() < kHead.size() + 2 || text.substr(0, kHead.size()) != kHead || text.back() != '}')
    return std::nullopt;
  const std::string_view digits = text.substr(kHead.size(), text.size() - kHead.size() - 1);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // not JSON: leading zero
  Seq seq = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

Result<Request> parse_request(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("frame is not a JSON object");
  auto op_it = j.find("op");
  if (op_it == j.end() && j.contains("room")) return parse_join(j);
  if (op_it == j.end() || !op_it->is_string()) return bad("frame has no string field 'op'");
  const std::string op = op_it->get<std::string>();

  Request r;
  if (auto rid = j.find("rid"); rid != j.end()) {
    if (!rid->is_string() || rid->get_ref<const std::string&>().size() > 64)
      return bad("'rid' must be a string of at most 64 characters");
    r.rid = rid->get<std::string>();
  }
  auto need_topic = [&]() -> Status {
    auto t = j.find("topic");
    if (t == j.end() || !t->is_string()) return bad("'" + op + "' needs a string field 'topic'");
    r.topic = t->get<std::string>();
    return {};
  };

  if (op == "ping") {
    r.op = Request::Op::ping;
  } else if (op == "ack") {
    r.op = Request::Op::ack;
    auto seq = seq_field(j, "seq");
    if (!seq) return bad("'ack' needs a non-negative integer field 'seq'");
    r.seq = *seq;
  } else if (op == "subscribe") {
    r.op = Request::Op::subscribe;
    if (Status s = need_topic(); !s.ok()) return s;
    if (j.contains("since")) {
      r.since = seq_field(j, "since");
      if (!r.since) return bad("'since' must be a non-negative integer");
    }
    if (j.contains("epoch")) {
      r.epoch = seq_field(j, "epoch");
      if (!r.epoch) return bad("'epoch' must be a decimal string");
    }
  } else if (op == "unsubscribe") {
    r.op = Request::Op::unsubscribe;
    if (Status s = need_topic(); !s.ok()) return s;
  } else if (op == "read") {
    r.op = Request::Op::read;
    auto seqs = j.find("seqs");
    if (seqs == j.end() || !seqs->is_array() || seqs->empty() || seqs->size() > 1000)
      return bad("'read' needs a field 'seqs': an array of 1..1000 seqs");
    for (const json& v : *seqs) {
      if (!v.is_number_unsigned()) return bad("'seqs' must hold non-negative integers");
      r.seqs.push_back(v.get<Seq>());
    }
  } else if (op == "read_all") {
    r.op = Request::Op::read_all;
  } else if (op == "history") {
    r.op = Request::Op::history;
    auto stream = j.find("stream");
    if (stream == j.end() || !stream->is_string())
      return bad("'history' needs a string field 'stream'");
    r.stream = stream->get<std::string>();
    if (j.contains("before")) {
      auto before = seq_field(j, "before");
      if (!before) return bad("'before' must be a non-negative integer");
      r.before = *before;
    }
    if (auto limit = j.find("limit"); limit != j.end()) {
      if (!limit->is_number_integer()) return bad("'limit' must be an integer");
      r.limit = limit->get<std::int64_t>();
    }
  } else if (op == "refresh") {
    r.op = Request::Op::refresh;
    auto token = j.find("token");
    if (token == j.end() || !token->is_string() || token->get_ref<const std::string&>().empty())
      return bad("'refresh' needs a non-empty string field 'token'");
    r.token = token->get<std::string>();
  } else {
    return bad("unknown op '" + op + "'");
  }
  return r;
}

}  // namespace herald::protocol
