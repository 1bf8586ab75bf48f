#include "loops.hpp"

namespace herald::websocket::detail {

Loops::Loops(unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    auto loop = std::make_unique<Loop>();
    Context& context = *loop->context;
    loop->thread = std::thread([&context] { context.run(); });
    loops_.push_back(std::move(loop));
  }
}

Loops::~Loops() {
  if (joined_) return;
  for (auto& loop : loops_) loop->context->stop();
  join();
}

void Loops::join() {
  if (joined_) return;
  joined_ = true;
  for (auto& loop : loops_) {
    loop->guard.reset();
    loop->thread.join();
  }
  // Every loop is stopped before any handler is destroyed: destroying one (a connection)
  // may release the last reference to a strand or socket of another loop.
  for (auto& loop : loops_) loop->context->shutdown();
}

}  // namespace herald::websocket::detail
