#pragma once
// A blocking Redis client for tests (hiredis' synchronous API): replies as JSON values
// (string, integer, array, null; an error reply is {"error": message}).
//
//   RedisClient r(redis.port());
//   r.command({"XADD", "s", "*", "body", "{}"});
//   r.pipeline(commands);  // many commands, one round trip per batch
//   r.command({"PSUBSCRIBE", "herald:*"}); r.receive(seconds(10));  // the next message

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

namespace herald::test {

class RedisClient {
 public:
  explicit RedisClient(std::uint16_t port) {
    context_ = redisConnect("127.0.0.1", port);
    REQUIRE_MESSAGE((context_ && !context_->err),
                    "cannot connect to redis: " << (context_ ? context_->errstr : "no memory"));
  }
  ~RedisClient() {
    if (context_) redisFree(context_);
  }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  nlohmann::json command(const std::vector<std::string>& args) {
    append(args);
    return reply();
  }

  /// Sends every command, then reads every reply; REQUIREs that none is an error.
  void pipeline(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& c : commands) append(c);
    for (std::size_t i = 0; i < commands.size(); ++i) {
      nlohmann::json r = reply();
      REQUIRE_MESSAGE(!(r.is_object() && r.contains("error")), r.dump());
    }
  }

  /// The next reply pushed by the server (a subscriber's messages), waiting at most
  /// `timeout`: a test that waits for a message fails instead of hanging. The timeout stays
  /// set for this client's later replies.
  nlohmann::json receive(std::chrono::milliseconds timeout) {
    const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                     static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    REQUIRE(redisSetTimeout(context_, tv) == REDIS_OK);
    return reply();
  }

 private:
  void append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    redisAppendCommandArgv(context_, static_cast<int>(args.size()), argv.data(), lengths.data());
  }

  nlohmann::json reply() {
    void* raw = nullptr;
    REQUIRE_MESSAGE(redisGetReply(context_, &raw) == REDIS_OK, "redis: " << context_->errstr);
    auto* r = static_cast<redisReply*>(raw);
    nlohmann::json out = convert(r);
    freeReplyObject(r);
    return out;
  }

  static nlohmann::json convert(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
        return std::string(r->str, r->len);
      case REDIS_REPLY_ERROR:
        return {{"error", std::string(r->str, r->len)}};
      case REDIS_REPLY_INTEGER:
        return r->integer;
      case REDIS_REPLY_ARRAY: {
        nlohmann::json a = nlohmann::json::array();
        for (std::size_t i = 0; i < r->elements; ++i) a.push_back(convert(r->element[i]));
        return a;
      }
      default:
        return nullptr;
    }
  }

  redisContext* context_ = nullptr;
};

}  // namespace herald::test
