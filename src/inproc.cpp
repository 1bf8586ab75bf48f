// In-process transport: a connection is a pair of objects sharing one State. The engine holds
// the InProcConnection (a Connection); the host or test holds the InProcClient.
//
// Every call into the ConnectionHandler (and into the client's on_frame callback) goes through
// a per-connection event queue drained by one thread at a time, with no lock held while an
// event is delivered. That gives the ordering the Transport contract promises (on_open first,
// on_closed last and once, frames in send() order) even when client and engine act from
// different threads, and lets the handler call send()/close() from inside a callback: the
// nested call queues its event and the outer drain delivers it right after the current one.

#include "herald/inproc.hpp"

#include <utility>

namespace herald {

struct InProcClient::State {
  // What the drain loop delivers. `text` is the frame or message, or the close reason.
  struct Event {
    enum class Kind { open, message, frame, written, closed };
    Kind kind;
    std::string text;
    std::size_t bytes = 0;
    CloseCode code = CloseCode::normal;
  };
  using FrameCallback = std::function<void(const std::string&)>;

  mutable std::mutex mutex;
  std::deque<std::string> frames;  // sent by the engine, not yet taken
  std::size_t pending_bytes = 0;
  // Shared so the drain loop can call it without the lock while another thread replaces it.
  std::shared_ptr<const FrameCallback> on_frame;
  bool closed = false;          // no more sends; on_closed is queued
  CloseCode close_code = CloseCode::normal;
  std::string close_reason;
  // The engine owns the connection; a connection the engine forgot gets no more calls.
  std::weak_ptr<Connection> connection;
  ConnectionHandler* handler = nullptr;

  std::deque<Event> events;
  bool draining = false;

  /// Queues `event` and, unless another call is already draining, delivers the queue.
  /// Precondition: `lock` holds `mutex`; it is released while events are delivered.
  void dispatch(std::unique_lock<std::mutex>& lock, Event event) {
    events.push_back(std::move(event));
    drain(lock);
  }

  /// Delivers queued events unless another call is already doing so. Same precondition.
  void drain(std::unique_lock<std::mutex>& lock) {
    if (draining) return;
    draining = true;
    while (!events.empty()) {
      Event next = std::move(events.front());
      events.pop_front();
      std::shared_ptr<const FrameCallback> callback;
      if (next.kind == Event::Kind::frame) {
        callback = on_frame;
        if (!callback || !*callback) {
          // The callback was removed after this frame was sent: queue it for take() instead.
          pending_bytes += next.text.size();
          frames.push_back(std::move(next.text));
          continue;
        }
      }
      std::shared_ptr<Connection> conn = connection.lock();
      lock.unlock();
      deliver(next, conn, callback.get());
      lock.lock();
    }
    draining = false;
  }

  void deliver(Event& event, const std::shared_ptr<Connection>& conn,
               const FrameCallback* callback) {
    if (event.kind == Event::Kind::frame) {
      (*callback)(event.text);
      if (conn) handler->on_written(conn, event.bytes);
      return;
    }
    if (!conn) return;
    switch (event.kind) {
      case Event::Kind::open: handler->on_open(conn); break;
      case Event::Kind::message: handler->on_message(conn, std::move(event.text)); break;
      case Event::Kind::written: handler->on_written(conn, event.bytes); break;
      case Event::Kind::closed:
        handler->on_closed(conn, event.code, std::move(event.text));
        break;
      case Event::Kind::frame: break;
    }
  }

  /// Marks the connection closed and queues on_closed; false if it was closed already.
  bool close(std::unique_lock<std::mutex>& lock, CloseCode code, std::string reason) {
    if (closed) return false;
    closed = true;
    close_code = code;
    close_reason = reason;
    dispatch(lock, Event{Event::Kind::closed, std::move(reason), 0, code});
    return true;
  }
};

class InProcConnection final : public Connection {
  using State = InProcClient::State;
  using Event = State::Event;

 public:
  InProcConnection(std::shared_ptr<State> state, Handshake handshake)
      : state_(std::move(state)), handshake_(std::move(handshake)) {}

  void send(Frame frame) override {
    std::unique_lock<std::mutex> lock(state_->mutex);
    if (state_->closed) return;
    if (state_->on_frame && *state_->on_frame) {
      state_->dispatch(lock, Event{Event::Kind::frame, frame.text(), frame.size(), {}});
      return;
    }
    // Queued frames stay readable after a close: a socket delivers what was sent before the
    // close frame.
    std::string text = frame.text();
    state_->pending_bytes += text.size();
    state_->frames.push_back(std::move(text));
  }

  void close(CloseCode code, std::string reason) override {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->close(lock, code, std::move(reason));
  }

  const Handshake& handshake() const override { return handshake_; }

 private:
  std::shared_ptr<State> state_;
  Handshake handshake_;
};

// ---- InProcClient ----

void InProcClient::on_frame(std::function<void(const std::string&)> callback) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  const bool set = static_cast<bool>(callback);
  state_->on_frame = std::make_shared<const State::FrameCallback>(std::move(callback));
  if (!set || state_->frames.empty()) return;
  // Frames that arrived before the callback go to it first, in order: it sees every frame.
  std::deque<std::string> queued;
  queued.swap(state_->frames);
  state_->pending_bytes = 0;
  if (state_->closed) {
    // After on_closed the handler hears nothing more, but the frames are still the client's.
    std::shared_ptr<const State::FrameCallback> current = state_->on_frame;
    lock.unlock();
    for (const auto& text : queued) (*current)(text);
    return;
  }
  for (auto& text : queued) {
    const std::size_t bytes = text.size();
    state_->events.push_back(State::Event{State::Event::Kind::frame, std::move(text), bytes, {}});
  }
  state_->drain(lock);
}

std::optional<std::string> InProcClient::take() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  if (state_->frames.empty()) return std::nullopt;
  std::string text = std::move(state_->frames.front());
  state_->frames.pop_front();
  state_->pending_bytes -= text.size();
  if (!state_->closed) {
    state_->dispatch(lock, State::Event{State::Event::Kind::written, {}, text.size(), {}});
  }
  return text;
}

std::deque<std::string> InProcClient::take_all() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  std::deque<std::string> out;
  out.swap(state_->frames);
  const std::size_t bytes = state_->pending_bytes;
  state_->pending_bytes = 0;
  if (bytes != 0 && !state_->closed) {
    state_->dispatch(lock, State::Event{State::Event::Kind::written, {}, bytes, {}});
  }
  return out;
}

std::size_t InProcClient::pending_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->pending_bytes;
}

void InProcClient::send(std::string text) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  if (state_->closed) return;
  state_->dispatch(lock, State::Event{State::Event::Kind::message, std::move(text), 0, {}});
}

void InProcClient::close() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->close(lock, CloseCode::normal, "client closed");
}

bool InProcClient::closed() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->closed;
}

CloseCode InProcClient::close_code() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->close_code;
}

std::string InProcClient::close_reason() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->close_reason;
}

// ---- InProcTransport ----

InProcTransport::InProcTransport() = default;
InProcTransport::~InProcTransport() = default;

void InProcTransport::start(ConnectionHandler& handler, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handler_ = &handler;
    accepting_ = true;
  }
  if (done.executor()) done(Result<void>());
}

void InProcTransport::stop_accepting(Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    accepting_ = false;
  }
  if (done.executor()) done(Result<void>());
}

std::shared_ptr<InProcClient> InProcTransport::connect(Handshake handshake) {
  using State = InProcClient::State;
  auto state = std::make_shared<State>();
  ConnectionHandler* handler = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (accepting_) handler = handler_;
  }
  // InProcClient's constructor is private (we are its friend): no make_shared.
  std::shared_ptr<InProcClient> client(new InProcClient(state));
  if (handler == nullptr) {
    state->closed = true;
    state->close_code = CloseCode::going_away;
    state->close_reason = "server is not accepting connections";
    return client;
  }
  auto connection = std::make_shared<InProcConnection>(state, std::move(handshake));
  std::unique_lock<std::mutex> lock(state->mutex);
  state->handler = handler;
  state->connection = connection;
  // `connection` stays alive in this frame until on_open has handed it to the handler.
  state->dispatch(lock, State::Event{State::Event::Kind::open, {}, 0, {}});
  return client;
}

}  // namespace herald
