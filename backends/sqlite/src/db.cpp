#include "db.hpp"

namespace herald::sqlite::detail {

void check(sqlite3* db, int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string message = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && message.find(detail) == std::string::npos) {
      message += std::string(" (") + detail + ")";
    }
  }
  throw DbError(rc, message);
}

Status status_of(const DbError& e) {
  return Status(Errc::unavailable, std::string("sqlite: ") + e.what());
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  check(db_, sqlite3_bind_int64(stmt_, i, v), "bind");
  return *this;
}

// SQLITE_TRANSIENT: SQLite copies the text, so a temporary (e.g. StreamId::str()) may be
// bound and go before the statement runs.
Stmt& Stmt::bind(int i, std::string_view v) {
  check(db_, sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        "bind");
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  check(db_, sqlite3_bind_null(stmt_, i), "bind");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  check(db_, rc, sqlite3_sql(stmt_));
  return false;
}

void Stmt::run() {
  while (step()) {
  }
}

std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

Db::Db(const std::string& path, bool create) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw DbError(rc, message);
  }
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Stmt Db::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    check(db_, sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr), sql);
    it = cache_.emplace(sql, stmt).first;
  }
  return Stmt(db_, it->second);
}

void Db::exec(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw DbError(rc, message);
  }
}

}  // namespace herald::sqlite::detail
