#pragma once
// herald-server's logs: one line per event, key=value (logfmt), on stderr:
//   ts=2026-11-21T12:00:00.123Z level=info event=listening addr=127.0.0.1:8080 port=8080
// Values with spaces, quotes or '=' are quoted (quote()). Levels: trace|debug|info|warn|error.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace herald::server {

/// The spdlog level for a --log-level value; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

/// Installs the default logger: stderr, logfmt pattern, UTC timestamps, `level`.
void setup_logging(spdlog::level::level_enum level);

/// `value` as a logfmt value: as is when it is a plain token, else double-quoted with `"` and
/// `\` escaped and control characters replaced by spaces.
std::string quote(std::string_view value);

/// The access log: a request answered with `status`, `start` being when it arrived. 5xx at
/// warn, the rest at debug (off by default: then this costs one level check).
void log_request(std::string_view method, std::string_view path, std::string_view remote,
                 int status, std::chrono::steady_clock::time_point start);

}  // namespace herald::server
