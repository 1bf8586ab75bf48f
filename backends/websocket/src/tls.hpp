#pragma once
// TLS for the reactor transport, on OpenSSL 3 with memory BIOs: the connection reads
// ciphertext from its socket and feeds it in, takes plaintext out for its HTTP/WebSocket
// code, hands plaintext in and writes the ciphertext that comes out. No socket I/O here.
//
// TlsContext: one SSL_CTX built from a certificate chain and key (PEM files), replaced
// whole by reload(): new handshakes use the new one, existing sessions keep theirs (an SSL
// object holds a reference on its SSL_CTX). Thread-safe.
//
// TlsSession: one connection's SSL object. Not thread-safe (used on the connection's strand).

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include <openssl/ssl.h>

#include "herald/error.hpp"
#include "herald/websocket/server.hpp"

namespace herald::websocket::detail {

class TlsContext {
 public:
  /// Loads the files; throws herald::Error if they are unusable.
  explicit TlsContext(TlsOptions options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Reads the files again. On failure the current certificate stays and the error is
  /// returned (Errc::invalid_argument).
  Status reload();
  /// A new server-side SSL object on the current context; null if OpenSSL fails.
  SSL* new_ssl() const;

 private:
  const TlsOptions options_;
  mutable std::mutex mutex_;
  SSL_CTX* ctx_ = nullptr;  // guarded by mutex_
};

class TlsSession {
 public:
  enum class ReadResult { ok, closed, failed };

  explicit TlsSession(const TlsContext& context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// False if OpenSSL could not create the session (then nothing else may be called).
  bool valid() const { return ssl_ != nullptr; }

  /// Ciphertext from the peer.
  void feed(const char* data, std::size_t size);
  /// Decrypts into `buffer` what the fed ciphertext holds, advancing the handshake as
  /// needed. `got` is 0 with ok when more ciphertext is needed; closed once
  /// the peer sent close_notify; failed on a protocol error (error() says why; an
  /// alert for the peer may wait in output()).
  ReadResult read(char* buffer, std::size_t capacity, std::size_t& got);
  /// True once the handshake completed: plaintext can be encrypted.
  bool established() const;
  /// Encrypts `size` bytes (all of them, as TLS records) into the output. Only once
  /// established(). False on an error.
  bool write(const char* data, std::size_t size);
  /// Queues close_notify.
  void shutdown();

  /// Ciphertext waiting to be written to the socket.
  bool has_output();
  const char* output_data() const { return out_.data() + out_head_; }
  std::size_t output_size() const { return out_.size() - out_head_; }
  /// The socket took `n` bytes of output_data().
  void consumed(std::size_t n);
  /// Moves what OpenSSL produced into the output buffer.
  void pull_output();

  const std::string& error() const { return error_; }

 private:
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;       // ciphertext from the peer (owned by ssl_)
  BIO* out_bio_ = nullptr;  // ciphertext for the peer (owned by ssl_)
  std::string out_;         // ciphertext taken out of out_bio_, not written yet: out_[out_head_..]
  std::size_t out_head_ = 0;
  std::string error_;
};

}  // namespace herald::websocket::detail
