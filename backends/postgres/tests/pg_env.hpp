#pragma once
// What the tests of herald_postgres_tests share: one private PostgreSQL server per process
// and one io_context run by two threads, on which every PostgresStore of the tests runs.
// Each store gets a fresh schema (a per-process prefix + a counter), dropped at exit.

// Standard headers first: Asio's configuration depends on them (see harness.hpp).
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <libpq-fe.h>

#include "herald/postgres/store.hpp"
#include "pg_server.hpp"

namespace herald::postgres::test {

/// A blocking libpq connection to the test server, for checks and for holding locks from
/// the test thread. Throws std::runtime_error on any failure.
class SqlSession {
 public:
  explicit SqlSession(const std::string& url);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;
  /// Runs `sql`; returns the first column of the first row ("" if none).
  std::string exec(const std::string& sql);

 private:
  PGconn* conn_;
};

class TestEnv {
 public:
  /// The process's environment, made on first use: starts the server (throws
  /// std::runtime_error saying why if it cannot) and the loop threads.
  static TestEnv& get();
  ~TestEnv();

  PgServer& server() { return *server_; }
  asio::io_context& io() { return io_; }

  /// A schema name no store of this process used yet.
  std::string new_schema();
  /// Options for a store on `schema` of the test server.
  PostgresOptions options(const std::string& schema) const;
  /// A store on a fresh schema (or on `schema`).
  std::shared_ptr<PostgresStore> make_store(const std::string& schema = {});

  /// Runs `sql` on a new blocking connection (see SqlSession::exec).
  std::string query(const std::string& sql) { return SqlSession(server_->url()).exec(sql); }

 private:
  TestEnv();

  std::unique_ptr<PgServer> server_;
  std::string prefix_;
  int counter_ = 0;
  std::vector<std::string> schemas_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace herald::postgres::test
