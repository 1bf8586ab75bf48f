#include "tls.hpp"

#include <openssl/err.h>

#include <algorithm>
#include <utility>

namespace herald::websocket::detail {

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are OpenSSL's defaults).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr std::size_t kKeptOutput = 16 * 1024;  // output capacity an idle session keeps

/// OpenSSL's error queue as one line (and cleared).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(e, line, sizeof line);
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

SSL_CTX* build(const TlsOptions& o, std::string& error) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = openssl_errors();
    return nullptr;
  }
  auto fail = [&](const std::string& what) -> SSL_CTX* {
    error = what + ": " + openssl_errors();
    SSL_CTX_free(ctx);
    return nullptr;
  };
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return fail("TLS versions");
  SSL_CTX_set_security_level(ctx, 2);
  long opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
  opts |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
  SSL_CTX_set_options(ctx, static_cast<unsigned long>(opts));
  // Idle connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return fail("cipher list");
  if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1)
    return fail("cannot load certificate " + o.cert_file);
  if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("cannot load private key " + o.key_file);
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail("the key " + o.key_file + " does not match the certificate " + o.cert_file);
  return ctx;
}

}  // namespace

// ---- TlsContext ---------------------------------------------------------------------

TlsContext::TlsContext(TlsOptions options) : options_(std::move(options)) {
  std::string error;
  ctx_ = build(options_, error);
  if (!ctx_) throw Error("herald::websocket TLS: " + error);
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

herald::Status TlsContext::reload() {
  std::string error;
  SSL_CTX* fresh = build(options_, error);
  if (!fresh) return herald::Status(Errc::invalid_argument, error);
  SSL_CTX* old = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    old = std::exchange(ctx_, fresh);
  }
  SSL_CTX_free(old);  // sessions made from it hold their own reference
  return herald::Status();
}

SSL* TlsContext::new_ssl() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return SSL_new(ctx_);
}

// ---- TlsSession ---------------------------------------------------------------------

TlsSession::TlsSession(const TlsContext& context) : ssl_(context.new_ssl()) {
  if (!ssl_) return;
  in_ = BIO_new(BIO_s_mem());
  out_bio_ = BIO_new(BIO_s_mem());
  if (!in_ || !out_bio_) {
    BIO_free(in_);
    BIO_free(out_bio_);
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  // An empty memory BIO reports "retry", not EOF: SSL_read then asks for more input.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_bio_, -1);
  SSL_set_bio(ssl_, in_, out_bio_);  // ssl_ owns both
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

void TlsSession::feed(const char* data, std::size_t size) {
  while (size > 0) {
    const int n = BIO_write(in_, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    if (n <= 0) return;  // out of memory: the handshake or the record fails later
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

TlsSession::ReadResult TlsSession::read(char* buffer, std::size_t capacity, std::size_t& got) {
  got = 0;
  ERR_clear_error();
  std::size_t n = 0;
  const int r = SSL_read_ex(ssl_, buffer, capacity, &n);
  if (r == 1) {
    got = n;
    return ReadResult::ok;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return ReadResult::ok;
    case SSL_ERROR_ZERO_RETURN:
      return ReadResult::closed;
    default:
      error_ = "TLS: " + openssl_errors();
      return ReadResult::failed;
  }
}

bool TlsSession::established() const {
  return SSL_is_init_finished(ssl_) == 1;
}

bool TlsSession::write(const char* data, std::size_t size) {
  if (size == 0) return true;
  ERR_clear_error();
  std::size_t n = 0;
  if (SSL_write_ex(ssl_, data, size, &n) == 1 && n == size) return true;
  error_ = "TLS: " + openssl_errors();
  return false;
}

void TlsSession::shutdown() {
  if (!established()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues close_notify; the peer's is not waited for
  ERR_clear_error();
}

void TlsSession::pull_output() {
  char* data = nullptr;
  const long n = BIO_get_mem_data(out_bio_, &data);
  if (n <= 0) return;
  if (out_head_ == out_.size()) {
    out_.clear();
    out_head_ = 0;
  }
  out_.append(data, static_cast<std::size_t>(n));
  (void)BIO_reset(out_bio_);
}

bool TlsSession::has_output() {
  pull_output();
  return out_head_ < out_.size();
}

void TlsSession::consumed(std::size_t n) {
  out_head_ += n;
  if (out_head_ < out_.size()) return;
  out_head_ = 0;
  if (out_.capacity() > kKeptOutput) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
}

}  // namespace herald::websocket::detail
