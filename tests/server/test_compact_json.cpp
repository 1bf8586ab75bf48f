// compact_json: a parsed value written back byte for byte as simdjson::minify writes it.

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>

#include "compact_json.hpp"

using herald::server::append_compact;
using herald::server::compact_json;

TEST_CASE("compact_json writes what simdjson::minify writes - escapes, numbers, nesting") {
  const char* documents[] = {
      "null",
      "true",
      "false",
      "0",
      "-0",
      "42",
      "-9223372036854775808",
      "18446744073709551615",
      "1.5",
      "-2.25e-3",
      "1e300",
      "100.0",
      "3.141592653589793",
      R"("")",
      R"("plain")",
      R"("quote \" backslash \\ slash \/")",
      R"("controls \b \f \n \r \t \u0000 \u0001 \u001f \u007f")",
      R"("unicode \u00e9 é 😀 \ud83d\ude00")",
      "[]",
      "{}",
      "[ 1 , [ ] , { } , [[[]]] ]",
      R"({ "b" : 1, "a" : { "z" : [ true , null , "x" ] }, "" : -1 , "k\"ey" : 2.5 })",
      R"({"k":123,"t":1733360000000})"};
  for (const char* text : documents) {
    CAPTURE(text);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    REQUIRE(parser.parse(std::string(text)).get(root) == simdjson::SUCCESS);
    const std::string expected = simdjson::minify(root);
    CHECK(compact_json(root) == expected);
    CHECK(compact_json(root).capacity() < expected.size() + 16);  // sized once, not grown
    std::string appended = "[";
    append_compact(appended, root);
    CHECK(appended == "[" + expected);
  }
}

TEST_CASE("compact_json: a long value after a short one - the thread's buffer is reused") {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  const std::string long_text = "[\"" + std::string(5000, 'x') + "\"]";
  REQUIRE(parser.parse(long_text).get(root) == simdjson::SUCCESS);
  CHECK(compact_json(root) == long_text);
  REQUIRE(parser.parse(std::string("[1]")).get(root) == simdjson::SUCCESS);
  CHECK(compact_json(root) == "[1]");
}
