#pragma once
// Envelopes: what one instance relays to another through the Broker.

#include <memory>
#include <string>
#include <vector>

#include "herald/engine.hpp"
#include "herald/error.hpp"
#include "herald/model.hpp"

namespace herald {

/// One notification and where it was stored, for the sessions of one or more instances.
struct Envelope {
  InstanceId from;  // the publishing instance (it ignores its own envelopes)
  std::shared_ptr<const Notification> notification;
  std::vector<Position> positions;
  /// A dead letter's retry: sessions that already passed these entries get them again.
  bool redelivery = false;
};

std::string encode(const Envelope& envelope);
Result<Envelope> decode_envelope(const std::string& payload);

/// A presence change, relayed so that every instance's on_presence hears it.
/// A presence event as relayed: the event and the instance that announced it (for an
/// instance's expiry, another instance than event.instance).
struct PresenceMessage {
  PresenceEvent event;
  InstanceId from;
};

std::string encode(const PresenceEvent& event, const InstanceId& from);
Result<PresenceMessage> decode_presence(const std::string& payload);

/// A user's stored subscription added or removed: every instance joins (or leaves) the
/// topic on that user's live sessions. Relayed on all_instances_channel(), at most once.
struct MembershipMessage {
  UserId user;
  std::string topic;
  bool joined = false;
  InstanceId from;
};

std::string encode(const MembershipMessage& message);
/// Errc::not_found if `payload` is not a membership message (e.g. an envelope).
Result<MembershipMessage> decode_membership(const std::string& payload);

/// An administrator's disconnect of a user (Engine::disconnect): every instance closes that
/// user's sessions with CloseCode::disconnected and `reason`. Relayed on
/// all_instances_channel(), at most once.
struct DisconnectMessage {
  UserId user;
  std::string reason;
  InstanceId from;
};

std::string encode(const DisconnectMessage& message);
/// Errc::not_found if `payload` is not a disconnect message.
Result<DisconnectMessage> decode_disconnect(const std::string& payload);

/// Broker channel names.
std::string instance_channel(const InstanceId& instance);  // entries for one instance
std::string all_instances_channel();                       // fallback: every instance
std::string topic_channel(const std::string& topic);       // live topic entries
std::string presence_channel();                            // presence changes of all instances

}  // namespace herald
