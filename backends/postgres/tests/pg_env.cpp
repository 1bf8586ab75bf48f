#include "pg_env.hpp"

#include <random>
#include <stdexcept>

#include <libpq-fe.h>
#include <unistd.h>

namespace herald::postgres::test {

TestEnv& TestEnv::get() {
  static TestEnv env;
  return env;
}

TestEnv::TestEnv()
    : server_(std::make_unique<PgServer>()), work_(asio::make_work_guard(io_)) {
  std::random_device random;
  prefix_ = "t" + std::to_string(::getpid()) + "_" + std::to_string(random() % 100000) + "_";
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
}

TestEnv::~TestEnv() {
  // Every store is gone by now: their connections close, and the loop runs out of work.
  work_.reset();
  for (std::thread& t : threads_) t.join();
  for (const std::string& schema : schemas_) {
    try {
      query("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
    } catch (const std::exception&) {
      // The server is going away with its directory anyway.
    }
  }
}

std::string TestEnv::new_schema() {
  schemas_.push_back(prefix_ + std::to_string(++counter_));
  return schemas_.back();
}

PostgresOptions TestEnv::options(const std::string& schema) const {
  PostgresOptions o;
  o.url = server_->url();
  o.schema = schema;
  o.connect_timeout = std::chrono::seconds(5);
  return o;
}

std::shared_ptr<PostgresStore> TestEnv::make_store(const std::string& schema) {
  return PostgresStore::create(io_, options(schema.empty() ? new_schema() : schema));
}

SqlSession::SqlSession(const std::string& url)
    : conn_(PQconnectdb((url + "?connect_timeout=5").c_str())) {
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string error = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("cannot connect to the test server: " + error);
  }
}

SqlSession::~SqlSession() {
  PQfinish(conn_);
}

std::string SqlSession::exec(const std::string& sql) {
  PGresult* r = PQexec(conn_, sql.c_str());
  const ExecStatusType s = PQresultStatus(r);
  std::string error;
  std::string value;
  if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
    error = PQresultErrorMessage(r);
  } else if (s == PGRES_TUPLES_OK && PQntuples(r) > 0) {
    value = PQgetvalue(r, 0, 0);
  }
  PQclear(r);
  if (!error.empty()) throw std::runtime_error("query `" + sql + "` failed: " + error);
  return value;
}

}  // namespace herald::postgres::test
