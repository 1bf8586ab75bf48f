// RestApi: routing by method and path segments, one short function per route; request
// bodies read with simdjson, response documents written with nlohmann. The request shapes
// are documented in docs/protocol.md ("REST API").

#include "rest_api.hpp"

#include <asio/ip/address.hpp>
#include <simdjson.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "admin_api.hpp"
#include "herald/json_text.hpp"
#include "http_util.hpp"
#include "logging.hpp"
#include "preferences_body.hpp"
#include "publish_body.hpp"
#include "rest_auth.hpp"
#include "rest_routes.hpp"
#include "static_files.hpp"

namespace herald::server {

void HttpStats::count(int status) noexcept {
  const int cls = status / 100;
  if (cls >= 1 && cls <= 5) by_class[cls - 1].fetch_add(1, std::memory_order_relaxed);
}

namespace {

using Call = RestApi::Call;

// The user id /readyz asks the store about (user ids starting with '$' are never given to
// clients by herald-server's development authentication in practice; it is only read).
constexpr const char* kReadyUser = "$readyz";

// ---------------------------------------------------------------------------------------
// Paths and query parameters (responses and the shared parameters: rest_routes.hpp)

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one path segment; nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  std::vector<std::string_view> out;
  out.reserve(static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) + 1);
  for (;;) {
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

// The decoded path segments. Taken from the raw target when it is in origin form, so that
// an encoded "/" (%2F) stays inside its segment (topic names may contain "/"); otherwise
// from the transport's decoded path. nullopt: a malformed escape.
std::optional<std::vector<std::string>> segments(const HttpRequest& r) {
  const bool origin_form = !r.target.empty() && r.target.front() == '/';
  std::string_view raw(origin_form ? r.target : r.path);
  if (origin_form) raw = raw.substr(0, raw.find_first_of("?#"));
  const std::vector<std::string_view> parts = split(raw);
  std::vector<std::string> out;
  out.reserve(parts.size());
  if (!origin_form) {
    for (std::string_view s : parts) out.emplace_back(s);
    return out;
  }
  for (std::string_view s : parts) {
    auto decoded = percent_decode(s);
    if (!decoded) return std::nullopt;
    out.push_back(std::move(*decoded));
  }
  return out;
}

std::optional<Seq> parse_seq(const std::string& text) {
  Seq v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v == 0)
    return std::nullopt;
  return v;
}

// ---------------------------------------------------------------------------------------
// POST /notify

// One publish's outcome as JSON text, written directly (no JSON document is built on this
// path, which runs once per notification): {"id":"…","duplicate":…,"recipients":…}.
std::string publish_text(const PublishResult& r) {
  std::string out;
  out.reserve(128);  // one allocation: the longest answer is ~110 bytes
  out += "{\"id\":\"";
  append_json_integer(out, r.id);
  out += "\",\"duplicate\":";
  out += r.duplicate ? "true" : "false";
  out += ",\"recipients\":";
  append_json_integer(out, r.streams_written);
  out += ",\"muted\":";
  append_json_integer(out, r.muted);
  out += '}';
  return out;
}

// The Idempotency-Key header of a single publish gives its key; when the body names one as
// well, both must be the same.
std::optional<Problem> apply_key_header(const HttpRequest& r, PublishRequest& publish) {
  auto it = r.headers.find("idempotency-key");
  if (it == r.headers.end()) return std::nullopt;
  if (!publish.idempotency_key.empty() && publish.idempotency_key != it->second)
    return bad_field("idempotencyKey",
                     "the Idempotency-Key header and the body's idempotencyKey differ: give one "
                     "of them, or the same key in both");
  publish.idempotency_key = it->second;
  return std::nullopt;
}

void publish_one(Call& c, const simdjson::dom::element& body) {
  ParsedPublish parsed;
  if (auto p = read_publish(body, c.engine.options(), parsed)) return c.respond(error_response(*p));
  if (auto p = apply_key_header(c.request, parsed.request)) return c.respond(error_response(*p));
  parsed.request.principal = c.principal;
  Engine& engine = c.engine;
  engine.publish(std::move(parsed.request), [respond = std::move(c.respond), &engine,
                                             names = parsed.names](Result<PublishResult> r) {
    if (r.ok()) return respond(json_text_response(202, publish_text(r.value())));
    const StatusMapper problem(engine.options());
    respond(error_response(problem(r.status(), publish_field(r.status(), *names))));
  });
}

// A batch: every item is published in order; the answer lists each item's outcome.
struct Batch {
  std::vector<std::string> results;  // each item's outcome as JSON text
  std::atomic<std::size_t> pending{0};
  Respond respond;

  void finish_one() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    std::string out = "{\"results\":[";
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (i > 0) out += ',';
      out += results[i];
    }
    respond(json_text_response(202, out + "]}"));
  }
};

std::string item_error(const Problem& p) {
  json e = error_json(p);
  e["status"] = p.status;
  return dump({{"error", e}});
}

void publish_batch(Call& c, const simdjson::dom::array& items) {
  if (items.size() == 0 || items.size() > c.options.max_batch)
    return c.respond(error_response(bad_field(
        "body", "a batch holds 1.." + std::to_string(c.options.max_batch) + " notifications")));
  if (c.request.headers.count("idempotency-key"))
    return c.respond(error_response(
        bad_field("idempotencyKey",
                  "a batch takes no Idempotency-Key header: give each item its idempotencyKey")));
  const std::string principal = c.principal;
  auto batch = std::make_shared<Batch>();
  batch->results.resize(items.size());
  batch->pending = items.size() + 1;  // +1: this loop, so nobody answers before it ends
  batch->respond = c.respond;
  auto problem = StatusMapper(c.engine.options());
  std::size_t next = 0;
  for (simdjson::dom::element item : items) {
    const std::size_t i = next++;
    ParsedPublish parsed;
    std::optional<Problem> p = item.is_object()
                                   ? read_publish(item, c.engine.options(), parsed)
                                   : bad_field("body", "each batch item must be a JSON object");
    if (p) {
      batch->results[i] = item_error(*p);
      batch->finish_one();
      continue;
    }
    parsed.request.principal = principal;
    c.engine.publish(std::move(parsed.request), [batch, i, problem,
                                                 names = parsed.names](Result<PublishResult> r) {
      batch->results[i] = r.ok()
                              ? publish_text(r.value())
                              : item_error(problem(r.status(), publish_field(r.status(), *names)));
      batch->finish_one();
    });
  }
  batch->finish_one();
}

void post_notify(Call& c) {
  auto body = read_body(c);
  if (!body) return;
  simdjson::dom::array items;
  if (body->is_object()) return publish_one(c, *body);
  if (body->get_array().get(items) == simdjson::SUCCESS) return publish_batch(c, items);
  c.respond(error_response(
      bad_field("body", "expected a JSON object (one notification) or an array (a batch)")));
}

// ---------------------------------------------------------------------------------------
// Inbox

json entry_json(const Entry& e) {
  const Notification& n = *e.notification;
  json data = json::parse(n.data, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) data = nullptr;
  json j = {{"seq", e.seq},
            {"id", std::to_string(n.id)},
            {"type", n.type},
            {"data", std::move(data)},
            {"createdAt", to_unix_ms(n.created_at)},
            {"read", e.read}};
  if (!n.sender.empty()) j["sender"] = n.sender;  // omitted when none, as in WebSocket frames
  if (n.expires_at) j["expiresAt"] = to_unix_ms(*n.expires_at);
  return j;
}

json page_json(const HistoryPage& page, std::uint64_t unread) {
  json items = json::array();
  for (const Entry& e : page.entries) items.push_back(entry_json(e));
  return {{"items", std::move(items)},
          {"nextBefore", page.next_before ? json(page.next_before) : json(nullptr)},
          {"unread", unread},
          {"epoch", std::to_string(page.info.epoch)},
          {"head", page.info.head}};
}

void get_notifications(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  HistoryQuery q;
  const auto max_page = static_cast<std::int64_t>(c.engine.options().max_page);
  if (auto p = int_param(c.request, "limit", 1, max_page, q.limit))
    return c.respond(error_response(*p));
  if (auto it = c.request.query.find("before"); it != c.request.query.end()) {
    auto before = parse_seq(it->second);
    if (!before) return c.respond(error_response(bad_field("before", "before must be a seq >= 1")));
    q.before = *before;
  }
  Engine& engine = c.engine;
  auto problem = StatusMapper(engine.options());
  engine.history(StreamId::inbox(user), q,
                 [&engine, user, problem, respond = c.respond](Result<HistoryPage> page) {
                   if (!page.ok()) return respond(error_response(problem(page.status(), "")));
                   engine.unread_count(user, [page = std::move(page.value()), problem,
                                              respond](Result<std::uint64_t> n) {
                     if (!n.ok()) return respond(error_response(problem(n.status(), "")));
                     respond(json_response(200, page_json(page, n.value())));
                   });
                 });
}

void get_unread_count(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  c.engine.unread_count(user, on_ok<std::uint64_t>(c, [user](std::uint64_t n) {
                          return json_response(200, {{"user", user}, {"unread", n}});
                        }));
}

// {"ids":[seq,…]} (alias "seqs") or {"all":true}; nullopt after responding with the error.
std::optional<std::vector<Seq>> read_seqs_body(Call& c) {
  std::optional<simdjson::dom::object> members =
      read_object(c, "{\"ids\":[seq,…]} or {\"all\":true}");
  if (!members) return std::nullopt;
  auto fail = [&](const char* field, const std::string& message) {
    c.respond(error_response(bad_field(field, message)));
    return std::nullopt;
  };
  simdjson::dom::element ids_value, all;
  const char* key = members->at_key("ids").get(ids_value) == simdjson::SUCCESS    ? "ids"
                    : members->at_key("seqs").get(ids_value) == simdjson::SUCCESS ? "seqs"
                                                                                  : nullptr;
  if (members->at_key("all").get(all) == simdjson::SUCCESS) {
    if (key) return fail("all", "give either ids or all, not both");
    bool yes = false;
    if (all.get_bool().get(yes) != simdjson::SUCCESS || !yes)
      return fail("all", "all must be true");
    return std::vector<Seq>{};  // empty = all
  }
  if (!key) return fail("ids", "give ids (an array of inbox seqs) or all: true");
  simdjson::dom::array ids;
  if (ids_value.get_array().get(ids) != simdjson::SUCCESS || ids.size() == 0 || ids.size() > 10'000)
    return fail(key, std::string(key) + " must be an array of 1..10000 seqs");
  std::vector<Seq> seqs;
  for (simdjson::dom::element v : ids) {
    std::optional<Seq> s;
    std::uint64_t number = 0;
    std::string_view text;
    if (v.get_uint64().get(number) == simdjson::SUCCESS) s = number;
    if (v.get_string().get(text) == simdjson::SUCCESS) s = parse_seq(std::string(text));
    if (!s || *s == 0) return fail(key, std::string(key) + " must hold seqs: integers >= 1");
    seqs.push_back(*s);
  }
  return seqs;
}

void post_read(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  auto seqs = read_seqs_body(c);
  if (!seqs) return;
  c.engine.mark_read(user, std::move(*seqs), on_ok<std::uint64_t>(c, [](std::uint64_t n) {
                       return json_response(200, {{"updated", n}});
                     }));
}

void delete_notification(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  auto seq = parse_seq(c.params[1]);
  if (!seq) return c.respond(error_response(bad_field("seq", "seq must be an integer >= 1")));
  c.engine.remove(user, {*seq}, on_ok<std::uint64_t>(c, [user, seq = *seq](std::uint64_t n) {
                    if (n == 0)
                      return error_response({404,
                                             "not_found",
                                             "seq",
                                             "no notification with seq " + std::to_string(seq) +
                                                 " in the inbox of " + user,
                                             {}});
                    return json_response(200, {{"deleted", n}});
                  }));
}

// ---------------------------------------------------------------------------------------
// Subscriptions, subscribers, presence

void put_subscription(Call& c) {
  const std::string user = c.params[0], topic = c.params[1];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  if (auto p = check_topic(topic)) return c.respond(error_response(*p));
  c.engine.subscribe(
      user, topic, on_ok<bool>(c, [user, topic](bool created) {
        return json_response(
            200, {{"user", user}, {"topic", topic}, {"subscribed", true}, {"created", created}});
      }));
}

void delete_subscription(Call& c) {
  const std::string user = c.params[0], topic = c.params[1];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  if (auto p = check_topic(topic)) return c.respond(error_response(*p));
  c.engine.unsubscribe(
      user, topic, on_ok<bool>(c, [user, topic](bool existed) {
        if (!existed)
          return error_response(
              {404, "not_found", "topic", user + " is not subscribed to " + topic, {}});
        return json_response(200, {{"user", user}, {"topic", topic}, {"subscribed", false}});
      }));
}

// ---------------------------------------------------------------------------------------
// Preferences (the body: preferences_body.cpp)

void get_preferences(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  c.engine.preferences(user, on_ok<Preferences>(c, [user](const Preferences& p) {
                         return json_text_response(200, preferences_json(user, p));
                       }));
}

void put_preferences(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  auto body = read_body(c);
  if (!body) return;
  Preferences prefs;
  if (auto p = read_preferences(*body, c.engine.options().max_type_bytes, prefs))
    return c.respond(error_response(*p));
  c.engine.set_preferences(user, prefs, [respond = c.respond, problem = StatusMapper(c.engine.options()),
                                         user, prefs](Result<void> r) {
    if (!r.ok()) return respond(error_response(problem(r.status(), "")));
    respond(json_text_response(200, preferences_json(user, prefs)));
  });
}

void get_subscriptions(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  std::int64_t limit = 0;
  std::string after;
  if (auto p = topic_page(c, limit, after)) return c.respond(error_response(*p));
  c.engine.subscriptions(
      user, after, limit,
      on_ok<std::vector<std::string>>(c, [user, limit](std::vector<std::string> topics) {
        json next = next_cursor(topics, limit);
        return json_response(
            200, {{"user", user}, {"topics", std::move(topics)}, {"next", std::move(next)}});
      }));
}

void get_subscribers(Call& c) {
  const std::string topic = c.params[0];
  if (auto p = check_topic(topic)) return c.respond(error_response(*p));
  std::int64_t limit = 0;
  if (auto p = page_limit(c, limit)) return c.respond(error_response(*p));
  std::string cursor;
  if (auto it = c.request.query.find("cursor"); it != c.request.query.end()) cursor = it->second;
  if (!cursor.empty() && !valid_name(cursor))
    return c.respond(error_response(bad_field("cursor", "cursor must be a user id")));
  c.engine.subscribers(
      topic, cursor, limit,
      on_ok<std::vector<UserId>>(c, [topic, limit](std::vector<UserId> users) {
        json next = next_cursor(users, limit);
        return json_response(
            200, {{"topic", topic}, {"users", std::move(users)}, {"nextCursor", std::move(next)}});
      }));
}

void get_presence(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  c.engine.presence(
      user, on_ok<std::vector<SessionRecord>>(c, [user](std::vector<SessionRecord> sessions) {
        json list = json::array();
        for (const SessionRecord& s : sessions)
          list.push_back({{"session", s.session},
                          {"instance", s.instance},
                          {"connectedAt", to_unix_ms(s.connected_at)}});
        return json_response(
            200, {{"user", user}, {"online", !sessions.empty()}, {"sessions", std::move(list)}});
      }));
}

// ---------------------------------------------------------------------------------------
// Dead letters

std::optional<Problem> seq_param(const Call& c, std::size_t index, Seq& seq) {
  auto parsed = parse_seq(c.params[index]);
  if (!parsed) return bad_field("seq", "seq must be an integer >= 1");
  seq = *parsed;
  return std::nullopt;
}

Problem no_dead_letter(const UserId& user, Seq seq) {
  return {404,
          "not_found",
          "seq",
          "no dead letter with seq " + std::to_string(seq) + " for " + user,
          {}};
}

void get_dead_letters(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  std::int64_t limit = 0;
  if (auto p = page_limit(c, limit)) return c.respond(error_response(*p));
  Seq after = 0;
  if (auto it = c.request.query.find("after"); it != c.request.query.end()) {
    auto seq = parse_seq(it->second);
    if (!seq) return c.respond(error_response(bad_field("after", "after must be a seq >= 1")));
    after = *seq;
  }
  c.engine.dead_letters(
      user, after, limit, on_ok<std::vector<DeadLetter>>(c, [user, limit](auto letters) {
        json items = json::array();
        std::vector<Seq> seqs;
        for (const DeadLetter& d : letters) {
          items.push_back({{"seq", d.seq},
                           {"id", std::to_string(d.notification_id)},
                           {"attempts", d.attempts},
                           {"at", to_unix_ms(d.at)},
                           {"reason", d.reason}});
          seqs.push_back(d.seq);
        }
        return json_response(
            200, {{"user", user}, {"items", std::move(items)}, {"next", next_cursor(seqs, limit)}});
      }));
}

void post_dead_letter_retry(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  Seq seq = 0;
  if (auto p = seq_param(c, 1, seq)) return c.respond(error_response(*p));
  c.engine.retry_dead_letter(
      user, seq,
      [respond = c.respond, problem = StatusMapper(c.engine.options()), user, seq](Result<void> r) {
        if (!r.ok()) return respond(error_response(problem(r.status(), "seq")));
        respond(json_response(200, {{"user", user}, {"seq", seq}, {"retried", true}}));
      });
}

void delete_dead_letter(Call& c) {
  const std::string user = c.params[0];
  if (auto p = check_user(user)) return c.respond(error_response(*p));
  Seq seq = 0;
  if (auto p = seq_param(c, 1, seq)) return c.respond(error_response(*p));
  c.engine.discard_dead_letter(user, seq, on_ok<bool>(c, [user, seq](bool existed) {
                                 if (!existed) return error_response(no_dead_letter(user, seq));
                                 return json_response(200, {{"deleted", 1}});
                               }));
}

// ---------------------------------------------------------------------------------------
// Health, readiness, metrics

void get_healthz(Call& c) {
  c.respond(json_response(200, {{"status", "ok"}}));
}

void get_readyz(Call& c) {
  auto answer = [respond = c.respond](bool ready, const std::string& reason) {
    json body = {{"ready", ready}};
    if (!ready) body["reason"] = reason;
    respond(json_response(ready ? 200 : 503, body));
  };
  if (c.ready) return c.ready(answer);
  c.engine.unread_count(kReadyUser, [answer](Result<std::uint64_t> r) {
    answer(r.ok(), r.ok() ? std::string() : "store: " + r.status().message());
  });
}

// Resident set size from /proc (Linux); 0 when unknown.
std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return pages_resident * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

const std::time_t kStartTime = std::time(nullptr);

std::string process_metrics(const HttpStats& stats) {
  std::string out;
  out += "# HELP herald_http_responses_total HTTP responses of the REST API by status class.\n";
  out += "# TYPE herald_http_responses_total counter\n";
  for (int i = 0; i < 5; ++i)
    out += "herald_http_responses_total{class=\"" + std::to_string(i + 1) + "xx\"} " +
           std::to_string(stats.by_class[i].load(std::memory_order_relaxed)) + "\n";
  out += "# HELP herald_http_auth_refusals_total REST calls refused: 401 unauthorized, 403 "
         "forbidden.\n# TYPE herald_http_auth_refusals_total counter\n";
  out += "herald_http_auth_refusals_total{reason=\"unauthorized\"} " +
         std::to_string(stats.auth.unauthorized.load(std::memory_order_relaxed)) + "\n";
  out += "herald_http_auth_refusals_total{reason=\"forbidden\"} " +
         std::to_string(stats.auth.forbidden.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n";
  out += "# TYPE process_cpu_seconds_total counter\n";
  char cpu[32];
  std::snprintf(cpu, sizeof cpu, "%.3f", static_cast<double>(std::clock()) / CLOCKS_PER_SEC);
  out += std::string("process_cpu_seconds_total ") + cpu + "\n";
  out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n";
  out += "# TYPE process_resident_memory_bytes gauge\n";
  out += "process_resident_memory_bytes " + std::to_string(resident_bytes()) + "\n";
  out += "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n";
  out += "# TYPE process_start_time_seconds gauge\n";
  out += "process_start_time_seconds " + std::to_string(kStartTime) + "\n";
  return out;
}

void get_metrics(Call& c) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = c.engine.metrics().render_prometheus() + process_metrics(c.stats);
  if (c.options.extra_metrics) r.body += c.options.extra_metrics();
  c.respond(std::move(r));
}

// GET /ws reaches the HTTP handler only without a WebSocket upgrade.
void get_ws(Call& c) {
  Problem p{426,
            "upgrade_required",
            {},
            "/ws is the WebSocket endpoint: connect with a WebSocket client "
            "(ws://host:port/ws?userId=…)",
            {{"Upgrade", "websocket"}}};
  c.respond(error_response(p));
}

// ---------------------------------------------------------------------------------------
// Routing

using RouteFn = void (*)(Call&);
struct Route {
  const char* method;
  const char* pattern;  // path segments; "*" matches one segment, passed in Call::params
  RouteFn fn;
  Access access;  // for Access::user, the first `*` is the user id
};

const Route kRoutes[] = {
    {"POST", "notify", post_notify, Access::server},
    {"GET", "users/*/notifications", get_notifications, Access::user},
    {"POST", "users/*/notifications/read", post_read, Access::user},
    {"DELETE", "users/*/notifications/*", delete_notification, Access::user},
    {"GET", "users/*/unread-count", get_unread_count, Access::user},
    {"GET", "users/*/dead-letters", get_dead_letters, Access::server},
    {"POST", "users/*/dead-letters/*/retry", post_dead_letter_retry, Access::server},
    {"DELETE", "users/*/dead-letters/*", delete_dead_letter, Access::server},
    {"GET", "users/*/subscriptions", get_subscriptions, Access::user},
    {"PUT", "users/*/subscriptions/*", put_subscription, Access::user_topic},
    {"DELETE", "users/*/subscriptions/*", delete_subscription, Access::user},
    {"GET", "users/*/preferences", get_preferences, Access::user},
    {"PUT", "users/*/preferences", put_preferences, Access::user},
    {"GET", "users/*/presence", get_presence, Access::server},
    {"GET", "topics/*/subscribers", get_subscribers, Access::server},
    {"POST", "admin/users/*/disconnect", admin::post_disconnect, Access::server},
    {"GET", "admin/users/*/sessions", get_presence, Access::server},  // the same answer
    {"GET", "admin/topics", admin::get_topics, Access::server},
    {"GET", "admin/instances", admin::get_instances, Access::server},
    {"GET", "healthz", get_healthz, Access::open},
    {"GET", "readyz", get_readyz, Access::open},
    {"GET", "metrics", get_metrics, Access::metrics},
    {"GET", "ws", get_ws, Access::open},
};

// The user and topic segments authorize() looks at.
PathSubjects path_subjects(const Route& route, const std::vector<std::string>& params) {
  PathSubjects s;
  if (route.access == Access::user || route.access == Access::user_topic) s.user = params[0];
  if (route.access == Access::user_topic) s.topic = params[1];
  return s;
}

// Whether `segs` has the pattern's segments ("*": any one, taken into `params`). Walks the
// pattern in place: no route costs an allocation before it matches.
bool match(std::string_view pattern, const std::vector<std::string>& segs,
           std::vector<std::string>& params) {
  params.clear();
  for (std::size_t i = 0;; ++i) {
    const std::size_t slash = pattern.find('/');
    const std::string_view part = pattern.substr(0, slash);
    if (i == segs.size() || (part != "*" && part != segs[i])) return false;
    if (part == "*") params.push_back(segs[i]);
    if (slash == std::string_view::npos) return i + 1 == segs.size();
    pattern.remove_prefix(slash + 1);
  }
}

std::string_view trim(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// The host name of a Host header value: "[::1]:8080" -> "::1", "Example.com:80" -> "example.com".
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') return lower(host.substr(1, host.find(']') - 1));
  return lower(host.substr(0, host.find(':')));
}

// Remembers the last name found to be one per thread: clients send the same Host on every
// request, and parsing it as an address costs ~700 instructions (~1.5 % of a publish).
bool ip_literal(const std::string& name) {
  thread_local std::string last_literal;
  if (!name.empty() && name == last_literal) return true;
  std::error_code ec;
  asio::ip::make_address(name, ec);
  if (!ec) last_literal = name;
  return !ec;
}

// DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1 reaches us with
// "Host: evil.example". With a host check on, only IP literals, localhost and the allowed
// names are answered; a request without Host (HTTP/1.0) is answered.
std::optional<Problem> check_host(const HttpRequest& r, const RestOptions& o) {
  if (!o.check_host) return std::nullopt;
  const std::string& host = header(r, "host");
  if (host.empty()) return std::nullopt;
  const std::string name = host_name(host);
  if (name == "localhost" || ip_literal(name)) return std::nullopt;
  for (const std::string& allowed : o.allowed_hosts)
    if (lower(allowed) == name) return std::nullopt;
  return Problem{421, "misdirected_request", "Host",
                 "host '" + name + "' is not served here; allow it with --allowed-hosts", {}};
}

// CSRF: a cross-site page may send a POST without asking (a form, or fetch with text/plain
// or no body) but not one with Content-Type: application/json, which needs a CORS preflight.
// So every POST, and every other request with a body, must say application/json.
std::optional<Problem> check_content_type(const HttpRequest& r) {
  if (r.method != "POST" && r.body.empty()) return std::nullopt;
  const std::string& given = header(r, "content-type");
  if (equals_lower(trim(std::string_view(given).substr(0, given.find(';'))), "application/json"))
    return std::nullopt;
  const std::string type = lower(given);
  return Problem{415, "unsupported_media_type", "Content-Type",
                 "send the body as Content-Type: application/json" +
                     (type.empty() ? std::string() : " (got '" + type + "')"),
                 {}};
}

// The methods the routes of `segs` answer: "GET, HEAD, OPTIONS" style; empty: no route.
std::string allowed_methods(const std::vector<std::string>& segs) {
  std::string allow;
  std::vector<std::string> params;
  auto add = [&allow](const std::string& m) {
    if (allow.find(m) == std::string::npos) allow += (allow.empty() ? "" : ", ") + m;
  };
  for (const Route& route : kRoutes) {
    if (!match(route.pattern, segs, params)) continue;
    add(route.method);
    if (std::string_view(route.method) == "GET") add("HEAD");
  }
  if (!allow.empty()) add("OPTIONS");
  return allow;
}

// CSRF and CORS: a browser names the page's origin in Origin. One that is neither ours nor
// allowed is refused; an allowed one gets the CORS headers on the answer. herald takes
// bearer tokens, never cookies, so Access-Control-Allow-Credentials is never sent.
std::optional<Problem> check_origin(Call& c) {
  const std::string& origin = header(c.request, "origin");
  if (origin.empty()) return std::nullopt;
  if (!origin_allowed(origin, header(c.request, "host"), c.options.cors_origins))
    return Problem{403, "forbidden", "Origin",
                   "origin '" + origin + "' may not call this API; allow it with --cors-origin",
                   {}};
  c.respond = [inner = std::move(c.respond), origin](HttpResponse r) {
    r.headers.push_back({"Access-Control-Allow-Origin", origin});
    r.headers.push_back({"Access-Control-Expose-Headers", "Retry-After"});
    r.headers.push_back({"Vary", "Origin"});
    inner(std::move(r));
  };
  return std::nullopt;
}

// OPTIONS: 204 with Allow, and for a CORS preflight (an allowed Origin, checked before)
// the methods and request headers a cross-site caller may use.
void answer_options(Call& c, const std::string& allow) {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  r.headers = {{"Allow", allow}};
  if (!header(c.request, "origin").empty() &&
      !header(c.request, "access-control-request-method").empty()) {
    r.headers.push_back({"Access-Control-Allow-Methods", allow});
    r.headers.push_back(
        {"Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, Idempotency-Key"});
    r.headers.push_back({"Access-Control-Max-Age", "600"});
  }
  c.respond(std::move(r));
}

// HEAD runs the GET route (the transport sends the head of its answer without the body).
void dispatch(Call& c) {
  if (auto p = check_host(c.request, c.options)) return c.respond(error_response(*p));
  if (auto p = check_origin(c)) return c.respond(error_response(*p));
  auto segs = segments(c.request);
  if (!segs)
    return c.respond(error_response(bad_field("path", "malformed percent-encoding in the path")));
  const std::string method = c.request.method == "HEAD" ? "GET" : c.request.method;
  for (const Route& route : kRoutes) {
    std::vector<std::string> params;
    if (method != route.method || !match(route.pattern, *segs, params)) continue;
    if (auto p = authorize(c.options.auth, route.access, c.request, path_subjects(route, params),
                           c.stats.auth, c.principal))
      return c.respond(error_response(*p));
    if (auto p = check_content_type(c.request)) return c.respond(error_response(*p));
    c.params = std::move(params);
    return route.fn(c);
  }
  for (const ExtraRoute& route : c.options.extra_routes) {
    std::vector<std::string> params;
    if (method != route.method || !match(route.pattern, *segs, params)) continue;
    if (auto p = authorize(c.options.auth, route.access, c.request, {}, c.stats.auth, c.principal))
      return c.respond(error_response(*p));
    if (auto p = check_content_type(c.request)) return c.respond(error_response(*p));
    return route.handler(c.request, params, std::move(c.respond));
  }
  if (auto file = static_file(c.request)) return c.respond(std::move(*file));
  const std::string allow = allowed_methods(*segs);
  if (allow.empty())
    return c.respond(error_response(
        {404, "not_found", {}, "no route " + c.request.method + " " + c.request.path, {}}));
  if (c.request.method == "OPTIONS") return answer_options(c, allow);
  c.respond(error_response({405,
                            "method_not_allowed",
                            {},
                            c.request.method + " is not allowed here; allowed: " + allow,
                            {{"Allow", allow}}}));
}

// Wraps `respond` so that it runs at most once, counts the status and logs the request when
// it is answered: 5xx at warn, the rest at debug (off by default, so the hot path costs one
// level check). One allocation for all of it. Copies of the wrapper share that state, but a
// std::function copies a functor that holds a shared_ptr to the heap (libstdc++ keeps only
// trivially copyable functors inline): routes move `respond` where they can.
Respond guarded(Respond respond, std::shared_ptr<HttpStats> stats, const HttpRequest& r) {
  struct Once {
    Respond respond;
    std::shared_ptr<HttpStats> stats;
    std::string method, path, remote;  // for the log line
    std::chrono::steady_clock::time_point start;
    std::atomic<bool> done{false};
  };
  auto once = std::make_shared<Once>();
  once->respond = std::move(respond);
  once->stats = std::move(stats);
  once->method = r.method;
  once->path = r.path;
  once->remote = r.remote;
  once->start = std::chrono::steady_clock::now();
  return [once](HttpResponse res) {
    if (once->done.exchange(true)) return;
    const int status = res.status;
    once->stats->count(status);
    once->respond(std::move(res));
    log_request(once->method, once->path, once->remote, status, once->start);
  };
}

}  // namespace

ReadinessProbe store_probe(Engine& engine, std::shared_ptr<Executor> timers,
                           std::function<bool()> running, Duration timeout) {
  return [&engine, timers = std::move(timers), running = std::move(running),
          timeout](std::function<void(bool, std::string)> answer) {
    if (!running()) return answer(false, "engine is not running");
    auto once = std::make_shared<std::atomic<bool>>(false);
    auto reply = [once, answer = std::move(answer)](bool ready, std::string reason) {
      if (!once->exchange(true)) answer(ready, std::move(reason));
    };
    const Executor::TimerId timer = timers->schedule(
        timeout, [reply] { reply(false, "store did not answer within the timeout"); });
    engine.unread_count(kReadyUser, [reply, timers, timer](Result<std::uint64_t> r) {
      timers->cancel(timer);
      reply(r.ok(), r.ok() ? std::string() : "store: " + r.status().message());
    });
  };
}

RestApi::RestApi(Engine& engine, ReadinessProbe ready, RestOptions options)
    : engine_(engine),
      ready_(std::move(ready)),
      options_(options),
      stats_(std::make_shared<HttpStats>()) {}

void RestApi::handle(HttpRequest request, Respond respond) {
  Call c{engine_, options_, ready_, *stats_, std::move(request), {}, {}};
  c.respond = guarded(std::move(respond), stats_, c.request);
  try {
    dispatch(c);
  } catch (const std::exception& e) {
    c.respond(error_response({500, "internal", {}, std::string("unexpected: ") + e.what(), {}}));
  } catch (...) {
    c.respond(error_response({500, "internal", {}, "unexpected exception", {}}));
  }
}

}  // namespace herald::server
