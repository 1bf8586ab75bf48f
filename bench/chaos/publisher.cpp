#include "publisher.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "inbox_client.hpp"

namespace herald::chaos {

namespace {

constexpr std::chrono::milliseconds kTick{5};
constexpr std::chrono::milliseconds kLate{100};
constexpr std::chrono::milliseconds kMaxRetryBackoff{2000};

// Worth another attempt: the server may take it later (5xx: store or Redis unavailable,
// shutting down; 408, 429). Any other answer would be the same again.
bool retryable(int status) {
  return status >= 500 || status == 408 || status == 429;
}

std::string body_for(std::int64_t k, std::size_t user) {
  const std::string n = std::to_string(k);
  return R"({"to":{"users":[")" + InboxClient::user_name(user) +
         R"("]},"type":"chaos","data":{"k":)" + n + R"(},"idempotencyKey":"chaos-)" + n + "\"}";
}

}  // namespace

Publisher::Publisher(asio::io_context& io, Ledger& ledger, HttpPool& http, PublisherOptions options,
                     std::uint32_t seed)
    : io_(io),
      ledger_(ledger),
      http_(http),
      options_(std::move(options)),
      rng_(seed),
      tick_timer_(io) {}

void Publisher::start(Clock::time_point start, Clock::time_point publish_until,
                      Clock::time_point retry_until) {
  start_ = start;
  publish_until_ = publish_until;
  retry_until_ = retry_until;
  tick();
}

// Starts every publish whose scheduled time (start + k / rate) has come.
void Publisher::tick() {
  const auto now = Clock::now();
  const double elapsed =
      std::chrono::duration<double>(std::min(now, publish_until_) - start_).count();
  const auto due = static_cast<std::uint64_t>(elapsed * options_.rate);
  for (; scheduled_ < due; ++scheduled_) {
    const auto at =
        start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                     static_cast<double>(scheduled_) / options_.rate));
    if (now - at > kLate) ++late_;
    auto job = std::make_shared<Job>();
    const std::size_t user = rng_() % options_.users;
    job->k = ledger_.add_publish(user);
    job->body = body_for(job->k, user);
    ++open_;
    attempt(job);
  }
  if (now >= publish_until_) {
    done_scheduling_ = true;
    return;
  }
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](asio::error_code e) {
    if (!e) tick();
  });
}

void Publisher::attempt(const std::shared_ptr<Job>& job) {
  if (Clock::now() >= retry_until_) {
    ledger_.on_given_up(job->k);
    return close(job);
  }
  if (http_.in_flight() >= options_.max_in_flight) {
    waiting_.push_back(job);
    return;
  }
  job->last_port = pick_port(job->last_port);
  http_.post(job->last_port, "/notify", job->body, [this, job](HttpResult r) {
    on_result(job, r);
    while (!waiting_.empty() && http_.in_flight() < options_.max_in_flight) {
      auto next = std::move(waiting_.front());
      waiting_.pop_front();
      attempt(next);
    }
  });
}

void Publisher::on_result(const std::shared_ptr<Job>& job, const HttpResult& r) {
  if (r.outcome == HttpResult::no_answer) {
    ledger_.on_attempt(job->k, Answer::no_answer);
    return retry_later(job);
  }
  if (r.outcome == HttpResult::not_sent) {
    ledger_.on_attempt(job->k, Answer::not_sent);
    return retry_later(job);
  }
  if (r.status == 202) {
    const auto answer = nlohmann::json::parse(r.body, nullptr, false);
    if (answer.is_object() && answer.contains("id") && answer["id"].is_string()) {
      const bool duplicate = answer.value("duplicate", false);
      ledger_.on_attempt(job->k, Answer::accepted, 202, answer["id"].get<std::string>(), duplicate);
      return close(job);
    }
  }
  ledger_.on_attempt(job->k, Answer::error, r.status);  // a 202 without an id counts here too
  if (retryable(r.status)) return retry_later(job);
  ledger_.on_given_up(job->k);
  close(job);
}

// After the job's backoff with ±50 % jitter, doubling up to kMaxRetryBackoff.
void Publisher::retry_later(const std::shared_ptr<Job>& job) {
  const auto wait =
      job->backoff / 2 + std::chrono::milliseconds(rng_() % (job->backoff.count() + 1));
  job->backoff = std::min(job->backoff * 2, kMaxRetryBackoff);
  auto timer = std::make_shared<asio::steady_timer>(io_, wait);
  timer->async_wait([this, job, timer](asio::error_code) { attempt(job); });
}

void Publisher::close(const std::shared_ptr<Job>&) {
  --open_;
}

// A random instance; another one than `avoid` (the last one tried) when there are several.
std::uint16_t Publisher::pick_port(std::uint16_t avoid) {
  const auto& ports = options_.ports;
  std::uint16_t port = ports[rng_() % ports.size()];
  for (int tries = 0; port == avoid && ports.size() > 1 && tries < 8; ++tries)
    port = ports[rng_() % ports.size()];
  return port;
}

}  // namespace herald::chaos
