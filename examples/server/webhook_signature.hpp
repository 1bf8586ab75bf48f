#pragma once
// The signature of a webhook request (docs/events.md, "Verifying a webhook"):
//   Herald-Timestamp: <Unix seconds>
//   Herald-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
// Pure functions, any thread.

#include <string>
#include <string_view>

namespace herald::server {

/// The Herald-Signature value for `body` sent at `timestamp` ("v1=" + 64 hex digits).
std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body);

/// True if `header` (a Herald-Signature value) is the signature of `timestamp` and `body`
/// under `secret`. Compared in constant time. (herald-server only signs; receivers do this,
/// the tests too.)
bool webhook_signature_valid(std::string_view secret, std::string_view timestamp,
                             std::string_view body, std::string_view header);

}  // namespace herald::server
