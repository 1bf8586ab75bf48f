// The STOMP 1.2 frame codec: decode/encode, escaping, bodies, heart-beats, limits, errors.

#include <doctest/doctest.h>

#include <string>

#include "herald/stomp.hpp"

using namespace herald::stomp;
using namespace std::string_literals;

TEST_CASE("stomp decode: a frame with headers and a body up to NUL") {
  Decoded d = decode("SEND\ndestination:/topic/a\nreceipt:7\n\nhello\0"s);
  REQUIRE(d.error.empty());
  REQUIRE(d.frames.size() == 1);
  CHECK(d.consumed == 43);
  const StompFrame& f = d.frames[0];
  CHECK(f.command == "SEND");
  REQUIRE(f.headers.size() == 2);
  CHECK(*f.header("destination") == "/topic/a");
  CHECK(*f.header("receipt") == "7");
  CHECK(f.header("Receipt") == nullptr);  // names are case-sensitive
  CHECK(f.body == "hello");
}

TEST_CASE("stomp decode: CRLF line ends and a frame without headers or body") {
  Decoded d = decode("DISCONNECT\r\nreceipt:1\r\n\r\n\0CONNECT\r\n\r\n\0"s);
  REQUIRE(d.error.empty());
  REQUIRE(d.frames.size() == 2);
  CHECK(*d.frames[0].header("receipt") == "1");
  CHECK(d.frames[1].command == "CONNECT");
  CHECK(d.frames[1].headers.empty());
  CHECK(d.frames[1].body.empty());
}

TEST_CASE("stomp decode: header escapes are decoded, except in CONNECT") {
  Decoded d = decode("SUBSCRIBE\nid:a\\cb\\\\c\\nd\\re\nx\\c:y\n\n\0"s);
  REQUIRE(d.error.empty());
  REQUIRE(d.frames.size() == 1);
  CHECK(*d.frames[0].header("id") == "a:b\\c\nd\re");
  CHECK(*d.frames[0].header("x:") == "y");

  d = decode("CONNECT\nlogin:a\\cb\npasscode:p:q\n\n\0"s);
  REQUIRE(d.error.empty());
  CHECK(*d.frames[0].header("login") == "a\\cb");
  CHECK(*d.frames[0].header("passcode") == "p:q");  // split at the first ':'
}

TEST_CASE("stomp decode: an undefined escape is an error") {
  Decoded d = decode("SUBSCRIBE\nid:a\\tb\n\n\0"s);
  CHECK(d.frames.empty());
  CHECK(d.error.find("escape") != std::string::npos);
  d = decode("SUBSCRIBE\nid:ab\\\n\n\0"s);
  CHECK(d.error.find("escape") != std::string::npos);
}

TEST_CASE("stomp decode: repeated headers - the first one wins") {
  Decoded d = decode("MESSAGE\nfoo:1\nfoo:2\n\n\0"s);
  REQUIRE(d.frames.size() == 1);
  CHECK(d.frames[0].headers.size() == 2);
  CHECK(*d.frames[0].header("foo") == "1");
}

TEST_CASE("stomp decode: content-length carries a body with NUL bytes") {
  const std::string body = "a\0b\0c"s;
  Decoded d = decode("SEND\ncontent-length:5\n\n"s + body + "\0"s + "ACK\nid:1\n\n\0"s);
  REQUIRE(d.error.empty());
  REQUIRE(d.frames.size() == 2);
  CHECK(d.frames[0].body == body);
  CHECK(d.frames[1].command == "ACK");

  d = decode("SEND\ncontent-length:3\n\nabcd\0"s);  // no NUL after the 3 bytes
  CHECK(d.frames.empty());
  CHECK(d.error.find("NUL") != std::string::npos);
  d = decode("SEND\ncontent-length:x3\n\nabc\0"s);
  CHECK(d.error.find("content-length") != std::string::npos);
  d = decode("SEND\ncontent-length:18446744073709551616\n\nabc\0"s);  // 2^64
  CHECK(d.error.find("content-length") != std::string::npos);
}

TEST_CASE("stomp decode: heart-beats between and around frames") {
  Decoded d = decode("\n");
  CHECK(d.error.empty());
  CHECK(d.frames.empty());
  CHECK(d.heartbeats == 1);
  CHECK(d.consumed == 1);

  d = decode("\r\n\nACK\nid:1\n\n\0\n\r\nNACK\nid:2\n\n\0\n"s);
  REQUIRE(d.error.empty());
  CHECK(d.frames.size() == 2);
  CHECK(d.heartbeats == 5);
  CHECK(d.consumed == 30);

  d = decode("\n\r");  // a CR whose LF has not come yet
  CHECK(d.error.empty());
  CHECK(d.consumed == 1);
}

TEST_CASE("stomp decode: an incomplete frame is left unconsumed") {
  const std::string whole = "SUBSCRIBE\nid:1\ndestination:/topic/x\n\n\0"s;
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    Decoded d = decode(std::string_view(whole).substr(0, cut));
    CHECK_MESSAGE(d.error.empty(), cut);
    CHECK(d.frames.empty());
    CHECK(d.consumed == 0);
  }
  Decoded d = decode("ACK\nid:1\n\n\0SUBSCRIBE\nid:"s);
  REQUIRE(d.frames.size() == 1);
  CHECK(d.consumed == 11);  // the second frame begins at 11
  d = decode("SEND\ncontent-length:10\n\nabc"s);
  CHECK(d.error.empty());
  CHECK(d.consumed == 0);
}

TEST_CASE("stomp decode: malformed frames are errors") {
  CHECK(!decode("send\n\n\0"s).error.empty());          // lower case command
  CHECK(!decode("\0"s).error.empty());                  // no command
  CHECK(!decode("SEND\nno-colon\n\n\0"s).error.empty());
  CHECK(!decode("SEND\n:empty-name\n\n\0"s).error.empty());
  CHECK(!decode("SEND\nx:a\0b\n\n\0"s).error.empty());  // NUL in a header
  CHECK(!decode("SE ND\n\n\0"s).error.empty());
}

TEST_CASE("stomp decode: limits on command, headers, body and frames") {
  FrameLimits limits;
  limits.max_headers = 2;
  limits.max_header_bytes = 16;
  limits.max_body_bytes = 8;
  limits.max_frames = 2;
  CHECK(decode("SEND\na:1\nb:2\n\n\0"s, limits).error.empty());
  CHECK(decode("SEND\na:1\nb:2\nc:3\n\n\0"s, limits).error.find("headers") != std::string::npos);
  CHECK(decode("SEND\na:123456789012345\n\n\0"s, limits).error.find("header line") !=
        std::string::npos);
  // A long header line is refused before its end has arrived.
  CHECK(decode("SEND\na:1234567890123456789"s, limits).error.find("header line") !=
        std::string::npos);
  CHECK(decode("SEND\n\n12345678\0"s, limits).error.empty());
  CHECK(decode("SEND\n\n123456789\0"s, limits).error.find("body") != std::string::npos);
  CHECK(decode("SEND\n\n123456789"s, limits).error.find("body") != std::string::npos);
  CHECK(decode("SEND\ncontent-length:9\n\n"s, limits).error.find("body") != std::string::npos);
  CHECK(decode(std::string(40, 'A') + "\n\n\0"s, limits).error.find("command") !=
        std::string::npos);
  Decoded d = decode("ACK\n\n\0ACK\n\n\0ACK\n\n\0"s, limits);
  CHECK(d.frames.size() == 2);
  CHECK(d.error.find("frames") != std::string::npos);
}

TEST_CASE("stomp encode: escapes headers, adds content-length, round-trips") {
  StompFrame f{"MESSAGE", {{"destination", "/topic/a:b"}, {"x", "1\\2\n3\r"}}, "{\"a\":\0}"s};
  const std::string text = encode(f);
  CHECK(text == "MESSAGE\ndestination:/topic/a\\cb\nx:1\\\\2\\n3\\r\ncontent-length:7\n\n"
                "{\"a\":\0}\0"s);
  Decoded d = decode(text);
  REQUIRE(d.error.empty());
  REQUIRE(d.frames.size() == 1);
  CHECK(d.frames[0].headers.size() == 3);
  CHECK(*d.frames[0].header("destination") == "/topic/a:b");
  CHECK(*d.frames[0].header("x") == "1\\2\n3\r");
  CHECK(d.frames[0].body == f.body);

  CHECK(encode({"CONNECTED", {{"version", "1.2"}, {"user-name", "a:b"}}, {}}) ==
        "CONNECTED\nversion:1.2\nuser-name:a:b\n\n\0"s);
  CHECK(encode({"RECEIPT", {{"receipt-id", "r"}}, {}}) == "RECEIPT\nreceipt-id:r\n\n\0"s);
  CHECK(escape("a:b\\c") == "a\\cb\\\\c");
}
