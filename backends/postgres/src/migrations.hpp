#pragma once
// The schema: versioned SQL migrations embedded in the library and the setup step that
// applies them (docs/postgres.md describes every table and index).

#include <string>
#include <vector>

#include "herald/model.hpp"
#include "herald/postgres/store.hpp"

namespace herald::postgres::detail {

struct Migration {
  int version;              // 1, 2, 3, … applied in order, each once
  const char* description;  // recorded in schema_migrations
  const char* sql;          // may hold several statements; runs inside the setup transaction
};

/// Every migration, ascending by version. Never edit a released one: add the next.
const std::vector<Migration>& migrations();

/// The schema name as a quoted SQL identifier ("herald").
std::string quoted_schema(const std::string& schema);

/// Setup (blocking, on the caller's thread): connects with `options`, creates the schema if
/// missing and applies the pending migrations in one transaction holding a per-schema
/// pg_advisory_xact_lock (instances starting at once apply each migration once), creates
/// the epoch on first use, and returns it. Throws herald::Error with what to fix.
Epoch prepare_schema(const PostgresOptions& options);

}  // namespace herald::postgres::detail
