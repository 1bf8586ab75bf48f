#pragma once
// Broker: relays envelopes between instances over named channels (pub/sub).

#include <functional>
#include <string>

#include "herald/executor.hpp"
#include "herald/export.hpp"

namespace herald {

/// What a broker reports to its engine. Both run on the engine's executor.
struct BrokerEvents {
  /// A message published on a channel this broker is subscribed to.
  std::function<void(const std::string& channel, const std::string& payload)> on_message;
  /// The connection was lost and re-established (subscriptions restored): messages in
  /// between may be lost, so the engine re-reads its live streams from the Store.
  std::function<void()> on_reset;
};

/// Contract:
/// - at-most-once, per-channel FIFO from one publisher; a message may be lost (the engine
///   detects seq gaps and repairs from the Store);
/// - a publisher that is also subscribed receives its own messages (the engine ignores them);
/// - asynchronous; completions and events run on the engine's executor; a connection
///   failure yields Errc::unavailable; the backend reconnects by itself and then restores
///   its subscriptions and reports on_reset;
/// - one Broker object per engine (it carries that engine's subscriptions).
class HERALD_API Broker {
 public:
  virtual ~Broker() = default;

  /// Connects and starts reporting `events`. Called once, before any other method.
  virtual void start(BrokerEvents events, Done done) = 0;
  /// Starts receiving `channel` (idempotent).
  virtual void subscribe(std::string channel, Done done) = 0;
  /// Stops receiving `channel` (idempotent).
  virtual void unsubscribe(std::string channel, Done done) = 0;
  /// Sends `payload` to every subscriber of `channel`, this broker included.
  virtual void publish(std::string channel, std::string payload, Done done) = 0;
  /// Unsubscribes everything and disconnects; no event is reported after `done`.
  virtual void stop(Done done) = 0;
};

}  // namespace herald
