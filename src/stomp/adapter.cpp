// STOMP 1.2 onto the engine (include/herald/stomp.hpp, docs/stomp.md). A Session stands
// between a transport connection that speaks STOMP and the engine, to which it is a
// Connection speaking the native JSON protocol (docs/protocol.md).
//
// Threading: all adapter state lives on one Executor. Every entry point (the router's
// ConnectionHandler methods called by the transport, the Connection methods called by the
// engine) posts a task onto it; nothing runs inline, so a transport that reports
// on_written from inside send() (the in-process one) cannot re-enter a session.

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "herald/json_text.hpp"
#include "herald/model.hpp"
#include "herald/notification_head.hpp"
#include "herald/stomp.hpp"
#include "herald/version.hpp"

namespace herald::stomp {

namespace {

using nlohmann::json;

constexpr const char* kInboxDestination = "/user/queue/notifications";
constexpr std::string_view kTopicPrefix = "/topic/";
constexpr const char* kBroadcastTopic = "$broadcast";
constexpr const char* kServer = "herald/" HERALD_VERSION_STRING;

enum class AckMode { automatic, client, individual };

class MessageBodies;

// What the sessions share with the router.
struct Shared {
  std::shared_ptr<Executor> executor;
  StompOptions options;
  ConnectionHandler* engine = nullptr;  // set by Transport::start, before any connection
  std::shared_ptr<MessageBodies> bodies;  // on the executor only
};

struct Subscription {
  enum class Kind { inbox, topic, broadcast };
  Kind kind = Kind::inbox;
  std::string destination;
  std::string topic;  // Kind::topic and Kind::broadcast
  AckMode ack = AckMode::automatic;
};

// A native request of ours the engine answers with the same rid.
struct PendingRequest {
  bool subscribe = true;  // else an unsubscribe
  std::string subscription;
  std::string receipt;  // the client's receipt header, empty: none
  bool stale = false;   // the subscription went meanwhile: ignore the answer
};

// A STOMP frame to write and the engine bytes it stands for (reported once it is written).
// An inbox entry the engine delivered and has not had acked yet.
struct Outstanding {
  Seq seq = 0;
  bool sent = false;   // passed on to the client (not held or dropped)
  bool acked = false;  // acknowledged by the client
};

struct Written {
  std::size_t stomp = 0;
  std::size_t engine = 0;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end) return std::nullopt;
  return v;
}

// "cx,cy" of a heart-beat header.
bool parse_heartbeat(const std::string& text, std::uint64_t& x, std::uint64_t& y) {
  const std::size_t comma = text.find(',');
  if (comma == std::string::npos) return false;
  auto a = parse_number(std::string_view(text).substr(0, comma));
  auto b = parse_number(std::string_view(text).substr(comma + 1));
  if (!a || !b) return false;
  x = *a;
  y = *b;
  return true;
}

// The id and type at the start of a notification body (protocol::notification_body:
// `"id":"<digits>","type":<JSON string>,…`). Empty when the shape is not that.
void leading_fields(std::string_view body, std::string& id, std::string& type) {
  constexpr std::string_view kId = "\"id\":\"";
  constexpr std::string_view kType = "\",\"type\":";
  if (!starts_with(body, kId)) return;
  const std::size_t id_end = body.find('"', kId.size());
  if (id_end == std::string_view::npos || body.substr(id_end, kType.size()) != kType) return;
  std::size_t at = id_end + kType.size();
  if (at >= body.size() || body[at] != '"') return;
  std::size_t end = at + 1;
  while (end < body.size() && body[end] != '"') end += body[end] == '\\' ? 2 : 1;
  if (end >= body.size()) return;
  json literal = json::parse(body.begin() + static_cast<std::ptrdiff_t>(at),
                             body.begin() + static_cast<std::ptrdiff_t>(end + 1), nullptr, false);
  if (!literal.is_string()) return;
  id = std::string(body.substr(kId.size(), id_end - kId.size()));
  type = literal.get<std::string>();
}

// What every recipient of one notification shares, made once per fan-out (the engine
// hands all of them the same body buffer): the MESSAGE body after its '{' — the
// notification's own fields — with the frame's NUL, and the herald-id and herald-type
// headers. Used on the adapter's one executor only.
class MessageBodies {
 public:
  struct Parts {
    std::shared_ptr<const std::string> tail;
    std::string id_and_type;  // "herald-id:…\nherald-type:…\n", escaped
  };

  /// The parts for `body`, whose notification fields are `fields` (a view into it).
  const Parts& parts(const std::shared_ptr<const std::string>& body, std::string_view fields) {
    for (Entry& e : entries_)
      if (e.key == body.get() && !e.body.expired()) return e.parts;
    Entry& e = entries_[next_++ % entries_.size()];
    e.key = body.get();
    e.body = body;  // expired: that body is gone, whatever now lives at its address
    auto tail = std::make_shared<std::string>();
    tail->reserve(fields.size() + 1);
    tail->append(fields);
    tail->push_back('\0');
    e.parts.tail = std::move(tail);
    std::string id, type;
    leading_fields(fields, id, type);
    e.parts.id_and_type.clear();
    for (const auto& [name, value] :
         {std::pair{"herald-id", &id}, std::pair{"herald-type", &type}}) {
      e.parts.id_and_type += name;
      e.parts.id_and_type += ':';
      append_escaped(e.parts.id_and_type, *value);
      e.parts.id_and_type += '\n';
    }
    return e.parts;
  }

 private:
  struct Entry {
    const std::string* key = nullptr;
    std::weak_ptr<const std::string> body;
    Parts parts;
  };
  std::array<Entry, 8> entries_;
  std::size_t next_ = 0;
};

// A notification frame's position and where its own fields start. Read from the head
// without a parser (herald/notification_head.hpp); a stream whose name the frame writes
// with escapes is parsed (`name` and `epoch` then point into the owned copies).
struct Delivery {
  NotificationHead head;
  std::string_view fields;  // the notification's own fields: `"id":…}`
  std::string owned_name, owned_epoch;
};

bool read_delivery(const Frame& frame, Delivery& d) {
  // A topic frame comes framed whole (an empty head): its fields start after the head.
  const std::string_view text = frame.head.empty() ? std::string_view(*frame.body) : frame.head;
  if (read_notification_head(text, d.head)) {
    d.fields = frame.head.empty() ? text.substr(d.head.size) : std::string_view(*frame.body);
    return true;
  }
  // The head's strings have their quotes escaped, so the first `,"id":"` ends it.
  const std::size_t head_size = frame.head.empty() ? text.find(",\"id\":\"") + 1 : text.size();
  if (head_size < 2) return false;  // no `,"id":"` (npos + 1 is 0), or no head
  const json j = json::parse(std::string(text.substr(0, head_size - 1)) + "}", nullptr, false);
  if (!j.is_object()) return false;
  const std::string stream = j.value("stream", "");
  d.head.inbox = starts_with(stream, "inbox:");
  if (!d.head.inbox && !starts_with(stream, "topic:")) return false;
  d.owned_name = stream.substr(6);
  d.owned_epoch = j.value("epoch", "");
  d.head.name = d.owned_name;
  d.head.epoch = d.owned_epoch;
  d.head.seq = j.value("seq", Seq{0});
  d.head.attempt = j.value("attempt", std::uint32_t{1});
  d.fields = frame.head.empty() ? text.substr(head_size) : std::string_view(*frame.body);
  return true;
}

// `name:value\n`, the value escaped.
void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ':';
  append_escaped(out, value);
  out += '\n';
}

std::string header_or(const StompFrame& f, std::string_view name, std::string fallback = {}) {
  const std::string* v = f.header(name);
  return v ? *v : std::move(fallback);
}

class Session final : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<const Shared> shared, std::shared_ptr<Connection> inner)
      : shared_(std::move(shared)), inner_(std::move(inner)), handshake_(inner_->handshake()) {}

  // ---- Connection: the engine's side; any thread -----------------------------------

  void send(Frame frame) override {
    shared_->executor->post([self = shared_from_this(), frame = std::move(frame)]() mutable {
      self->from_engine(std::move(frame));
    });
  }
  void close(CloseCode code, std::string reason) override {
    shared_->executor->post([self = shared_from_this(), code, reason = std::move(reason)] {
      self->engine_closes(code, reason);
    });
  }
  /// The transport's handshake until CONNECT, then the copy carrying its credentials; it
  /// does not change after the engine's on_open.
  const Handshake& handshake() const override { return handshake_; }

  // ---- the transport's side; on the executor ----------------------------------------

  void start() {
    last_rx_ = now();
    std::weak_ptr<Session> weak = weak_from_this();
    connect_timer_ = shared_->executor->schedule(options().connect_timeout, [weak] {
      auto self = weak.lock();
      if (!self) return;
      self->connect_timer_ = 0;
      if (self->phase_ == Phase::awaiting_connect)
        self->fail(nullptr, "no CONNECT frame in time", CloseCode::protocol_error);
    });
  }

  void on_client(const std::string& text) {
    if (phase_ == Phase::closed || closing_) return;
    last_rx_ = now();
    std::string_view input = text;
    if (!partial_.empty()) {
      partial_ += text;
      input = partial_;
    }
    Decoded d = decode(input, options().limits);
    std::string rest(input.substr(d.consumed));
    for (StompFrame& f : d.frames) {
      if (closing_) return;
      on_frame(std::move(f));
    }
    if (closing_) return;
    if (!d.error.empty()) return fail(nullptr, "malformed frame", CloseCode::protocol_error, d.error);
    partial_ = std::move(rest);
  }

  void on_client_written(std::size_t bytes) {
    credit_ += bytes;
    settle();
  }

  void on_client_closed(CloseCode code, const std::string& reason) {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    for (Executor::TimerId* t : {&connect_timer_, &send_timer_, &watch_timer_}) {
      if (*t != 0) shared_->executor->cancel(*t);
      *t = 0;
    }
    pending_inbox_.clear();
    early_.clear();
    if (engine_open_) {
      engine_open_ = false;
      engine()->on_closed(shared_from_this(), code, reason);
    }
  }

 private:
  enum class Phase { awaiting_connect, authenticating, connected, closed };

  const StompOptions& options() const { return shared_->options; }
  ConnectionHandler* engine() const { return shared_->engine; }
  TimePoint now() const { return shared_->executor->now(); }

  // ---- output ------------------------------------------------------------------------

  // Writes a STOMP frame (or heart-beat) standing for `engine_bytes` of engine output.
  void write(std::string text, std::size_t engine_bytes = 0) {
    write(Frame{std::move(text), nullptr}, engine_bytes);
  }
  void write(Frame frame, std::size_t engine_bytes) {
    written_.push_back({frame.size(), engine_bytes});
    inner_->send(std::move(frame));
    last_tx_ = now();
  }
  // Engine output that produced nothing to write now: counted as written in order.
  void swallow(std::size_t engine_bytes) {
    written_.push_back({0, engine_bytes});
    settle();
  }
  // Reports to the engine the engine bytes of every frame the transport wrote.
  void settle() {
    std::size_t report = 0;
    while (!written_.empty() && written_.front().stomp <= credit_) {
      credit_ -= written_.front().stomp;
      report += written_.front().engine;
      written_.pop_front();
    }
    if (report != 0 && engine_open_) engine()->on_written(shared_from_this(), report);
  }

  void to_engine(const json& request) {
    if (engine_open_) engine()->on_message(shared_from_this(), request.dump());
  }

  void receipt(const std::string& id) {
    if (id.empty()) return;
    write(encode({"RECEIPT", {{"receipt-id", id}}, {}}));
  }
  void receipt(const StompFrame& f) { receipt(header_or(f, "receipt")); }

  // ERROR, then close: STOMP closes the connection after every ERROR frame.
  void fail(const StompFrame* cause, const std::string& message, CloseCode code,
            const std::string& detail = {}) {
    if (closing_ || phase_ == Phase::closed) return;
    StompFrame error{"ERROR", {{"message", message}}, detail.empty() ? message : detail};
    if (cause)
      if (const std::string* r = cause->header("receipt")) error.headers.emplace_back("receipt-id", *r);
    error.headers.emplace_back("content-type", "text/plain");
    write(encode(error));
    closing_ = true;
    early_.clear();
    inner_->close(code, message);
  }

  // ---- client frames -----------------------------------------------------------------

  void on_frame(StompFrame f) {
    const std::string& c = f.command;
    if (phase_ == Phase::awaiting_connect) {
      if (c == "CONNECT" || c == "STOMP") return on_connect(f);
      return fail(&f, "expected CONNECT", CloseCode::protocol_error,
                  "the first frame must be CONNECT or STOMP, not " + c);
    }
    if (c == "CONNECT" || c == "STOMP") return fail(&f, "already connected", CloseCode::protocol_error);
    if (phase_ == Phase::authenticating) {
      if (early_.size() >= options().max_early_frames)
        return fail(&f, "too many frames before CONNECTED", CloseCode::protocol_error);
      early_.push_back(std::move(f));
      return;
    }
    if (c == "SUBSCRIBE") return on_subscribe(f);
    if (c == "UNSUBSCRIBE") return on_unsubscribe(f);
    if (c == "ACK" || c == "NACK") return on_ack(f, c == "ACK");
    if (c == "DISCONNECT") {
      receipt(f);
      closing_ = true;
      inner_->close(CloseCode::normal, "DISCONNECT");
      return;
    }
    if (c == "SEND")
      return fail(&f, "SEND is not supported", CloseCode::protocol_error,
                  "herald takes publishes through its REST API (POST /notify)");
    if (c == "BEGIN" || c == "COMMIT" || c == "ABORT")
      return fail(&f, "transactions are not supported", CloseCode::protocol_error);
    fail(&f, "unknown command", CloseCode::protocol_error, "unknown command " + c);
  }

  void on_connect(const StompFrame& f) {
    const std::string versions = header_or(f, "accept-version", "1.0");
    std::string chosen;
    for (const char* v : {"1.2", "1.1"}) {
      std::size_t at = 0;
      while (chosen.empty() && at <= versions.size()) {
        std::size_t comma = versions.find(',', at);
        if (comma == std::string::npos) comma = versions.size();
        if (versions.compare(at, comma - at, v) == 0) chosen = v;
        at = comma + 1;
      }
    }
    if (chosen.empty()) {
      StompFrame error{"ERROR", {{"version", "1.2,1.1"}, {"content-type", "text/plain"},
                                 {"message", "unsupported STOMP version"}},
                       "Supported protocol versions are 1.2 and 1.1"};
      write(encode(error));
      closing_ = true;
      inner_->close(CloseCode::protocol_error, "unsupported STOMP version");
      return;
    }
    version_ = chosen;
    std::uint64_t cx = 0, cy = 0;
    if (const std::string* hb = f.header("heart-beat"); hb && !parse_heartbeat(*hb, cx, cy))
      return fail(&f, "invalid heart-beat header", CloseCode::protocol_error,
                  "heart-beat must be two numbers: <send ms>,<receive ms>");
    const std::uint64_t ours = static_cast<std::uint64_t>(options().heartbeat.count());
    send_every_ = Duration(ours == 0 || cy == 0 ? 0 : std::max(ours, cy));
    expect_every_ = Duration(ours == 0 || cx == 0 ? 0 : std::max(ours, cx));

    // The engine's Authenticator decides, from the handshake carrying the CONNECT's
    // credentials.
    const std::string* auth = f.header("Authorization");
    if (!auth) auth = f.header("authorization");
    if (auth) {
      handshake_.headers["authorization"] = *auth;
    } else if (const std::string* passcode = f.header("passcode"); passcode && !passcode->empty()) {
      handshake_.headers["authorization"] = "Bearer " + *passcode;
    }
    if (const std::string* login = f.header("login"); login && !login->empty())
      handshake_.query["userId"] = *login;
    if (connect_timer_ != 0) shared_->executor->cancel(connect_timer_);
    connect_timer_ = 0;
    phase_ = Phase::authenticating;
    engine_open_ = true;
    engine()->on_open(shared_from_this());
  }

  void on_subscribe(const StompFrame& f) {
    const std::string* id = f.header("id");
    const std::string* destination = f.header("destination");
    if (!id) return fail(&f, "missing header 'id'", CloseCode::protocol_error);
    if (!destination) return fail(&f, "missing header 'destination'", CloseCode::protocol_error);
    Subscription sub;
    sub.destination = *destination;
    const std::string ack = header_or(f, "ack", "auto");
    if (ack == "auto") {
      sub.ack = AckMode::automatic;
    } else if (ack == "client") {
      sub.ack = AckMode::client;
    } else if (ack == "client-individual") {
      sub.ack = AckMode::individual;
    } else {
      return fail(&f, "invalid ack mode", CloseCode::protocol_error,
                  "ack must be auto, client or client-individual, not " + ack);
    }
    if (subscriptions_.count(*id))
      return fail(&f, "subscription id already in use", CloseCode::protocol_error);
    if (subscriptions_.size() >= options().max_subscriptions)
      return fail(&f, "too many subscriptions", CloseCode::protocol_error);

    if (*destination == kInboxDestination) {
      if (!inbox_subscription_.empty())
        return fail(&f, "already subscribed to " + *destination, CloseCode::protocol_error);
      sub.kind = Subscription::Kind::inbox;
      subscriptions_.emplace(*id, sub);
      inbox_subscription_ = *id;
      receipt(f);
      std::deque<Frame> held = std::move(pending_inbox_);
      pending_inbox_.clear();
      for (Frame& frame : held) deliver(frame, 0);
      return;
    }
    if (!starts_with(*destination, kTopicPrefix) || destination->size() == kTopicPrefix.size())
      return fail(&f, "unknown destination", CloseCode::protocol_error,
                  "destinations are " + std::string(kInboxDestination) + " and /topic/<name>, not " +
                      *destination);
    sub.topic = destination->substr(kTopicPrefix.size());
    if (topics_.count(sub.topic))
      return fail(&f, "already subscribed to " + *destination, CloseCode::protocol_error);
    topics_[sub.topic] = *id;
    if (sub.topic == kBroadcastTopic) {
      sub.kind = Subscription::Kind::broadcast;  // every session receives it anyway
      subscriptions_.emplace(*id, sub);
      return receipt(f);
    }
    sub.kind = Subscription::Kind::topic;
    subscriptions_.emplace(*id, sub);
    const std::string rid = "s" + std::to_string(++next_rid_);
    requests_[rid] = {true, *id, header_or(f, "receipt"), false};
    to_engine({{"op", "subscribe"}, {"topic", sub.topic}, {"rid", rid}});
  }

  void on_unsubscribe(const StompFrame& f) {
    const std::string* id = f.header("id");
    if (!id) return fail(&f, "missing header 'id'", CloseCode::protocol_error);
    auto it = subscriptions_.find(*id);
    if (it == subscriptions_.end()) return receipt(f);  // nothing to leave
    const Subscription sub = it->second;
    subscriptions_.erase(it);
    if (sub.kind == Subscription::Kind::inbox) {
      inbox_subscription_.clear();  // later inbox MESSAGEs wait for the next subscription
      return receipt(f);
    }
    topics_.erase(sub.topic);
    if (sub.kind == Subscription::Kind::broadcast) return receipt(f);
    // A subscribe still unanswered gets no answer now (the engine leaves the topic before
    // it joined it): its receipt is due here.
    for (auto& [rid, request] : requests_) {
      if (!request.subscribe || request.subscription != *id || request.stale) continue;
      request.stale = true;
      receipt(request.receipt);
    }
    const std::string rid = "u" + std::to_string(++next_rid_);
    requests_[rid] = {false, *id, header_or(f, "receipt"), false};
    to_engine({{"op", "unsubscribe"}, {"topic", sub.topic}, {"rid", rid}});
  }

  // ACK/NACK id=<message-id>. Inbox entries only: topic entries need no ack, ids that name
  // nothing outstanding are ignored. A NACK acks nothing: the engine delivers the entry
  // again after its ack timeout.
  void on_ack(const StompFrame& f, bool ack) {
    const std::string* id = f.header("id");
    if (!id) id = f.header("message-id");  // STOMP 1.1
    if (!id) return fail(&f, "missing header 'id'", CloseCode::protocol_error);
    const std::string prefix = "inbox:" + user_ + ":";
    auto sub = subscriptions_.find(inbox_subscription_);
    if (ack && starts_with(*id, prefix) && sub != subscriptions_.end()) {
      if (auto seq = parse_number(std::string_view(*id).substr(prefix.size()))) {
        for (Outstanding& o : outstanding_) {
          if (o.seq == *seq && o.sent) o.acked = true;
          if (o.seq < *seq && o.sent && sub->second.ack == AckMode::client) o.acked = true;
        }
        flush_acks();
      }
    }
    receipt(f);
  }

  // The engine's ack is cumulative: it goes up to the last of the delivered entries that
  // are all acknowledged (client-individual acks out of order, and entries held or dropped
  // before the client saw them, wait for the gap to close).
  void flush_acks() {
    Seq upto = 0;
    while (!outstanding_.empty() && outstanding_.front().acked) {
      upto = outstanding_.front().seq;
      outstanding_.pop_front();
    }
    if (upto == 0) return;
    acked_ = upto;
    to_engine({{"op", "ack"}, {"seq", upto}});
  }

  // ---- engine frames -----------------------------------------------------------------

  void from_engine(Frame frame) {
    const std::size_t size = frame.size();
    if (phase_ == Phase::closed || closing_) return swallow(size);
    if (frame.body) return deliver(frame, size);  // notifications
    json j = json::parse(frame.head, nullptr, false);
    const std::string op = j.is_object() ? j.value("op", "") : "";
    if (op == "welcome") return welcome(j, size);
    if (op == "reset") return deliver(frame, size);
    if (op == "subscribed" || op == "unsubscribed") {
      swallow(size);
      auto it = requests_.find(j.value("rid", ""));
      if (it == requests_.end()) return;
      PendingRequest request = it->second;
      requests_.erase(it);
      if (!request.stale) receipt(request.receipt);
      return;
    }
    if (op == "error") {
      swallow(size);
      std::string receipt_id;
      auto it = requests_.find(j.value("rid", ""));
      if (it != requests_.end()) {
        PendingRequest request = it->second;
        requests_.erase(it);
        if (request.stale || !request.subscribe) return;  // leaving a topic never joined
        auto sub = subscriptions_.find(request.subscription);
        if (sub != subscriptions_.end()) {
          topics_.erase(sub->second.topic);
          subscriptions_.erase(sub);
        }
        receipt_id = request.receipt;
      }
      StompFrame cause{"SUBSCRIBE", {}, {}};
      if (!receipt_id.empty()) cause.headers.emplace_back("receipt", receipt_id);
      const std::string message = j.value("message", "error");
      return fail(&cause, message, CloseCode::protocol_error,
                  j.value("code", "internal") + ": " + message);
    }
    swallow(size);  // pong, read, history, refreshed: never asked for
  }

  void welcome(const json& j, std::size_t size) {
    if (phase_ != Phase::authenticating) return swallow(size);
    phase_ = Phase::connected;
    user_ = j.value("user", "");
    acked_ = j.value("cursor", Seq{0});
    StompFrame connected{"CONNECTED",
                         {{"version", version_},
                          {"heart-beat", std::to_string(options().heartbeat.count()) + "," +
                                             std::to_string(options().heartbeat.count())},
                          {"server", kServer},
                          {"session", j.value("session", "")},
                          {"user-name", user_}},
                         {}};
    write(encode(connected), size);
    last_rx_ = now();
    arm_send_timer();
    arm_watch_timer();
    std::deque<StompFrame> early = std::move(early_);
    early_.clear();
    for (StompFrame& f : early) {
      if (closing_) return;
      on_frame(std::move(f));
    }
  }

  // A notification or reset frame: a MESSAGE to the stream's subscription, held (inbox)
  // until the client subscribed, or dropped (a topic left meanwhile).
  void deliver(const Frame& frame, std::size_t engine_bytes) {
    if (!frame.body) return deliver_reset(frame, engine_bytes);
    Delivery d;
    if (!read_delivery(frame, d)) return swallow(engine_bytes);
    const bool inbox = d.head.inbox;
    const Seq seq = d.head.seq;
    // Every inbox entry the engine sent counts, also one held or dropped here: the engine's
    // cumulative ack must not pass it before the client acked it.
    if (inbox && seq > (outstanding_.empty() ? acked_ : outstanding_.back().seq))
      outstanding_.push_back({seq, false, false});
    const auto* subscribed = subscription_of(inbox, d.head.name);
    if (!subscribed) {
      if (inbox) hold(frame);
      return swallow(engine_bytes);
    }
    const auto& [sub_id, sub] = *subscribed;
    // Runs for every recipient of a fan-out: the headers are written into one string, the
    // body is the buffer every recipient shares (MessageBodies), nothing is parsed.
    const MessageBodies::Parts& shared = shared_->bodies->parts(frame.body, d.fields);
    const std::string_view kind = inbox ? "inbox:" : "topic:";
    std::string head;
    head.reserve(256 + sub.destination.size() + 3 * d.head.name.size());
    head += "MESSAGE\n";
    append_header(head, "destination", sub.destination);
    append_header(head, "subscription", sub_id);
    auto stream = [&] {  // "inbox:<user>" or "topic:<name>", escaped
      append_escaped(head, kind);
      append_escaped(head, d.head.name);
    };
    auto message_id = [&](std::string_view header) {  // <stream>:<seq>
      head.append(header).append(":");
      stream();
      head += "\\c";
      append_json_integer(head, seq);
      head += '\n';
    };
    message_id("message-id");
    if (sub.ack != AckMode::automatic) message_id("ack");
    head += "content-type:application/json\nherald-stream:";
    stream();
    head += "\nherald-seq:";
    append_json_integer(head, seq);
    head += '\n';
    append_header(head, "herald-epoch", d.head.epoch);
    head += shared.id_and_type;
    if (d.head.attempt > 1) {
      head += "redelivered:true\nherald-attempt:";
      append_json_integer(head, d.head.attempt);
      head += '\n';
    }
    head += "content-length:";
    append_json_integer(head, d.fields.size() + 1);  // with the '{'
    head += "\n\n{";
    write(Frame{std::move(head), shared.tail}, engine_bytes);
    if (!inbox) return;
    for (Outstanding& o : outstanding_) {
      if (o.seq != seq) continue;
      o.sent = true;
      if (sub.ack == AckMode::automatic) o.acked = true;
    }
    if (sub.ack == AckMode::automatic) flush_acks();
  }

  // A reset: the stream continues from `head` in another epoch. One per session and
  // stream at most, so it is parsed.
  void deliver_reset(const Frame& frame, std::size_t engine_bytes) {
    const json j = json::parse(frame.head, nullptr, false);
    const std::string stream = j.is_object() ? j.value("stream", "") : "";
    const bool inbox = starts_with(stream, "inbox:");
    if (!inbox && !starts_with(stream, "topic:")) return swallow(engine_bytes);
    const auto* subscribed = subscription_of(inbox, std::string_view(stream).substr(6));
    if (!subscribed) {
      if (inbox) hold(frame);  // replayed in order once the client subscribes
      return swallow(engine_bytes);
    }
    const auto& [sub_id, sub] = *subscribed;
    const std::string epoch = j.value("epoch", "");
    const Seq head_seq = j.value("head", Seq{0});
    StompFrame m{"MESSAGE",
                 {{"destination", sub.destination},
                  {"subscription", sub_id},
                  {"message-id", stream + ":reset:" + epoch + ":" + std::to_string(head_seq)},
                  {"content-type", "application/json"},
                  {"herald-op", "reset"},
                  {"herald-stream", stream},
                  {"herald-epoch", epoch},
                  {"herald-head", std::to_string(head_seq)},
                  {"herald-reason", j.value("reason", "")}},
                 frame.head};
    if (inbox) {
      outstanding_.clear();
      acked_ = head_seq;
    }
    write(encode(m), engine_bytes);
  }

  // The client's subscription to the inbox or to `topic` (its id is the entry's key); null
  // if none. One map lookup: it runs for every MESSAGE.
  const std::pair<const std::string, Subscription>* subscription_of(bool inbox,
                                                                    std::string_view topic) const {
    const std::string* id = &inbox_subscription_;
    if (!inbox) {
      auto t = topics_.find(topic);
      if (t == topics_.end()) return nullptr;
      id = &t->second;
    }
    auto it = subscriptions_.find(*id);
    return it == subscriptions_.end() ? nullptr : &*it;
  }

  // An inbox frame before the inbox subscription. A redelivery replaces the copy held.
  void hold(const Frame& frame) {
    const std::size_t seq_at = frame.body ? frame.head.find("\"seq\":") : std::string::npos;
    if (seq_at != std::string::npos) {
      const std::string key = frame.head.substr(seq_at, frame.head.find(',', seq_at) - seq_at);
      for (Frame& held : pending_inbox_) {
        const std::size_t at = held.body ? held.head.find("\"seq\":") : std::string::npos;
        if (at == std::string::npos) continue;
        if (held.head.compare(at, key.size(), key) == 0 && at + key.size() < held.head.size() &&
            held.head[at + key.size()] == ',') {
          held = frame;
          return;
        }
      }
    }
    if (pending_inbox_.size() >= options().max_pending_messages) pending_inbox_.pop_front();
    pending_inbox_.push_back(frame);
  }

  // ---- the engine closes the session -------------------------------------------------

  void engine_closes(CloseCode code, const std::string& reason) {
    if (phase_ == Phase::closed || closing_) return;
    const char* message = code == CloseCode::unauthorized    ? "unauthorized"
                          : code == CloseCode::going_away    ? "server going away"
                          : code == CloseCode::slow_consumer ? "slow consumer"
                                                             : "session closed";
    if (code == CloseCode::normal) {
      closing_ = true;
      inner_->close(code, reason);
      return;
    }
    StompFrame error{"ERROR",
                     {{"message", message}, {"content-type", "text/plain"}},
                     reason.empty() ? std::string(message) : reason};
    write(encode(error));
    closing_ = true;
    early_.clear();
    inner_->close(code, reason);
  }

  // ---- heart-beats -------------------------------------------------------------------

  void arm_send_timer() {
    if (send_every_.count() == 0 || phase_ == Phase::closed) return;
    const Duration wait = std::max(
        Duration(1), std::chrono::duration_cast<Duration>(last_tx_ + send_every_ - now()));
    std::weak_ptr<Session> weak = weak_from_this();
    send_timer_ = shared_->executor->schedule(wait, [weak] {
      auto self = weak.lock();
      if (!self || self->phase_ == Phase::closed) return;
      self->send_timer_ = 0;
      if (self->closing_) return;
      if (self->now() - self->last_tx_ >= self->send_every_) self->write("\n");
      self->arm_send_timer();
    });
  }

  // A client that promised heart-beats every N ms and sent nothing for 2N is gone.
  void arm_watch_timer() {
    if (expect_every_.count() == 0 || phase_ == Phase::closed) return;
    const Duration limit = 2 * expect_every_;
    const Duration wait =
        std::max(Duration(1), std::chrono::duration_cast<Duration>(last_rx_ + limit - now()));
    std::weak_ptr<Session> weak = weak_from_this();
    watch_timer_ = shared_->executor->schedule(wait, [weak, limit] {
      auto self = weak.lock();
      if (!self || self->phase_ == Phase::closed) return;
      self->watch_timer_ = 0;
      if (self->closing_) return;
      if (self->now() - self->last_rx_ >= limit) {
        self->closing_ = true;
        self->inner_->close(CloseCode::idle_timeout, "no heart-beat from the client");
        return;
      }
      self->arm_watch_timer();
    });
  }

  std::shared_ptr<const Shared> shared_;
  std::shared_ptr<Connection> inner_;
  Handshake handshake_;
  Phase phase_ = Phase::awaiting_connect;
  bool engine_open_ = false;  // the engine got on_open and not yet on_closed
  bool closing_ = false;      // we closed the transport connection: input is ignored
  std::string partial_;       // the start of a frame split over WebSocket messages
  std::deque<StompFrame> early_;  // frames between CONNECT and CONNECTED
  std::string version_;
  std::string user_;
  Duration send_every_{0};
  Duration expect_every_{0};
  TimePoint last_tx_{};
  TimePoint last_rx_{};
  Executor::TimerId connect_timer_ = 0;
  Executor::TimerId send_timer_ = 0;
  Executor::TimerId watch_timer_ = 0;

  std::map<std::string, Subscription> subscriptions_;  // by the client's id
  std::string inbox_subscription_;                     // its id; empty: none
  std::map<std::string, std::string, std::less<>> topics_;  // topic -> subscription id
  std::map<std::string, PendingRequest> requests_;     // by rid
  std::uint64_t next_rid_ = 0;
  std::deque<Frame> pending_inbox_;  // inbox frames waiting for the inbox subscription

  // Inbox entries the engine delivered after the last engine ack, in seq order; the
  // engine's ack goes up to the first one not acked.
  std::deque<Outstanding> outstanding_;
  Seq acked_ = 0;  // the last seq acked to the engine (or the welcome's cursor)

  std::deque<Written> written_;
  std::size_t credit_ = 0;  // bytes the transport wrote not yet matched to frames
};

// The router: the ConnectionHandler `inner` reports to.
class Router final : public ConnectionHandler, public std::enable_shared_from_this<Router> {
 public:
  explicit Router(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Shared& shared() { return *shared_; }

  void on_open(std::shared_ptr<Connection> c) override {
    if (!is_stomp(*c)) return shared_->engine->on_open(std::move(c));
    post([c](Router& self) {
      auto s = std::make_shared<Session>(self.shared_, c);
      self.sessions_[c.get()] = s;
      s->start();
    });
  }
  void on_message(const std::shared_ptr<Connection>& c, std::string text) override {
    if (!is_stomp(*c)) return shared_->engine->on_message(c, std::move(text));
    post([c, text = std::move(text)](Router& self) {
      if (auto s = self.find(c.get())) s->on_client(text);
    });
  }
  void on_written(const std::shared_ptr<Connection>& c, std::size_t bytes) override {
    if (!is_stomp(*c)) return shared_->engine->on_written(c, bytes);
    post([c, bytes](Router& self) {
      if (auto s = self.find(c.get())) s->on_client_written(bytes);
    });
  }
  void on_closed(const std::shared_ptr<Connection>& c, CloseCode code,
                 std::string reason) override {
    if (!is_stomp(*c)) return shared_->engine->on_closed(c, code, std::move(reason));
    post([c, code, reason = std::move(reason)](Router& self) {
      auto it = self.sessions_.find(c.get());
      if (it == self.sessions_.end()) return;
      std::shared_ptr<Session> s = std::move(it->second);
      self.sessions_.erase(it);
      s->on_client_closed(code, reason);
    });
  }

 private:
  bool is_stomp(const Connection& c) const {
    return !shared_->options.path.empty() && c.handshake().path == shared_->options.path;
  }
  template <class F>
  void post(F f) {
    shared_->executor->post([self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }
  std::shared_ptr<Session> find(Connection* c) const {
    auto it = sessions_.find(c);
    return it == sessions_.end() ? nullptr : it->second;
  }

  std::shared_ptr<Shared> shared_;
  std::unordered_map<Connection*, std::shared_ptr<Session>> sessions_;  // on the executor
};

class StompTransport final : public Transport {
 public:
  StompTransport(Transport& inner, std::shared_ptr<Router> router)
      : inner_(inner), router_(std::move(router)) {}

  void start(ConnectionHandler& handler, Done done) override {
    router_->shared().engine = &handler;
    inner_.start(*router_, std::move(done));
  }
  void stop_accepting(Done done) override { inner_.stop_accepting(std::move(done)); }

 private:
  Transport& inner_;
  std::shared_ptr<Router> router_;
};

}  // namespace

std::unique_ptr<Transport> wrap(Transport& inner, std::shared_ptr<Executor> executor,
                                StompOptions options) {
  auto shared = std::make_shared<Shared>();
  shared->bodies = std::make_shared<MessageBodies>();
  shared->executor = std::move(executor);
  shared->options = std::move(options);
  return std::make_unique<StompTransport>(inner, std::make_shared<Router>(std::move(shared)));
}

}  // namespace herald::stomp
