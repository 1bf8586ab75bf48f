#include "connection.hpp"

#include <algorithm>
#include <future>
#include <system_error>
#include <utility>

#include <asio/post.hpp>

namespace herald::postgres::detail {

namespace {

constexpr std::chrono::milliseconds kFirstReconnectDelay{50};

Status unavailable(const std::string& reason) {
  return Status(Errc::unavailable, "postgres: " + reason);
}

// The first failed result of a segment decides its status (a statement's own error rather
// than the "aborted" of the statements skipped after it).
Status segment_status(const std::vector<PgResult>& results) {
  const PGresult* aborted = nullptr;
  for (const PgResult& r : results) {
    if (result_ok(r.get())) continue;
    if (PQresultStatus(r.get()) != PGRES_PIPELINE_ABORTED) return result_status(r.get(), "query");
    if (!aborted) aborted = r.get();
  }
  if (aborted) return result_status(aborted, "query");
  return Status();
}

}  // namespace

Connection::Connection(asio::io_context& io, std::shared_ptr<const ConnConfig> config,
                       std::weak_ptr<ConnectionOwner> owner, std::size_t index)
    : config_(std::move(config)),
      owner_(std::move(owner)),
      index_(index),
      strand_(asio::make_strand(io)),
      socket_(strand_),
      timer_(strand_) {}

Connection::~Connection() {
  release_socket();  // libpq owns the fd: PgConn's PQfinish closes it
}

void Connection::start() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->phase_ == Phase::idle) self->start_connect();
  });
}

void Connection::send(std::vector<Job> jobs) {
  asio::post(strand_, [self = shared_from_this(), jobs = std::move(jobs)]() mutable {
    self->write_jobs(std::move(jobs));
  });
}

std::future<void> Connection::close() {
  auto closed = std::make_shared<std::promise<void>>();
  std::future<void> done = closed->get_future();
  asio::post(strand_, [self = shared_from_this(), closed] {
    if (self->phase_ != Phase::closed) {
      self->phase_ = Phase::closed;
      ++self->generation_;  // socket waits already queued see a stale generation
      self->timer_.cancel();
      self->fail_inflight("the store was closed");
      self->release_socket();
      self->conn_.reset();
    }
    closed->set_value();
  });
  return done;
}

// ---- connecting: PQconnectStart / PQconnectPoll, never blocking --------------------------

void Connection::start_connect() {
  ++generation_;
  const char* keys[] = {"application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {"herald", config_->url.c_str(), "UTF8", nullptr};
  conn_.reset(PQconnectStartParams(keys, values, 1));
  silence_notices(conn_.get());
  if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD || !sync_socket()) {
    return fail("cannot connect: " + conn_error(conn_.get()));
  }
  phase_ = Phase::connecting;
  if (auto owner = owner_.lock()) owner->on_connecting(index_);
  // libpq ignores connect_timeout in PQconnectPoll: the timer enforces it.
  timer_.expires_after(config_->connect_timeout);
  timer_.async_wait([self = shared_from_this(), gen = generation_](const std::error_code& ec) {
    if (ec || gen != self->generation_) return;
    if (self->phase_ == Phase::connecting || self->phase_ == Phase::setup) {
      self->fail("connect timed out");
    }
  });
  wait_writable();  // PQconnectStart's first poll state is "writing"
}

void Connection::poll_connect() {
  const PostgresPollingStatusType status = PQconnectPoll(conn_.get());
  if (!sync_socket()) return fail("cannot connect: " + conn_error(conn_.get()));
  switch (status) {
    case PGRES_POLLING_READING:
      return wait_readable();
    case PGRES_POLLING_WRITING:
      return wait_writable();
    case PGRES_POLLING_OK:
      return begin_setup();
    default:
      return fail("cannot connect: " + conn_error(conn_.get()));
  }
}

// Keeps the descriptor on libpq's current socket (it may change while connecting).
bool Connection::sync_socket() {
  const int fd = PQsocket(conn_.get());
  if (fd < 0) return false;
  if (socket_.is_open() && socket_.native_handle() == fd) return true;
  release_socket();
  std::error_code ec;
  socket_.assign(fd, ec);
  return !ec;
}

void Connection::release_socket() {
  if (socket_.is_open()) socket_.release();  // cancels pending waits; never closes the fd
  reading_ = writing_ = false;
}

// Pipeline mode, session settings and every prepared statement, as one segment.
void Connection::begin_setup() {
  PGconn* c = conn_.get();
  phase_ = Phase::setup;
  if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
    return fail("cannot enter pipeline mode: " + conn_error(c));
  }
  const char* settings[] = {config_->search_path.c_str(), config_->statement_timeout_ms.c_str()};
  bool ok = PQsendQueryParams(c,
                              "SELECT set_config('search_path', $1, false), "
                              "set_config('statement_timeout', $2, false)",
                              2, nullptr, settings, nullptr, nullptr, 0) == 1;
  for (std::size_t i = 0; ok && i < kStatementCount; ++i) {
    const StatementDef& def = statement(static_cast<Stmt>(i));
    ok = PQsendPrepare(c, def.name, def.sql, 0, nullptr) == 1;
  }
  if (!ok || PQpipelineSync(c) != 1) return fail("cannot send the session setup: " + conn_error(c));
  Inflight setup;
  setup.internal = true;
  setup.job.done = [this](JobResult r) { on_setup(r); };  // runs inside drain(): self is held
  inflight_.push_back(std::move(setup));
  wait_readable();
  flush();
}

void Connection::on_setup(const JobResult& r) {
  if (!r.ok()) return fail("session setup failed: " + r.status().message());
  phase_ = Phase::ready;
  failures_ = 0;
  timer_.cancel();
  auto owner = owner_.lock();
  if (owner) write_jobs(owner->on_ready(index_));
}

// ---- sending ------------------------------------------------------------------------------

void Connection::write_jobs(std::vector<Job> jobs) {
  if (jobs.empty()) return;
  if (phase_ != Phase::ready) {
    for (Job& job : jobs) job.done(unavailable("the connection is not open (reconnecting)"));
    auto owner = owner_.lock();
    if (owner) write_jobs(owner->on_finished(index_, jobs.size()));
    return;
  }
  for (Job& job : jobs) {
    if (!write_job(job)) {
      inflight_.push_back(Inflight{std::move(job), false, {}});
      return fail("cannot send: " + conn_error(conn_.get()));
    }
    inflight_.push_back(Inflight{std::move(job), false, {}});
  }
  flush();
}

bool Connection::write_job(const Job& job) {
  PGconn* c = conn_.get();
  std::vector<const char*> values;
  for (const Query& q : job.queries) {
    values.clear();
    for (const auto& p : q.params) values.push_back(p ? p->c_str() : nullptr);
    if (PQsendQueryPrepared(c, statement(q.stmt).name, static_cast<int>(values.size()),
                            values.data(), nullptr, nullptr, 0) != 1) {
      return false;
    }
  }
  return PQpipelineSync(c) == 1;
}

void Connection::flush() {
  const int r = PQflush(conn_.get());
  if (r < 0) return fail("cannot send: " + conn_error(conn_.get()));
  if (r > 0) wait_writable();
}

// ---- socket readiness -------------------------------------------------------------------

void Connection::wait_readable() {
  wait(asio::posix::stream_descriptor::wait_read, reading_);
}

void Connection::wait_writable() {
  wait(asio::posix::stream_descriptor::wait_write, writing_);
}

// One wait at a time per direction (`pending` is reading_ or writing_). While connecting,
// readiness either way means "poll again"; later, readable means results and writable
// means the rest of the output can go.
void Connection::wait(asio::posix::stream_descriptor::wait_type what, bool& pending) {
  if (pending) return;
  pending = true;
  socket_.async_wait(what, [self = shared_from_this(), what, gen = generation_,
                            &pending](const std::error_code& ec) {
    if (gen != self->generation_) return;
    pending = false;
    if (ec == asio::error::operation_aborted) return;
    if (ec) return self->fail("socket error: " + ec.message());
    if (self->phase_ == Phase::connecting) return self->poll_connect();
    if (what == asio::posix::stream_descriptor::wait_read) return self->on_readable();
    self->flush();
  });
}

void Connection::on_readable() {
  if (PQconsumeInput(conn_.get()) != 1) return fail("connection lost: " + conn_error(conn_.get()));
  const unsigned gen = generation_;
  drain();
  if (gen != generation_ || !conn_) return;  // a completion failed the connection
  if (PQstatus(conn_.get()) == CONNECTION_BAD) return fail("connection lost");
  wait_readable();
  if (writing_ == false && PQflush(conn_.get()) > 0) wait_writable();
}

// Takes every result that has arrived: each statement's result(s), then the segment's sync.
// PQgetResult returns NULL between statements; two in a row mean nothing more is ready.
void Connection::drain() {
  const unsigned gen = generation_;
  int nulls = 0;
  while (gen == generation_ && conn_ && !inflight_.empty() && PQisBusy(conn_.get()) == 0) {
    PgResult r(PQgetResult(conn_.get()));
    if (!r) {
      if (++nulls > 1) break;
      continue;
    }
    nulls = 0;
    if (PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC) {
      complete_front();
    } else {
      inflight_.front().results.push_back(std::move(r));
    }
  }
}

void Connection::complete_front() {
  Inflight done = std::move(inflight_.front());
  inflight_.pop_front();
  // The pool hears that this connection has one job less before the job's caller hears of
  // it (as the append batcher frees its place first): a job submitted next, by that caller
  // or by another thread, is placed by the connection's true load. Told after, a caller
  // quick enough saw this idle connection still busy, and its job could go behind a busy
  // one (a unicast append behind a fan-out chunk waiting on a row lock).
  if (!done.internal) {
    if (auto owner = owner_.lock()) write_jobs(owner->on_finished(index_, 1));
  }
  Status status = segment_status(done.results);
  if (status.ok()) {
    done.job.done(std::move(done.results));
  } else {
    done.job.done(std::move(status));
  }
}

// ---- failure and reconnect --------------------------------------------------------------

std::size_t Connection::fail_inflight(const std::string& reason) {
  std::deque<Inflight> failed;
  failed.swap(inflight_);
  std::size_t jobs = 0;
  for (Inflight& f : failed) {
    if (f.internal) continue;  // the setup segment: fail() already handles its failure
    ++jobs;
    f.job.done(unavailable(reason));
  }
  return jobs;
}

// The connection is unusable: fail what it carried, drop it, and reconnect after a pause.
void Connection::fail(const std::string& reason) {
  if (phase_ == Phase::closed) return;
  ++generation_;
  release_socket();
  conn_.reset();
  phase_ = Phase::idle;
  timer_.cancel();
  const std::size_t jobs = fail_inflight(reason);
  if (auto owner = owner_.lock()) owner->on_down(index_, jobs, reason);
  ++failures_;
  schedule_reconnect();
}

void Connection::schedule_reconnect() {
  const unsigned doublings = std::min(failures_, 16u) - 1;
  const auto delay = std::min<std::chrono::milliseconds>(
      kFirstReconnectDelay * (1u << std::min(doublings, 10u)), config_->max_reconnect_delay);
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (!ec && self->phase_ == Phase::idle) self->start_connect();
  });
}

}  // namespace herald::postgres::detail
