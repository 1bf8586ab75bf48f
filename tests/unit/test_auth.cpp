// ApiKeys (named secrets, constant-time match) and topic permission patterns.

#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>

#include "herald/auth.hpp"
#include "herald/error.hpp"

using herald::ApiKeys;
using herald::topic_allowed;

TEST_CASE("ApiKeys: named and bare entries match their secret only") {
  ApiKeys keys;
  keys.add_entry("billing=0123456789abcdef0123");
  keys.add_entry("fedcba9876543210fedc");
  REQUIRE(keys.size() == 2);
  REQUIRE(keys.match("0123456789abcdef0123"));
  CHECK(*keys.match("0123456789abcdef0123") == "billing");
  CHECK(*keys.match("fedcba9876543210fedc") == "key2");
  for (const char* wrong : {"", "0123456789abcdef012", "0123456789abcdef01234",
                            "0123456789abcdef0124", "billing=0123456789abcdef0123"}) {
    CAPTURE(wrong);
    CHECK_FALSE(keys.match(wrong));
  }
  CHECK_FALSE(ApiKeys().match("anything-long-enough"));
}

TEST_CASE("ApiKeys: unusable keys are refused at setup with what to fix") {
  ApiKeys keys;
  CHECK_THROWS_WITH_AS(keys.add_entry("short"), doctest::Contains("at least 16"), herald::Error);
  CHECK_THROWS_WITH_AS(keys.add_entry("=0123456789abcdef0123"), doctest::Contains("name"),
                       herald::Error);
  CHECK_THROWS_WITH_AS(keys.add_entry("a=0123456789 abcdef0123"), doctest::Contains("space"),
                       herald::Error);
  keys.add_entry("a=0123456789abcdef0123");
  CHECK_THROWS_WITH_AS(keys.add_entry("a=another-secret-0123456"), doctest::Contains("twice"),
                       herald::Error);
  CHECK_THROWS_WITH_AS(keys.add_entry("b=0123456789abcdef0123"), doctest::Contains("same secret"),
                       herald::Error);
  CHECK(keys.size() == 1);
}

TEST_CASE("ApiKeys: a key file skips comments and blank lines, errors name the line") {
  const std::string path = "/tmp/herald-test-keys-" + std::to_string(::getpid());
  std::ofstream(path) << "# server keys\n\nops=aaaaaaaaaaaaaaaaaaaa\r\nbbbbbbbbbbbbbbbbbbbb\n";
  ApiKeys keys;
  keys.add_file(path);
  CHECK(keys.size() == 2);
  CHECK(*keys.match("aaaaaaaaaaaaaaaaaaaa") == "ops");
  std::ofstream(path) << "ok=cccccccccccccccccccc\nbad=x\n";
  ApiKeys broken;
  CHECK_THROWS_WITH_AS(broken.add_file(path), doctest::Contains("line 2"), herald::Error);
  std::remove(path.c_str());
  CHECK_THROWS_WITH_AS(ApiKeys().add_file(path), doctest::Contains("cannot be read"),
                       herald::Error);
}

TEST_CASE("topic_allowed: exact names and prefix patterns") {
  const std::vector<std::string> p = {"news", "room:*"};
  CHECK(topic_allowed(p, "news"));
  CHECK(topic_allowed(p, "room:1"));
  CHECK(topic_allowed(p, "room:"));
  CHECK_FALSE(topic_allowed(p, "newsx"));
  CHECK_FALSE(topic_allowed(p, "room"));
  CHECK_FALSE(topic_allowed(p, "Room:1"));
  CHECK_FALSE(topic_allowed({}, "news"));
  CHECK(topic_allowed({"*"}, "anything"));
}

TEST_CASE("origin_allowed: the list, '*', the server's own origin, no Origin") {
  using herald::origin_allowed;
  const std::vector<std::string> list = {"https://app.example"};
  CHECK(origin_allowed("https://app.example", "api.example", list));
  CHECK(origin_allowed("HTTPS://APP.EXAMPLE", "api.example", list));
  CHECK_FALSE(origin_allowed("https://app.example:444", "api.example", list));
  CHECK_FALSE(origin_allowed("https://evil.example", "api.example", list));
  CHECK_FALSE(origin_allowed("null", "api.example", list));
  CHECK(origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", {}));  // same origin
  CHECK_FALSE(origin_allowed("http://127.0.0.1:8081", "127.0.0.1:8080", {}));
  CHECK_FALSE(origin_allowed("http://localhost:3000", "127.0.0.1:8080", {}));
  CHECK(origin_allowed("http://anything.test", "x", {"*"}));
  CHECK(origin_allowed("", "x", {}));
}
