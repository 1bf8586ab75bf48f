#pragma once
// One user's WebSocket client in the chaos run: connects to a random instance, acks every
// inbox notification at once (cumulatively), and when the connection ends for any reason
// (close frame, reset, refused) reconnects to a random instance after a short backoff,
// resuming with the position it reached (`since` = the highest seq received, `epoch`) or,
// with `resume_from_cursor`, from the stored ack cursor (no `since`). What it receives goes
// to the Ledger, which judges it.
//
// Thread: one; every call and handler on the io_context's thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <asio.hpp>

#include "ledger.hpp"
#include "ws_frame.hpp"

namespace herald::chaos {

struct ClientSetup {
  std::vector<std::uint16_t> ports;  // instances on 127.0.0.1
  bool resume_from_cursor = false;   // reconnect without since/epoch
};

class InboxClient : public std::enable_shared_from_this<InboxClient> {
 public:
  /// `user`: index in the ledger; the user id is user_name(user). Connections come from
  /// `source` (a loopback address).
  InboxClient(asio::io_context& io, Ledger& ledger, std::size_t user, ClientSetup setup,
              asio::ip::address source, std::uint32_t seed);

  /// The "close code" of a connection that never became a session (refused, no 101).
  static constexpr int kNotConnected = 0;

  static std::string user_name(std::size_t user) { return "chaos-u" + std::to_string(user); }

  /// Connects after a random delay below `spread` (so that clients do not all connect at
  /// the same instant); reconnects until stop().
  void start(std::chrono::milliseconds spread);
  void stop();
  /// Welcomed on its current connection.
  bool connected() const { return welcomed_; }
  /// The instance port of the current session; 0 when not connected.
  std::uint16_t port() const { return welcomed_ ? port_ : 0; }

 private:
  using Socket = asio::ip::tcp::socket;

  void connect();
  void handshake();
  void read();
  void consume();
  void on_text(std::string_view text);
  void on_notification(const std::string& stream, std::uint64_t seq, const std::string& epoch,
                       const std::string& id, int attempt, std::int64_t k);
  void send(int opcode, std::string_view payload);
  void write_next();
  void drop(int close_code);
  void arm_idle_timer();
  /// A handler of connection `generation` that comes after the connection ended.
  bool stale(unsigned generation) const { return stopped_ || generation != generation_; }

  asio::io_context& io_;
  Ledger& ledger_;
  const std::size_t user_;
  const std::string stream_;  // "inbox:<user>"
  const ClientSetup setup_;
  const asio::ip::address source_;
  std::mt19937 rng_;
  std::unique_ptr<Socket> socket_;
  asio::steady_timer retry_timer_, idle_timer_;
  std::chrono::milliseconds backoff_{50};
  unsigned generation_ = 0;  // bumped per connection: handlers of an old one do nothing
  std::uint16_t port_ = 0;   // of the current connection
  bool stopped_ = false, welcomed_ = false;
  std::optional<std::uint64_t> asked_since_;  // the `since` of the current handshake
  std::string in_;
  std::vector<char> buffer_;
  std::deque<std::shared_ptr<const std::string>> writes_;
};

}  // namespace herald::chaos
