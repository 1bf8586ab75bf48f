// Fuzz target: SSE stream positions (backends/websocket/src/sse.hpp). Two ways in:
// - a Last-Event-ID the client sends (any bytes): apply_last_event_id turns it into the
//   handshake's since/epoch/topics, which the engine then parses (src/engine/sessions.cpp);
// - the frames a session receives (built with the engine's own protocol functions from
//   fuzzed fields): SsePositions tracks them, and its id() resumes where they left off.
//
// Invariants: an id the transport applies is one the engine accepts, up to its limit on the
// number of topics (sse.hpp: an id that does not parse is ignored, the session starts as
// without one), and an id the server wrote resumes every position it names. A frame tracked
// as the transport gets it (a notification's head apart from its shared body, read without
// a parser) moves the positions exactly as the JSON parser's reading of the whole frame does.

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "engine/protocol.hpp"
#include "sse.hpp"
#include "check.hpp"

using namespace herald;
using namespace herald::websocket::detail;

namespace {

constexpr std::size_t kMaxTopics = 256;  // EngineOptions::max_session_topics

// What the engine does with the handshake's resume parameters: true if it accepts them.
// `max_topics`: EngineOptions::max_session_topics (the transport does not know it).
bool engine_accepts(const Handshake& h, std::size_t max_topics = kMaxTopics) {
  auto since = h.query.find("since");
  auto epoch = h.query.find("epoch");
  if (since != h.query.end() && !protocol::parse_u64(since->second)) return false;
  if (epoch != h.query.end() && (!protocol::parse_u64(epoch->second) || since == h.query.end()))
    return false;
  auto topics = h.query.find("topics");
  return topics == h.query.end() || protocol::parse_topic_list(topics->second, max_topics).ok();
}

void resume_from(const std::string& id) {
  Handshake h;
  h.headers["last-event-id"] = id;
  apply_last_event_id(h);
  if (h.query.empty()) return;  // ignored
  CHECK(h.query.count("since") == 1);
  // Every part is checked by the transport but the number of topics, which is the engine's
  // limit to enforce.
  CHECK(engine_accepts(h, SIZE_MAX));
}

// A topic a session can join: the engine refuses names starting with '$' (but $broadcast,
// which every session follows and ids leave out).
bool joinable(const std::string& topic) {
  return valid_name(topic) && (topic[0] != '$' || topic == "$broadcast");
}

// One frame of the engine's, chosen and filled in by the input: `head`, and for a
// notification its `body` apart (Frame in herald/transport.hpp).
struct EngineFrame {
  std::string head;
  std::shared_ptr<const std::string> body;
  /// The whole frame with a space after its '{': the same JSON, which SsePositions can only
  /// read with its parser (its reader of notification heads wants the engine's exact text).
  std::string parsed_text() const { return "{ " + (body ? head + *body : head).substr(1); }
};

EngineFrame frame(FuzzedDataProvider& in, std::map<std::string, std::uint64_t>& topics) {
  const std::string topic = in.ConsumeRandomLengthString(24);
  const Seq seq = in.ConsumeIntegral<Seq>();
  const Epoch epoch = in.ConsumeIntegral<Epoch>();
  switch (in.ConsumeIntegralInRange(0, 4)) {
    case 0: {
      protocol::Welcome w;
      w.user = "u";
      w.stream = StreamId::inbox("u");
      w.epoch = epoch;
      w.cursor = seq;
      return {protocol::welcome(w), nullptr};
    }
    case 1:
      if (!joinable(topic)) return {};
      topics[topic] = seq;
      return {protocol::subscribed("", topic, StreamInfo{epoch, seq, 0}, seq), nullptr};
    case 2:
      if (!joinable(topic)) return {};  // the engine answers only topics it took
      topics.erase(topic);
      return {protocol::unsubscribed("", topic), nullptr};
    case 3: {
      const bool inbox = in.ConsumeBool();
      if (!inbox && !joinable(topic)) return {};
      const StreamId stream = inbox ? StreamId::inbox("u") : StreamId::topic(topic);
      return {protocol::reset(stream, StreamInfo{epoch, seq, 0}, "fuzz"), nullptr};
    }
    default: {
      const bool inbox = in.ConsumeBool();
      if (!inbox && !joinable(topic)) return {};
      const StreamId stream = inbox ? StreamId::inbox("u") : StreamId::topic(topic);
      Notification n;
      n.type = "t";
      n.data = "{}";
      const std::uint32_t attempt = in.ConsumeIntegralInRange<std::uint32_t>(1, 3);
      std::string head = protocol::notification_head(stream, seq, epoch, attempt);
      // Room for a transport's framing in front of it, whatever the name (escapes included).
      CHECK(head.capacity() - head.size() >= herald::Frame::kHeadroom);
      return {std::move(head), protocol::notification_body(n)};
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    resume_from(in.ConsumeRemainingBytesAsString());
    return 0;
  }
  SsePositions positions, parsed;
  std::map<std::string, std::uint64_t> topics;
  for (int i = 0; i < 16 && in.remaining_bytes() > 0; ++i) {
    const EngineFrame f = frame(in, topics);
    if (f.head.empty()) continue;
    CHECK(positions.track(f.head, f.body.get()) == parsed.track(f.parsed_text()));
    const std::string id = positions.id();
    CHECK(id == parsed.id());
    CHECK(id.find('\n') == std::string::npos && id.find('\r') == std::string::npos);
    if (id.empty()) continue;
    Handshake h;
    h.headers["last-event-id"] = id;
    apply_last_event_id(h);
    CHECK(engine_accepts(h));  // the server's own id resumes
  }
  return 0;
}
