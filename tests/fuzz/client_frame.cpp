// Fuzz target: the client's JSON frames of the native protocol (src/engine/protocol.hpp,
// parse_request: every op, seed-003's join frame).
//
// Invariants: a frame that parses re-encodes to a frame that parses to the same Request;
// a refused frame gets an error frame the engine can send (protocol::error, which throws
// on a message that is not UTF-8), and so does a request's reply (pong). A frame the engine's
// shortcut for acks (plain_ack) takes is one parse_request reads as that ack, without a
// rid, and the compact ack frame of every seq is taken by it.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/protocol.hpp"
#include "check.hpp"

using herald::protocol::Request;
using nlohmann::json;

namespace {

const char* op_name(Request::Op op) {
  switch (op) {
    case Request::Op::ping: return "ping";
    case Request::Op::ack: return "ack";
    case Request::Op::subscribe: return "subscribe";
    case Request::Op::unsubscribe: return "unsubscribe";
    case Request::Op::read: return "read";
    case Request::Op::read_all: return "read_all";
    case Request::Op::history: return "history";
    case Request::Op::refresh: return "refresh";
    case Request::Op::join: return "join";
  }
  return "";
}

// The frame a client would send for `r` (docs/protocol.md).
std::string encode(const Request& r) {
  json j;
  if (r.op == Request::Op::join) {
    j["room"] = r.topic.substr(5);  // "room:<room>"
    if (!r.user.empty()) j["userId"] = r.user;
    return j.dump();
  }
  j["op"] = op_name(r.op);
  if (!r.rid.empty()) j["rid"] = r.rid;
  switch (r.op) {
    case Request::Op::ack: j["seq"] = r.seq; break;
    case Request::Op::subscribe:
      j["topic"] = r.topic;
      if (r.since) j["since"] = *r.since;
      if (r.epoch) j["epoch"] = std::to_string(*r.epoch);
      break;
    case Request::Op::unsubscribe: j["topic"] = r.topic; break;
    case Request::Op::read: j["seqs"] = r.seqs; break;
    case Request::Op::history:
      j["stream"] = r.stream;
      j["before"] = r.before;
      j["limit"] = r.limit;
      break;
    case Request::Op::refresh: j["token"] = r.token; break;
    default: break;
  }
  return j.dump();
}

bool same(const Request& a, const Request& b) {
  return a.op == b.op && a.rid == b.rid && a.seq == b.seq && a.topic == b.topic &&
         a.since == b.since && a.epoch == b.epoch && a.seqs == b.seqs && a.stream == b.stream &&
         a.before == b.before && a.limit == b.limit && a.token == b.token && a.user == b.user;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const herald::Result<Request> parsed = herald::protocol::parse_request(text);
  if (const auto seq = herald::protocol::plain_ack(text)) {
    CHECK(parsed.ok() && parsed.value().op == Request::Op::ack && parsed.value().seq == *seq &&
          parsed.value().rid.empty());
  }
  if (!parsed.ok()) {
    CHECK(!parsed.status().message().empty());
    herald::protocol::error("", parsed.status());
    return 0;
  }
  const Request& r = parsed.value();
  herald::protocol::pong(r.rid);
  const herald::Result<Request> again = herald::protocol::parse_request(encode(r));
  CHECK(again.ok() && same(r, again.value()));
  if (r.op == Request::Op::ack) {
    const std::string compact = R"({"op":"ack","seq":)" + std::to_string(r.seq) + "}";
    CHECK(herald::protocol::plain_ack(compact) == std::optional<herald::Seq>(r.seq));
  }
  return 0;
}
