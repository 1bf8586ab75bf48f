#include "frames.hpp"

namespace herald::websocket::detail {

WsMessagePtr make_text_message(const std::shared_ptr<WsMsgManager>& manager,
                               const std::string& head, const std::string* body) {
  const std::size_t size = head.size() + (body ? body->size() : 0);
  auto message = std::make_shared<WsMessage>(manager, ws_opcode::text, size);
  std::string& payload = message->get_raw_payload();
  payload.append(head);
  if (body) payload.append(*body);
  if (!websocketpp::utf8_validator::validate(payload)) return nullptr;
  // What hybi13::prepare_data_frame does for a server: no mask, no compression, one frame.
  websocketpp::frame::basic_header header(ws_opcode::text, payload.size(), true, false, false);
  websocketpp::frame::extended_header extended(payload.size());
  message->set_header(websocketpp::frame::prepare_header(header, extended));
  message->set_prepared(true);
  return message;
}

FrameCache::FrameCache() : manager_(std::make_shared<WsMsgManager>()) {}

WsMessagePtr FrameCache::message_for(const Frame& frame) {
  if (frame.head.empty() && frame.body) return shared_message(frame.body);
  return this->frame(frame.head, frame.body.get());
}

WsMessagePtr FrameCache::message_for(const std::string& text) {
  return frame(text, nullptr);
}

WsMessagePtr FrameCache::frame(const std::string& head, const std::string* body) {
  framed_.fetch_add(1, std::memory_order_relaxed);
  return make_text_message(manager_, head, body);
}

WsMessagePtr FrameCache::shared_message(const std::shared_ptr<const std::string>& body) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Entry& e : entries_) {
      if (e.key == nullptr) continue;
      if (e.body.expired()) {
        e = Entry{};  // its fan-out is over: release the message now
        continue;
      }
      if (e.key == body.get()) {
        reused_.fetch_add(1, std::memory_order_relaxed);
        return e.message;
      }
    }
  }
  // Framed outside the lock: two threads racing on the same new body both frame it, which
  // is correct, only not shared.
  WsMessagePtr message = frame({}, body.get());
  if (!message) return message;
  std::lock_guard<std::mutex> lock(mutex_);
  Entry* victim = nullptr;
  for (Entry& e : entries_)
    if (e.key == nullptr) victim = &e;
  if (victim == nullptr) {
    victim = &entries_[next_];
    next_ = (next_ + 1) % kEntries;
  }
  *victim = Entry{body.get(), body, message};
  return message;
}

}  // namespace herald::websocket::detail
