// The webhook signature (examples/server/webhook_signature.hpp): a known HMAC-SHA256 vector
// (computed independently with Python's hmac module), and what must not verify.

#include <doctest/doctest.h>

#include "webhook_signature.hpp"

using namespace herald::server;

namespace {
const char* const kBody = R"({"events":[]})";
}

TEST_CASE("webhook signature: v1= HMAC-SHA256 of timestamp.body in lowercase hex") {
  CHECK(webhook_signature("s3cret", "1750000000", kBody) ==
        "v1=1d22ce96afd199478aef329628bea507905e3529d88813891ac4f19d12c41bd7");
}

TEST_CASE("webhook signature: verifies with the secret, not with a change of anything") {
  const std::string sig = webhook_signature("s3cret", "1750000000", kBody);
  CHECK(webhook_signature_valid("s3cret", "1750000000", kBody, sig));
  CHECK_FALSE(webhook_signature_valid("other", "1750000000", kBody, sig));          // secret
  CHECK_FALSE(webhook_signature_valid("s3cret", "1750000001", kBody, sig));         // time
  CHECK_FALSE(webhook_signature_valid("s3cret", "1750000000", R"({"events":[1]})", sig));
  CHECK_FALSE(webhook_signature_valid("s3cret", "1750000000", kBody, sig.substr(0, 20)));
  CHECK_FALSE(webhook_signature_valid("s3cret", "1750000000", kBody, ""));
}
