#pragma once
// Status values for the hot path and the one rooted exception type for setup errors.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "herald/export.hpp"

namespace herald {

/// Thrown only by setup calls (constructing, configuring, starting). Its message tells the
/// user what to change. The hot path never throws: it reports a Status instead.
class HERALD_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Error codes carried by Status. Stable: their names appear on the wire (error frames).
enum class Errc {
  ok = 0,
  invalid_argument,   // malformed request: bad id, bad limit, empty target, bad option
  payload_too_large,  // data over EngineOptions::max_payload_bytes
  invalid_json,       // data is not one JSON value
  not_found,          // unknown stream, user or entry
  rate_limited,       // the sender's token bucket is empty; retry later
  unavailable,        // a backend (store, broker, registry) cannot be reached; retryable
  cannot_resume,      // the client's (seq, epoch) cannot be continued: reload history
  shutting_down,      // the engine is stopping and accepts no new work
  unauthorized,       // the authenticator rejected the handshake (or a refreshed token)
  forbidden,          // authenticated, but not allowed (e.g. to subscribe to that topic)
  idempotency_conflict,  // the key was used for another request within the dedup window
  limit_exceeded,     // a per-session bound (e.g. EngineOptions::max_session_topics) is reached
  internal,           // a bug or an unexpected backend answer
};

/// Name of a code as it appears on the wire, e.g. "rate_limited".
HERALD_API const char* to_string(Errc code) noexcept;

/// Outcome of an operation: a code and a human-readable message.
class Status {
 public:
  Status() = default;
  Status(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const noexcept { return code_ == Errc::ok; }
  /// True when the same request may succeed later unchanged.
  bool retryable() const noexcept {
    return code_ == Errc::unavailable || code_ == Errc::rate_limited;
  }
  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

 private:
  Errc code_ = Errc::ok;
  std::string message_;
};

/// A value or the Status that explains why there is none.
template <class T = void>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return status_.ok(); }
  const Status& status() const noexcept { return status_; }
  /// Precondition: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

/// Result of an operation that returns nothing but a Status.
template <>
class Result<void> {
 public:
  Result() = default;
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design
  bool ok() const noexcept { return status_.ok(); }
  const Status& status() const noexcept { return status_; }

 private:
  Status status_;
};

}  // namespace herald
