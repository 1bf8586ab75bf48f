#pragma once
// Access-control building blocks shared by every front end: server-side API keys and topic
// permission patterns. Verifying user tokens (JWT) is the herald::jwt component; what each
// caller may do with these is the host's policy (herald-server: docs/security.md).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "herald/export.hpp"

namespace herald {

/// Named server-side secrets ("API keys"). Filled at setup (throws herald::Error on a bad
/// key), then read-only: match() may be called from any number of threads at once.
class HERALD_API ApiKeys {
 public:
  static constexpr std::size_t kMinSecretBytes = 16;

  /// Adds a key. Throws herald::Error if `name` is empty or taken, or `secret` is shorter
  /// than kMinSecretBytes, contains whitespace or control characters, or is already known.
  void add(std::string name, std::string secret);
  /// Adds "NAME=SECRET", or a bare "SECRET" (named "key<N>", N counting from 1).
  void add_entry(const std::string& entry);
  /// Adds the entries of a file, one per line; blank lines and lines starting with '#' are
  /// skipped. Throws herald::Error naming the file (and line) when it cannot be used.
  void add_file(const std::string& path);

  /// The name of the key equal to `presented`, or nullptr. Every key is compared, each in
  /// time that depends only on the lengths, so timing does not tell how much of a guess
  /// was right.
  const std::string* match(std::string_view presented) const;

  bool empty() const { return keys_.empty(); }
  std::size_t size() const { return keys_.size(); }

 private:
  struct Key {
    std::string name;
    std::string secret;
  };
  std::vector<Key> keys_;
};

/// True when `topic` is granted by one of `patterns`: a pattern is a topic name (exact), or
/// ends with '*' and grants every topic starting with what precedes it ("room:*" grants
/// "room:1"; "*" grants every topic).
HERALD_API bool topic_allowed(const std::vector<std::string>& patterns, std::string_view topic);

/// Browser origins a server answers. An `Origin` ("https://app.example:8443") is allowed
/// when it is in `allowed` (exact, case-insensitive; "*" allows any), or when it is the
/// server's own origin: its host[:port] equals the request's `Host`. A request without
/// Origin (not sent by a browser, or same-origin GET) is not a cross-site one.
HERALD_API bool origin_allowed(std::string_view origin, std::string_view host,
                               const std::vector<std::string>& allowed);

}  // namespace herald
