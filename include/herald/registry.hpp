#pragma once
// Registry: sessions and presence. Which user is online, on which instance.

#include <cstdint>
#include <string>
#include <vector>

#include "herald/executor.hpp"
#include "herald/export.hpp"
#include "herald/model.hpp"

namespace herald {

/// A user with at least one live session on an instance.
struct Location {
  UserId user;
  InstanceId instance;
};

/// A user whose last live session belonged to an instance that expired (it crashed or hung
/// past its ttl): the user went offline without the instance telling anyone.
struct Departure {
  UserId user;
  InstanceId instance;  // the expired instance
};

/// What an instance reports about itself with every heartbeat (Engine: registry_ttl / 3), for
/// operators: the figures are as of that report.
struct InstanceLoad {
  std::uint64_t sessions = 0;      // authenticated sessions
  std::uint64_t connections = 0;   // open connections, sessions and those still authenticating
  std::uint64_t queued_bytes = 0;  // bytes sent to sessions and not yet written by the transport
  TimePoint started_at{};          // when the engine started
  TimePoint reported_at{};         // when these figures were taken (the engine's clock)
};

/// A live instance and its last reported load (a default InstanceLoad until it reported).
struct InstanceStatus {
  InstanceId instance;
  InstanceLoad load;
};

/// Contract:
/// - sessions live as long as their instance: an instance that stops calling heartbeat()
///   disappears with all its sessions once `ttl` has passed (a crashed instance cleans up);
/// - a user is present in the cluster while the registry records at least one session of
///   it (a session of an expired instance counts until that instance is collected). Each
///   change of that state is reported exactly once, atomically with the change: by the
///   add_session() that recorded the first session (0 -> 1), the remove_session() that
///   removed the last one (1 -> 0), or, when the last one goes with its instance, as a
///   Departure to the remove_instance() caller or to exactly one heartbeat() caller across
///   all instances (for an expired instance). The engine turns these into the cluster's one
///   user.online / user.offline event per transition;
/// - asynchronous; completions run on the engine's executor; a connection failure yields
///   Errc::unavailable (the engine then relays to every instance); the backend reconnects
///   by itself on later calls;
/// - thread-safe: one Registry may serve several engines.
class HERALD_API Registry {
 public:
  virtual ~Registry() = default;

  /// Marks `instance` alive for `ttl`, together with its sessions. Yields the Departures
  /// collected since the last heartbeat of any instance (each one is yielded once).
  virtual void heartbeat(InstanceId instance, Duration ttl,
                         Completion<std::vector<Departure>> done) = 0;
  /// Removes the instance and all its sessions (graceful shutdown). Yields the users whose
  /// last session record went with it.
  virtual void remove_instance(InstanceId instance, Completion<std::vector<Departure>> done) = 0;
  /// Records a session of a live instance. Yields true if the user had no session recorded
  /// before (its first in the cluster); re-adding a recorded session yields false.
  virtual void add_session(SessionRecord session, Completion<bool> done) = 0;
  /// Forgets a session (idempotent). Yields true if it was the user's last session record
  /// (false if there was no such session).
  virtual void remove_session(SessionRecord session, Completion<bool> done) = 0;
  /// One Location per (user, instance) pair with a live session, for a batch of users.
  virtual void locate(std::vector<UserId> users, Completion<std::vector<Location>> done) = 0;
  /// The live sessions of one user (presence), on every instance.
  virtual void sessions(UserId user, Completion<std::vector<SessionRecord>> done) = 0;
  /// The live instances.
  virtual void instances(Completion<std::vector<InstanceId>> done) = 0;

  /// Records the load of a live instance, replacing its previous one; the load goes with the
  /// instance (expiry, remove_instance). For an instance that is not live it does nothing
  /// (a late report cannot leave a record behind).
  virtual void report_load(InstanceId instance, InstanceLoad load, Done done) = 0;
  /// The live instances, ascending by id, each with its last reported load.
  virtual void instance_loads(Completion<std::vector<InstanceStatus>> done) = 0;

  /// A hint, asked synchronously before each lookup of an inbox chunk's recipients and each
  /// presence announcement: true only if the registry is available and no live instance but
  /// `self` exists now, so that locate() could find nothing but `self`'s sessions (which the
  /// engine reaches without asking) and no other instance listens for presence; the engine
  /// then skips the lookup or the Broker message. False is always correct, and the default:
  /// a registry shared over the network cannot know without a round trip. Must not block.
  virtual bool alone(const InstanceId& self) {
    (void)self;
    return false;
  }
};

}  // namespace herald
