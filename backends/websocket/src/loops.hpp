#pragma once
// The Server's own event loops (ServerOptions::io_threads): an io_context and a thread each.
// A loop's connections (their sockets, timers, send queues and writes) are served by its
// thread alone; other threads reach them only through the batch a sender queues on their
// lane (Lane::push), so the delivery path has one hand-off per lane and batch, none per
// connection, and no loop wakes another one's thread except to hand it such a batch.

#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <asio.hpp>

namespace herald::websocket::detail {

class Loops {
 public:
  /// Starts `count` threads, each running its own io_context.
  explicit Loops(unsigned count);
  /// Stops every loop at once unless join() ran, then joins; the io_contexts go with the
  /// last of their sharers (share()).
  ~Loops();
  Loops(const Loops&) = delete;
  Loops& operator=(const Loops&) = delete;

  std::size_t size() const { return loops_.size(); }
  asio::io_context& io(std::size_t i) { return *loops_[i]->context; }
  /// Shares loop i's io_context: whatever holds a strand, socket or timer of it must also
  /// hold this, so the io_context goes after them (a handler still queued on the host's
  /// io_context may hold a lane past the Server and this object).
  std::shared_ptr<asio::io_context> share(std::size_t i) { return loops_[i]->context; }

  /// Joins each loop's thread once its io_context was stopped (the caller queues the stop
  /// where it orders it after the work that must still run: Core::stop_loops), then destroys
  /// the handlers still pending without running them. The io_contexts stay as long as they
  /// are shared, so a connection that outlives the stop (held by the engine) still has a
  /// valid socket and strand. Idempotent; never from a loop's own thread.
  void join();

 private:
  // An io_context whose pending handlers can be destroyed before it is (shutdown() is
  // protected in asio::execution_context).
  class Context : public asio::io_context {
   public:
    Context() : asio::io_context(1) {}  // one thread runs it
    using asio::execution_context::shutdown;
  };
  struct Loop {
    std::shared_ptr<Context> context = std::make_shared<Context>();
    asio::executor_work_guard<asio::io_context::executor_type> guard{context->get_executor()};
    std::thread thread;
  };

  std::vector<std::unique_ptr<Loop>> loops_;
  bool joined_ = false;
};

}  // namespace herald::websocket::detail
