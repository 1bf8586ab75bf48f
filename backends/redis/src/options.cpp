// RedisOptions checks and parse_redis_url: redis://[[user]:password@]host[:port][/db], with
// %XX escapes in the credentials. Errors name the part that is wrong and never echo the
// password.

#include <cctype>
#include <string>

#include "connection.hpp"
#include "herald/error.hpp"
#include "herald/redis/redis.hpp"

namespace herald::redis {
namespace {

constexpr const char* kForm = "expected redis://[[user]:password@]host[:port][/db]";

[[noreturn]] void fail(const std::string& what) {
  throw Error("herald::redis: bad URL: " + what + "; " + kForm);
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_decode(const std::string& s, const char* part) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1;
    const int lo = hi >= 0 ? hex(s[i + 2]) : -1;
    if (lo < 0) fail(std::string("a bad %-escape in the ") + part);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// A decimal number in [min, max], or fail naming `part`.
int number(const std::string& s, int min, int max, const char* part) {
  if (s.empty() || s.size() > 9) fail(std::string("the ") + part + " must be a number");
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      fail(std::string("the ") + part + " '" + s + "' must be a number");
  const int v = std::stoi(s);
  if (v < min || v > max)
    fail(std::string("the ") + part + " " + s + " is out of range " + std::to_string(min) + ".." +
         std::to_string(max));
  return v;
}

}  // namespace

RedisEndpoint parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.compare(0, scheme.size(), scheme) != 0) fail("it must start with redis://");
  std::string rest = url.substr(scheme.size());
  RedisEndpoint e;

  if (const std::size_t slash = rest.find('/'); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty()) e.db = number(db, 0, 1'000'000, "database number");
    rest.resize(slash);
  }
  if (const std::size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      e.password = percent_decode(credentials, "password");  // redis://secret@host
    } else {
      e.user = percent_decode(credentials.substr(0, colon), "user name");
      e.password = percent_decode(credentials.substr(colon + 1), "password");
    }
  }
  std::string port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const std::size_t close = rest.find(']');
    if (close == std::string::npos) fail("an IPv6 host needs a closing ]");
    e.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') fail("unexpected text after the IPv6 host");
      port = rest.substr(close + 2);
      has_port = true;
    }
  } else {
    const std::size_t colon = rest.find(':');
    e.host = rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
      has_port = true;
    }
  }
  if (e.host.empty()) fail("the host is missing");
  if (has_port) e.port = number(port, 1, 65535, "port");
  return e;
}

RedisEndpoint checked_endpoint(const RedisOptions& o) {
  auto positive = [](Duration d, const char* name) {
    if (d <= Duration::zero())
      throw Error(std::string("herald::redis: RedisOptions::") + name + " must be positive");
  };
  positive(o.connect_timeout, "connect_timeout");
  positive(o.command_timeout, "command_timeout");
  positive(o.reconnect_min, "reconnect_min");
  positive(o.liveness_interval, "liveness_interval");
  if (o.reconnect_max < o.reconnect_min)
    throw Error("herald::redis: RedisOptions::reconnect_max must be >= reconnect_min");
  return parse_redis_url(o.url);
}

}  // namespace herald::redis
