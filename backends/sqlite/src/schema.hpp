#pragma once
// The schema of a herald SQLite database and opening a connection to it: migrations
// numbered from 1, the applied one recorded in PRAGMA user_version; the store's epoch in
// table meta.

#include <memory>
#include <vector>

#include "db.hpp"
#include "herald/sqlite/store.hpp"

namespace herald::sqlite::detail {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

/// Every migration, in version order.
const std::vector<Migration>& migrations();

/// A connection with herald's settings: WAL, `synchronous`, busy timeout, foreign keys off.
std::unique_ptr<Db> connect(const SqliteOptions& options);

/// Validates the options, opens the file, applies the migrations above its user_version
/// (in one transaction holding the write lock) and makes or reads the epoch.
/// Throws herald::Error saying what to fix.
Epoch prepare_database(const SqliteOptions& options);

}  // namespace herald::sqlite::detail
