#pragma once
// Who may connect: the caps on open connections, on connections from one client address and
// on connections still in the HTTP phase (not yet a WebSocket or SSE session). Checked once
// per accepted socket; a refused one is answered and closed without being counted.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <asio/ip/address.hpp>

#include "herald/websocket/server.hpp"

namespace herald::websocket::detail {

/// What one admitted connection holds. Owned by its connection; released exactly once.
struct Pass {
  bool counted = false;     // holds a place in open(), and one of its address's places
  bool http_phase = false;  // holds one of the HTTP-phase places
  asio::ip::address address;
};

/// Thread-safe: accepts run on the acceptor's strand, upgrades and closes on the lanes'.
class Admission {
 public:
  enum class Verdict : std::uint8_t {
    admitted,
    server_full,   // ServerOptions::max_connections: 503
    address_full,  // ServerOptions::max_connections_per_address: 429
    http_full,     // ServerOptions::max_http_connections: 503
  };

  explicit Admission(const ServerOptions& options);

  /// Counts a connection from `address` unless a cap is reached; fills `pass` when admitted.
  Verdict admit(const asio::ip::address& address, Pass& pass);
  /// The connection became a session: its HTTP-phase place is free. Idempotent.
  void leave_http_phase(Pass& pass);
  /// The connection closed: every place it held is free. Idempotent.
  void release(Pass& pass);

  /// Connections admitted and not yet released (Transport::connections()).
  std::size_t open() const;

 private:
  const std::size_t max_open_;
  const std::size_t max_per_address_;  // 0: no cap
  const std::size_t max_http_;
  mutable std::mutex mutex_;
  std::size_t open_ = 0;                                        // guarded by mutex_
  std::size_t http_ = 0;                                        // guarded by mutex_
  std::unordered_map<asio::ip::address, std::size_t> per_address_;  // guarded by mutex_; no zeros
};

}  // namespace herald::websocket::detail
