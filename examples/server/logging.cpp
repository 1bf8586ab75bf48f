// logfmt logging on spdlog.

#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <iterator>
#include <memory>

namespace herald::server {

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return std::nullopt;
}

namespace {

// %L: the level as the --log-level flag spells it ("warn", not spdlog's "warning").
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn",
                                                  "error", "fatal", "off"};
    const auto i = static_cast<std::size_t>(msg.level);
    const std::string_view name = i < std::size(kNames) ? kNames[i] : "unknown";
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

}  // namespace

void setup_logging(spdlog::level::level_enum level) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<LevelFlag>('L').set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%L %v");
  auto logger = spdlog::stderr_logger_mt("herald");
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // one line per event, visible at once
  spdlog::set_default_logger(std::move(logger));
}

std::string quote(std::string_view value) {
  const bool plain =
      !value.empty() && value.find_first_of(" \"=\\\t\r\n") == std::string_view::npos;
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out + '"';
}

void log_request(std::string_view method, std::string_view path, std::string_view remote,
                 int status, std::chrono::steady_clock::time_point start) {
  const auto level = status >= 500 ? spdlog::level::warn : spdlog::level::debug;
  if (!spdlog::should_log(level)) return;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::log(level, "event=http method={} path={} status={} us={} remote={}", method, quote(path),
              status, us, quote(remote));
}

}  // namespace herald::server
