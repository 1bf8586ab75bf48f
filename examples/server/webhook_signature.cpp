// HMAC-SHA256 with OpenSSL's one-shot HMAC(); see webhook_signature.hpp.

#include "webhook_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace herald::server {

std::string webhook_signature(std::string_view secret, std::string_view timestamp,
                              std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  static const char digits[] = "0123456789abcdef";
  std::string out = "v1=";
  for (unsigned int i = 0; i < length; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 0xf];
  }
  return out;
}

bool webhook_signature_valid(std::string_view secret, std::string_view timestamp,
                             std::string_view body, std::string_view header) {
  const std::string expected = webhook_signature(secret, timestamp, body);
  return header.size() == expected.size() &&
         CRYPTO_memcmp(header.data(), expected.data(), expected.size()) == 0;
}

}  // namespace herald::server
