#include "libpq.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace herald::postgres::detail {

namespace {

// SQLSTATEs after which the same request may succeed later unchanged.
bool transient(const std::string& state) {
  const std::string cls = state.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "58" || state == "40001" ||
         state == "40P01" || state == "55P03";
}

// libpq's multi-line message on one line (it ends up in logs and JSON error bodies).
std::string trimmed(const char* message) {
  std::string out;
  for (const char* p = message ? message : ""; *p != '\0'; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : *p;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

bool result_ok(const PGresult* result) noexcept {
  const ExecStatusType s = PQresultStatus(result);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

Status result_status(const PGresult* result, const std::string& context) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string message = trimmed(PQresultErrorMessage(result));
  if (message.empty()) message = PQresStatus(PQresultStatus(result));
  message = "postgres: " + context + ": " + message;
  if (state == nullptr || transient(state)) return Status(Errc::unavailable, message);
  if (std::strncmp(state, "22", 2) == 0) return Status(Errc::invalid_argument, message);
  return Status(Errc::internal, message);
}

void silence_notices(PGconn* conn) noexcept {
  if (conn) PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
}

std::string conn_error(const PGconn* conn) {
  return conn ? trimmed(PQerrorMessage(conn)) : "out of memory";
}

std::int64_t get_i64(const PGresult* r, int row, int col) noexcept {
  const char* text = PQgetvalue(r, row, col);
  std::int64_t v = 0;
  std::from_chars(text, text + PQgetlength(r, row, col), v);
  return v;
}

std::string get_text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

bool get_bool(const PGresult* r, int row, int col) noexcept {
  return PQgetvalue(r, row, col)[0] == 't';
}

bool is_null(const PGresult* r, int row, int col) noexcept {
  return PQgetisnull(r, row, col) != 0;
}

std::uint64_t affected(const PGresult* r) noexcept {
  const char* text = PQcmdTuples(const_cast<PGresult*>(r));
  std::uint64_t v = 0;
  std::from_chars(text, text + std::strlen(text), v);
  return v;
}

std::int64_t clamp_seq(std::uint64_t seq) noexcept {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(seq > kMax ? kMax : seq);
}

void ArrayLiteral::separate() {
  if (text_.size() > 1) text_ += ',';
}

void ArrayLiteral::add_text(std::string_view item) {
  separate();
  text_ += '"';
  for (char ch : item) {
    if (ch == '"' || ch == '\\') text_ += '\\';
    text_ += ch;
  }
  text_ += '"';
}

void ArrayLiteral::add_int(std::int64_t item) {
  separate();
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, item).ptr;
  text_.append(buffer, end);
}

void ArrayLiteral::add_bool(bool item) {
  separate();
  text_ += item ? 't' : 'f';
}

void ArrayLiteral::add_null() {
  separate();
  text_ += "NULL";
}

std::string ArrayLiteral::finish() && {
  text_ += '}';
  return std::move(text_);
}

std::string bigint_array(const std::vector<std::uint64_t>& items) {
  ArrayLiteral out;
  for (std::uint64_t item : items) out.add_int(clamp_seq(item));
  return std::move(out).finish();
}

}  // namespace herald::postgres::detail
