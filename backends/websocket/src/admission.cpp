#include "admission.hpp"

namespace herald::websocket::detail {

Admission::Admission(const ServerOptions& options)
    : max_open_(options.max_connections),
      max_per_address_(options.max_connections_per_address),
      max_http_(options.max_http_connections) {}

Admission::Verdict Admission::admit(const asio::ip::address& address, Pass& pass) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ >= max_open_) return Verdict::server_full;
  if (http_ >= max_http_) return Verdict::http_full;
  if (max_per_address_ != 0) {
    auto it = per_address_.find(address);
    if (it != per_address_.end() && it->second >= max_per_address_) return Verdict::address_full;
  }
  ++open_;
  ++http_;
  ++per_address_[address];
  pass.counted = pass.http_phase = true;
  pass.address = address;
  return Verdict::admitted;
}

void Admission::leave_http_phase(Pass& pass) {
  if (!pass.http_phase) return;
  std::lock_guard<std::mutex> lock(mutex_);
  pass.http_phase = false;
  --http_;
}

void Admission::release(Pass& pass) {
  if (!pass.counted && !pass.http_phase) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (pass.http_phase) --http_;
  if (pass.counted) {
    --open_;
    auto it = per_address_.find(pass.address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  pass.counted = pass.http_phase = false;
}

std::size_t Admission::open() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

}  // namespace herald::websocket::detail
