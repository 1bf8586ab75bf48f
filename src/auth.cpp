// ApiKeys and topic patterns (include/herald/auth.hpp).

#include "herald/auth.hpp"

#include <cctype>
#include <fstream>

#include "herald/error.hpp"

namespace herald {

namespace {

// Equal in time that depends on the lengths only: every byte of `presented` is looked at.
bool constant_time_equal(std::string_view secret, std::string_view presented) {
  unsigned char diff = secret.size() == presented.size() ? 0 : 1;
  for (std::size_t i = 0; i < presented.size(); ++i)
    diff |= static_cast<unsigned char>(presented[i] ^ secret[i % secret.size()]);
  return diff == 0;
}

bool usable_secret_char(char c) {
  return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) != 0x7f;
}

}  // namespace

void ApiKeys::add(std::string name, std::string secret) {
  if (name.empty()) throw Error("API key: the name before '=' is empty");
  for (const Key& k : keys_)
    if (k.name == name) throw Error("API key '" + name + "' is given twice: names must differ");
  if (secret.size() < kMinSecretBytes)
    throw Error("API key '" + name + "' is " + std::to_string(secret.size()) +
                " bytes; use at least " + std::to_string(kMinSecretBytes) +
                " random bytes (e.g. `openssl rand -hex 32`)");
  for (char c : secret)
    if (!usable_secret_char(c))
      throw Error("API key '" + name + "' contains a space or control character");
  if (match(secret)) throw Error("API key '" + name + "' has the same secret as another key");
  keys_.push_back({std::move(name), std::move(secret)});
}

void ApiKeys::add_entry(const std::string& entry) {
  const std::size_t eq = entry.find('=');
  if (eq == std::string::npos) return add("key" + std::to_string(keys_.size() + 1), entry);
  add(entry.substr(0, eq), entry.substr(eq + 1));
}

void ApiKeys::add_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("API key file '" + path + "' cannot be read");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    try {
      add_entry(line);
    } catch (const Error& e) {
      throw Error("API key file '" + path + "' line " + std::to_string(n) + ": " + e.what());
    }
  }
}

const std::string* ApiKeys::match(std::string_view presented) const {
  const std::string* found = nullptr;
  for (const Key& k : keys_)
    if (constant_time_equal(k.secret, presented) && !found) found = &k.name;
  return found;
}

bool topic_allowed(const std::vector<std::string>& patterns, std::string_view topic) {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (topic.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1))
        return true;
    } else if (topic == p) {
      return true;
    }
  }
  return false;
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  for (const std::string& a : allowed)
    if (a == "*" || iequal(a, origin)) return true;
  // Same origin: "scheme://" then exactly the Host header (both carry the port unless default).
  const std::size_t sep = origin.find("://");
  return sep != std::string_view::npos && !host.empty() && iequal(origin.substr(sep + 3), host);
}

}  // namespace herald
