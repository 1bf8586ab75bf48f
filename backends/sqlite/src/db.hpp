#pragma once
// A thin layer over one sqlite3 connection: prepared statements cached per SQL text,
// binding and reading by position, errors as exceptions inside the backend (DbError), turned
// into a Status at the edge of each call (worker.cpp). Used by one thread at a time.

#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "herald/error.hpp"
#include "herald/model.hpp"

namespace herald::sqlite::detail {

/// A failed SQLite call: the result code and SQLite's message.
class DbError : public std::runtime_error {
 public:
  DbError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// Unsigned 64-bit values (seqs, ids, epochs) are stored as the same bits in SQLite's signed
/// INTEGER; seqs used as bounds are clamped into the signed range first.
inline std::int64_t to_db(std::uint64_t v) { return static_cast<std::int64_t>(v); }
inline std::uint64_t from_db(std::int64_t v) { return static_cast<std::uint64_t>(v); }
inline std::int64_t clamp_seq(Seq s) {
  constexpr auto kMax = static_cast<Seq>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(s < kMax ? s : kMax);
}
inline std::int64_t clamp_limit(std::size_t n) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max() - 1);
  return static_cast<std::int64_t>(n < kMax ? n : kMax);
}

/// One prepared statement in use: bind, step, read columns; reset when it goes out of scope.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);  // copied: `v` may go before the statement runs
  Stmt& bind_null(int i);

  /// Steps once: true if a row is ready, false when done. Throws DbError.
  bool step();
  /// Steps to the end (a statement without rows). Throws DbError.
  void run();

  std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

/// One connection. Not thread-safe: owned and used by one thread at a time.
class Db {
 public:
  /// Opens `path` (read_write creates it). Throws DbError.
  Db(const std::string& path, bool create);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }

  /// The cached statement of `sql` (prepared on first use), ready to bind.
  Stmt prepare(const char* sql);
  /// Runs SQL text without parameters (several statements allowed). Throws DbError.
  void exec(const std::string& sql);
  /// Rows changed by the last statement.
  std::int64_t changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;  // keyed by the literal's address
};

/// Throws DbError for `rc` unless it is SQLITE_OK/ROW/DONE.
void check(sqlite3* db, int rc, const char* what);

/// The Status of a failed call: a database that cannot be used now is retryable
/// (Errc::unavailable), whatever SQLite's reason (busy, I/O error, disk full, read-only…).
Status status_of(const DbError& e);

}  // namespace herald::sqlite::detail
