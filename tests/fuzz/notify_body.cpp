// Fuzz target: POST /notify bodies (examples/server/publish_body.hpp) read as the REST API
// reads them: simdjson's DOM, then read_publish on the object (native or seed-003 form) or
// on each item of an array (a batch), with the engine's default limits; and the RFC 3339
// times of expiresAt.
//
// Invariants: a body read_publish accepts is a request the engine's own checks would not
// refuse for its shape (a valid type, data within the limit that is itself JSON); a refused
// one names a 4xx status and a message, and the error body that carries it serializes.

#include <string>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "publish_body.hpp"
#include "check.hpp"

using namespace herald;
using namespace herald::server;

namespace {

const EngineOptions& limits() {
  static const EngineOptions options;
  return options;
}

void read_one(const simdjson::dom::element& body) {
  ParsedPublish parsed;
  const std::optional<Problem> problem = read_publish(body, limits(), parsed);
  if (problem) {
    CHECK(problem->status >= 400 && problem->status < 500 && !problem->message.empty());
    // The answer's body as rest_api writes it (invalid UTF-8 would throw there).
    nlohmann::json{{"error", {{"code", problem->code}, {"message", problem->message},
                              {"field", problem->field}}}}.dump();
    return;
  }
  const PublishRequest& r = parsed.request;
  CHECK(r.data.size() <= limits().max_payload_bytes);
  CHECK(nlohmann::json::accept(r.data));  // compact JSON text, stored and sent as is
  nlohmann::json{{"type", r.type}, {"sender", r.sender}}.dump();  // UTF-8, as sent
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto t = parse_rfc3339(text)) CHECK(to_unix_ms(*t) <= kMaxUnixMs);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root)) return 0;  // 400 malformed JSON
  simdjson::dom::array items;
  if (root.get_array().get(items) == simdjson::SUCCESS) {
    for (simdjson::dom::element item : items) read_one(item);
    return 0;
  }
  read_one(root);
  return 0;
}
