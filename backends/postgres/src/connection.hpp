#pragma once
// One pooled connection: a nonblocking PGconn in pipeline mode whose socket is watched by an
// Asio descriptor. Everything that touches the PGconn runs on the connection's strand, so
// the io_context may be run by any number of threads.

// Standard headers before Asio (see tests/conformance/harness.hpp: one Asio configuration).
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "libpq.hpp"
#include "statements.hpp"

namespace herald::postgres::detail {

/// One statement of a job: a prepared statement and its parameters.
struct Query {
  Stmt stmt;
  Params params;
};

/// What a job yields: one result per query, in order, or the status of its first failure.
using JobResult = Result<std::vector<PgResult>>;

/// A unit of work sent as one pipeline segment (its queries, then a sync): the queries run
/// in one implicit transaction, all or none. `done` is called exactly once: on the strand of
/// the connection that ran it, or on the submitting thread if the job is refused at once. It
/// must not block.
struct Job {
  std::vector<Query> queries;
  std::function<void(JobResult)> done;
};

/// What every connection of a pool needs to connect.
struct ConnConfig {
  std::string url;
  std::string search_path;  // the schema, as a quoted identifier
  std::string statement_timeout_ms;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds max_reconnect_delay;
};

/// The pool as its connections see it (called on the connection's strand). Each call
/// returns jobs for the caller to send now.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void on_connecting(std::size_t index) = 0;
  virtual std::vector<Job> on_ready(std::size_t index) = 0;
  /// `n` jobs the pool assigned to this connection are done (ok or failed).
  virtual std::vector<Job> on_finished(std::size_t index, std::size_t n) = 0;
  /// The connection is down; `n` assigned jobs failed with it. `reason` is why.
  virtual void on_down(std::size_t index, std::size_t n, const std::string& reason) = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, std::shared_ptr<const ConnConfig> config,
             std::weak_ptr<ConnectionOwner> owner, std::size_t index);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Connects now if not connected or connecting (cutting a reconnect pause short). Any thread.
  void start();
  /// Sends jobs the pool assigned to this connection; if it is not ready they fail with
  /// Errc::unavailable. Any thread.
  void send(std::vector<Job> jobs);
  /// Closes for good: jobs in flight fail with Errc::unavailable. Any thread. The future is
  /// ready once the strand ran the close, i.e. once no handler of this connection still
  /// holds a job (and with it a caller's Completion).
  std::future<void> close();

 private:
  enum class Phase { idle, connecting, setup, ready, closed };
  struct Inflight {
    Job job;
    bool internal = false;  // the setup segment: not one of the pool's jobs
    std::vector<PgResult> results;
  };

  void start_connect();
  void poll_connect();
  void begin_setup();
  void on_setup(const JobResult& r);
  void write_jobs(std::vector<Job> jobs);
  bool write_job(const Job& job);
  void flush();
  void wait_readable();
  void wait_writable();
  void wait(asio::posix::stream_descriptor::wait_type what, bool& pending);
  void on_readable();
  void drain();
  void complete_front();
  void fail(const std::string& reason);
  void schedule_reconnect();
  bool sync_socket();
  void release_socket();
  std::size_t fail_inflight(const std::string& reason);

  const std::shared_ptr<const ConnConfig> config_;
  const std::weak_ptr<ConnectionOwner> owner_;
  const std::size_t index_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::posix::stream_descriptor socket_;
  asio::steady_timer timer_;  // connect timeout, or the pause before a reconnect
  // State below: on strand_ only.
  PgConn conn_;
  Phase phase_ = Phase::idle;
  unsigned generation_ = 0;  // bumped per PGconn: stale socket waits see a mismatch
  bool reading_ = false;
  bool writing_ = false;
  unsigned failures_ = 0;  // consecutive failed connects: the reconnect pause doubles
  std::deque<Inflight> inflight_;
};

}  // namespace herald::postgres::detail
