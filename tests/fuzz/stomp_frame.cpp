// Fuzz target: the STOMP 1.2 frame decoder (include/herald/stomp.hpp, src/stomp/frame.cpp)
// with the adapter's default limits or small ones the input reaches.
//
// Invariants: decode() never reads past its limits (frames, headers, command and body
// sizes), consumes at most its input, and stops at an error; every decoded frame encodes to
// bytes that decode to the same frame (plus the content-length encode() adds to a body).

#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "herald/stomp.hpp"
#include "check.hpp"

using namespace herald::stomp;

namespace {

bool raw_headers(const std::string& command) {
  return command == "CONNECT" || command == "STOMP" || command == "CONNECTED";
}

void check_frame(const StompFrame& f, const FrameLimits& limits) {
  CHECK(!f.command.empty() && f.command.size() <= limits.max_command_bytes);
  CHECK(f.headers.size() <= limits.max_headers);
  CHECK(f.body.size() <= limits.max_body_bytes);
  for (const auto& [name, value] : f.headers) {
    CHECK(!name.empty() && name.size() + value.size() < limits.max_header_bytes);
    // Raw headers (CONNECT…) cannot carry what their line ends with: no round trip.
    if (raw_headers(f.command) && !value.empty() && value.back() == '\r') return;
  }
  FrameLimits roomy;
  roomy.max_header_bytes = 4 * limits.max_header_bytes;  // escaping may double a line
  roomy.max_headers = limits.max_headers + 1;            // encode() may add content-length
  const std::string wire = encode(f);
  const Decoded again = decode(wire, roomy);
  CHECK(again.error.empty() && again.frames.size() == 1 && again.consumed == wire.size());
  const StompFrame& g = again.frames[0];
  CHECK(g.command == f.command && g.body == f.body);
  std::size_t added = !f.body.empty() && !f.header("content-length") ? 1 : 0;
  CHECK(g.headers.size() == f.headers.size() + added);
  for (std::size_t i = 0; i < f.headers.size(); ++i) CHECK(g.headers[i] == f.headers[i]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  FrameLimits limits;  // the adapter's defaults (StompOptions::limits)
  if (in.ConsumeBool()) limits = {8, 4, 32, 64, 4};
  const std::string bytes = in.ConsumeRemainingBytesAsString();
  const Decoded d = decode(bytes, limits);
  CHECK(d.consumed <= bytes.size());
  CHECK(d.frames.size() <= limits.max_frames);
  // An incomplete frame is held back only within its bound.
  if (d.error.empty()) CHECK(bytes.size() - d.consumed <= limits.max_frame_bytes());
  for (const StompFrame& f : d.frames) check_frame(f, limits);
  return 0;
}
