#pragma once
// The native JSON wire protocol (docs/protocol.md): frames the engine sends, requests it
// reads. Only this file and protocol.cpp know the JSON shapes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/error.hpp"
#include "herald/model.hpp"
#include "herald/transport.hpp"

namespace herald::protocol {

/// The part of a notification frame shared by every recipient:
/// `"id":"…","type":…,"data":…,"sender":…,"created_at":…[,"expires_at":…]}`.
std::shared_ptr<const std::string> notification_body(const Notification& n);

/// The per-recipient start of a notification frame: `{"op":"notification","stream":…,`.
/// `attempt` > 1 marks a redelivery.
std::string notification_head(const StreamId& stream, Seq seq, Epoch epoch, std::uint32_t attempt);

struct Welcome {
  SessionId session;
  InstanceId instance;
  UserId user;
  StreamId stream;
  Epoch epoch = 0;
  Seq head = 0;
  Seq cursor = 0;  // the session continues after this seq
  std::uint64_t unread = 0;
};
std::string welcome(const Welcome& w);

/// "Cannot resume: reload": the stream's history does not continue the client's cursor.
std::string reset(const StreamId& stream, const StreamInfo& info, const char* reason);
/// `topic`: the topic a request without rid was about (a join at connect), else empty.
std::string error(const std::string& rid, const Status& status, const std::string& topic = "");
std::string pong(const std::string& rid);
std::string subscribed(const std::string& rid, const std::string& topic, const StreamInfo& info,
                       Seq cursor);
std::string unsubscribed(const std::string& rid, const std::string& topic);
std::string read_reply(const std::string& rid, std::uint64_t updated);
/// Reply to `refresh`: the new credential's expiry in Unix ms, or null if it has none.
std::string refreshed(const std::string& rid, std::optional<TimePoint> expires_at);
std::string history_reply(const std::string& rid, const StreamId& stream,
                          const std::vector<Entry>& entries, Seq next_before);

/// A client request, decoded and checked for shape (not for meaning).
struct Request {
  /// `join` is seed-003's `{"userId":1,"room":1}`: subscribe to `room:<room>`, answered with
  /// `subscribed` (also when already joined).
  enum class Op { ping, ack, subscribe, unsubscribe, read, read_all, history, refresh, join };
  Op op = Op::ping;
  std::string rid;  // optional request id, echoed in the reply
  Seq seq = 0;      // ack
  std::string topic;
  std::optional<Seq> since;  // subscribe
  std::optional<Epoch> epoch;
  std::vector<Seq> seqs;     // read
  std::string stream;        // history
  Seq before = kSeqMax;      // history
  std::int64_t limit = 50;   // history
  std::string token;         // refresh
  std::string user;          // join: the frame's userId, if it had one
};
/// Parses one client frame. invalid_argument with a message naming the problem.
Result<Request> parse_request(const std::string& text);

/// The seq of an ack written exactly as clients write one, `{"op":"ack","seq":N}` (compact,
/// these keys in this order, N a JSON integer that fits a Seq); nullopt for any other frame.
/// A frame it accepts is one parse_request() reads as an ack of that seq without a rid; it
/// builds no JSON document, so it is cheap enough for a transport's thread.
std::optional<Seq> plain_ack(std::string_view text);

/// A topic listed in the handshake's `topics` parameter, with the position to resume after.
struct TopicPosition {
  std::string topic;
  std::optional<Seq> since;    // absent: from the head
  std::optional<Epoch> epoch;  // absent: the stream's current epoch
};
/// Parses `topics=<entry>,<entry>,…`, an entry being `name`, `name@seq` or `name@seq.epoch`
/// (split at the last '@'; a name that itself ends in "@<digits>" is written with a
/// trailing '@'); a topic listed twice keeps its first entry. At most `max` topics, each a valid topic name not starting with '$'.
/// invalid_argument naming the bad entry.
Result<std::vector<TopicPosition>> parse_topic_list(const std::string& text, std::size_t max);

/// Parses a decimal unsigned 64-bit number (query parameters, string-encoded ids).
std::optional<std::uint64_t> parse_u64(const std::string& text);

}  // namespace herald::protocol
