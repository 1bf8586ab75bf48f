#pragma once
// Small helpers over libpq shared by the backend: owning result handles, text parameters,
// the mapping of PostgreSQL errors onto herald's Errc, and parsing of text-format values.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include "herald/error.hpp"

namespace herald::postgres::detail {

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
/// An owned PGresult.
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
/// An owned PGconn (PQfinish closes its socket).
using PgConn = std::unique_ptr<PGconn, ConnDeleter>;

/// Text-format parameters of one statement; nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

/// The status of a failed result: connection-level and transient server errors (class 08,
/// 53, 57, 58, serialization failures and deadlocks, no SQLSTATE at all: a client-side
/// failure) are Errc::unavailable; data errors (class 22) invalid_argument; the rest internal.
Status result_status(const PGresult* result, const std::string& context);

/// True if the result reports success (command or rows).
bool result_ok(const PGresult* result) noexcept;

/// Drops the server's notices (e.g. "schema already exists, skipping") that libpq would
/// print to stderr: a library must not write to the host's stderr.
void silence_notices(PGconn* conn) noexcept;

/// libpq's last error message for `conn`, without its trailing newline.
std::string conn_error(const PGconn* conn);

/// Parsers of text-format values. Precondition: the value is not NULL.
std::int64_t get_i64(const PGresult* r, int row, int col) noexcept;
std::string get_text(const PGresult* r, int row, int col);
bool get_bool(const PGresult* r, int row, int col) noexcept;
bool is_null(const PGresult* r, int row, int col) noexcept;
/// Rows changed by an INSERT/UPDATE/DELETE (PQcmdTuples).
std::uint64_t affected(const PGresult* r) noexcept;

/// 64-bit ids and epochs are stored in `bigint`: the same bits, read as signed.
inline std::int64_t to_db(std::uint64_t v) noexcept { return static_cast<std::int64_t>(v); }
inline std::uint64_t from_db(std::int64_t v) noexcept { return static_cast<std::uint64_t>(v); }
/// A Seq bound as a bigint: seqs above INT64_MAX cannot exist, so larger bounds clamp.
std::int64_t clamp_seq(std::uint64_t seq) noexcept;

/// Builds a PostgreSQL array literal (a text-format array parameter) one element at a time:
/// `{"a","b\"c",NULL,42,t}`. Text is always quoted, so any byte string (JSON included) is
/// safe; NUL bytes are not allowed in PostgreSQL text at all.
class ArrayLiteral {
 public:
  ArrayLiteral() : text_("{") {}
  void add_text(std::string_view item);
  void add_int(std::int64_t item);
  void add_bool(bool item);
  void add_null();
  /// The literal; the builder is spent afterwards.
  std::string finish() &&;

 private:
  void separate();
  std::string text_;
};

/// A PostgreSQL array literal of bigints: {1,2,3}.
std::string bigint_array(const std::vector<std::uint64_t>& items);

}  // namespace herald::postgres::detail
