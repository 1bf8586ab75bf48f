#include "pool.hpp"

#include <utility>

namespace herald::postgres::detail {

namespace {
void refuse(Job& job, const std::string& reason) {
  job.done(Status(Errc::unavailable, "postgres: " + reason));
}
}  // namespace

std::shared_ptr<Pool> Pool::create(asio::io_context& io, std::shared_ptr<const ConnConfig> config,
                                   Limits limits) {
  std::shared_ptr<Pool> pool(new Pool(limits));
  pool->slots_.resize(limits.size);
  for (std::size_t i = 0; i < limits.size; ++i) {
    pool->slots_[i].conn = std::make_shared<Connection>(io, config, pool, i);
    pool->slots_[i].state = State::connecting;
  }
  for (Slot& slot : pool->slots_) slot.conn->start();
  return pool;
}

void Pool::submit(Job job) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) {
    lock.unlock();
    return refuse(job, "the store is closed");
  }
  Slot* best = nullptr;
  for (Slot& slot : slots_) {
    if (!may_take_locked(slot)) continue;
    if (!best || slot.load < best->load) best = &slot;
  }
  if (best) {
    ++best->load;
    std::shared_ptr<Connection> conn = best->conn;
    lock.unlock();
    std::vector<Job> jobs;
    jobs.push_back(std::move(job));
    return conn->send(std::move(jobs));
  }
  if (queue_.size() >= limits_.max_queued) {
    lock.unlock();
    return refuse(job, "overloaded: " + std::to_string(limits_.max_queued) +
                           " requests already wait for a connection");
  }
  queue_.push_back(std::move(job));
  // Nothing is open or opening (the database was down): try every connection now.
  std::vector<std::shared_ptr<Connection>> kick;
  if (!any_up_locked()) {
    for (Slot& slot : slots_) {
      slot.state = State::connecting;
      kick.push_back(slot.conn);
    }
  }
  lock.unlock();
  for (auto& conn : kick) conn->start();
}

std::size_t Pool::ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t n = 0;
  for (const Slot& slot : slots_) n += slot.state == State::ready ? 1 : 0;
  return n;
}

void Pool::close(asio::io_context& io, std::chrono::milliseconds bound) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::deque<Job> queued;
  queued.swap(queue_);
  std::vector<std::shared_ptr<Connection>> conns;
  for (Slot& slot : slots_) conns.push_back(slot.conn);
  closed_ = true;
  lock.unlock();
  for (Job& job : queued) refuse(job, "the store is closed");
  queued.clear();
  std::vector<std::future<void>> closing;
  for (auto& conn : conns) closing.push_back(conn->close());
  if (io.stopped() || io.get_executor().running_in_this_thread()) return;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (auto& f : closing) f.wait_until(deadline);
}

void Pool::on_connecting(std::size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  slots_[index].state = State::connecting;
}

std::vector<Job> Pool::on_ready(std::size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[index];
  slot.state = closed_ ? State::down : State::ready;
  return take_locked(slot);
}

std::vector<Job> Pool::on_finished(std::size_t index, std::size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[index];
  slot.load -= std::min(n, slot.load);
  return take_locked(slot);
}

void Pool::on_down(std::size_t index, std::size_t n, const std::string& reason) {
  std::unique_lock<std::mutex> lock(mutex_);
  Slot& slot = slots_[index];
  slot.load -= std::min(n, slot.load);
  slot.state = State::down;
  if (any_up_locked()) {
    // Jobs that waited for this connection to open may now go behind the busy ones.
    std::vector<std::pair<std::shared_ptr<Connection>, std::vector<Job>>> sends;
    for (Slot& other : slots_) {
      std::vector<Job> jobs = take_locked(other);
      if (!jobs.empty()) sends.emplace_back(other.conn, std::move(jobs));
    }
    lock.unlock();
    for (auto& [conn, jobs] : sends) conn->send(std::move(jobs));
    return;
  }
  // No connection is open or opening: waiting jobs would wait for nothing.
  std::deque<Job> failed;
  failed.swap(queue_);
  lock.unlock();
  for (Job& job : failed) refuse(job, reason);
}

// Jobs from the queue for `slot`, up to its free pipeline depth.
std::vector<Job> Pool::take_locked(Slot& slot) {
  std::vector<Job> jobs;
  while (may_take_locked(slot) && !queue_.empty()) {
    jobs.push_back(std::move(queue_.front()));
    queue_.pop_front();
    ++slot.load;
  }
  return jobs;
}

// A job goes to an idle open connection; it is pipelined behind busy ones only when no
// connection is still opening: a job pipelined behind one held up (e.g. a fan-out chunk
// waiting on a row lock) waits with it, while the opening one would have run it at once.
bool Pool::may_take_locked(const Slot& slot) const {
  if (slot.state != State::ready || slot.load >= limits_.depth) return false;
  if (slot.load == 0) return true;
  for (const Slot& other : slots_) {
    if (other.state == State::connecting) return false;
  }
  return true;
}

bool Pool::any_up_locked() const {
  for (const Slot& slot : slots_) {
    if (slot.state != State::down) return true;
  }
  return false;
}

}  // namespace herald::postgres::detail
