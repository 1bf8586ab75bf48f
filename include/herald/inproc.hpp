#pragma once
// In-process Transport: clients that live in the same process as the engine, for tests and
// for embedding (a host forwarding frames from its own connections).

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "herald/export.hpp"
#include "herald/transport.hpp"

namespace herald {

class InProcTransport;

/// The client end of an in-process connection.
/// Frames sent by the engine wait in the client until taken (a client that never takes is a
/// slow client: the engine sees its bytes unwritten). Thread-safe.
class HERALD_API InProcClient {
 public:
  /// Called with each frame as it arrives, instead of queueing it (it counts as taken).
  /// Runs on whichever thread the engine sends from (the engine's executor).
  void on_frame(std::function<void(const std::string&)> callback);
  /// Takes the oldest frame not yet taken.
  std::optional<std::string> take();
  /// Takes every frame not yet taken.
  std::deque<std::string> take_all();
  /// Bytes of frames not yet taken.
  std::size_t pending_bytes() const;
  /// Sends a text frame to the engine.
  void send(std::string text);
  /// Closes from the client side (code normal).
  void close();

  bool closed() const;
  /// Close code and reason, once closed.
  CloseCode close_code() const;
  std::string close_reason() const;

 private:
  friend class InProcTransport;
  friend class InProcConnection;
  struct State;
  explicit InProcClient(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class HERALD_API InProcTransport final : public Transport {
 public:
  InProcTransport();
  ~InProcTransport() override;

  void start(ConnectionHandler& handler, Done done) override;
  void stop_accepting(Done done) override;

  /// Opens a connection as a client presenting `handshake`. The engine decides later whether
  /// to accept it (a rejected client is closed with CloseCode::unauthorized). If the
  /// transport is not accepting, the client comes back closed with going_away.
  std::shared_ptr<InProcClient> connect(Handshake handshake);

 private:
  std::mutex mutex_;
  ConnectionHandler* handler_ = nullptr;
  bool accepting_ = false;
};

}  // namespace herald
