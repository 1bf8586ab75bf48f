// Fuzz target: a handshake's request target as the engine reads it: split_target
// (backends/websocket/src/http.hpp: percent-decoding, '+', first parameter wins), then the
// parameters the engine takes (src/engine/sessions.cpp): userId, since and epoch
// (protocol::parse_u64), token, and the topics list (protocol::parse_topic_list).
//
// Invariants: parse_u64 reads back what std::to_string writes; a parsed topics list holds
// at most `max` distinct valid names not starting with '$', and its own encoding parses to
// the same list; a refused list's message is UTF-8, as the close reason that carries it must
// be (RFC 6455 §5.5.1).

#include <fuzzer/FuzzedDataProvider.h>

#include <set>
#include <string>

#include "engine/protocol.hpp"
#include "http.hpp"
#include "wspp.hpp"
#include "check.hpp"

using namespace herald::protocol;

namespace {

// The list `topics` as a client writes it (docs/protocol.md).
std::string encode(const std::vector<TopicPosition>& topics) {
  std::string out;
  for (const TopicPosition& t : topics) {
    if (!out.empty()) out += ',';
    out += t.topic;
    if (t.since) {
      out += '@' + std::to_string(*t.since);
      if (t.epoch) out += '.' + std::to_string(*t.epoch);
    } else if (t.topic.find('@') != std::string::npos) {
      out += '@';  // the name itself holds an '@': an empty position keeps it whole
    }
  }
  return out;
}

bool same(const std::vector<TopicPosition>& a, const std::vector<TopicPosition>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].topic != b[i].topic || a[i].since != b[i].since || a[i].epoch != b[i].epoch)
      return false;
  return true;
}

void check_number(const std::string& text) {
  const auto n = parse_u64(text);
  if (n) CHECK(parse_u64(std::to_string(*n)) == n);
}

void check_topics(const std::string& text, std::size_t max) {
  const auto listed = parse_topic_list(text, max);
  if (!listed.ok()) {
    CHECK(websocketpp::utf8_validator::validate(listed.status().message()));
    return;
  }
  const auto& topics = listed.value();
  CHECK(topics.size() <= max);
  std::set<std::string> names;
  for (const TopicPosition& t : topics) {
    CHECK(herald::valid_name(t.topic) && t.topic[0] != '$' && names.insert(t.topic).second);
    CHECK(t.since || !t.epoch);  // an epoch only with a seq
  }
  const auto again = parse_topic_list(encode(topics), max);
  CHECK(again.ok() && same(topics, again.value()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::size_t max = in.ConsumeBool() ? 256 : 2;  // the engine's default, or reachable
  const std::string target = in.ConsumeRemainingBytesAsString();
  std::string path;
  std::map<std::string, std::string> query;
  herald::websocket::detail::split_target(target, path, query);
  CHECK(path.size() <= target.size());
  for (const auto& [key, value] : query) CHECK(key.size() + value.size() <= target.size());
  for (const char* name : {"since", "epoch"})
    if (auto it = query.find(name); it != query.end()) check_number(it->second);
  if (auto it = query.find("userId"); it != query.end()) herald::valid_name(it->second);
  if (auto it = query.find("topics"); it != query.end()) check_topics(it->second, max);
  return 0;
}
