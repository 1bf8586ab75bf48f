#include "inbox_client.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace herald::chaos {

using asio::ip::tcp;
using json = nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kMaxReconnectBackoff{1000};
// The server pings every 25 s: a connection silent for longer than this is dead.
constexpr std::chrono::seconds kIdle{60};

std::string string_field(const json& f, const char* name) {
  const auto it = f.find(name);
  return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::uint64_t unsigned_field(const json& f, const char* name) {
  const auto it = f.find(name);
  return it != f.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

}  // namespace

InboxClient::InboxClient(asio::io_context& io, Ledger& ledger, std::size_t user, ClientSetup setup,
                         asio::ip::address source, std::uint32_t seed)
    : io_(io),
      ledger_(ledger),
      user_(user),
      stream_("inbox:" + user_name(user)),
      setup_(std::move(setup)),
      source_(source),
      rng_(seed),
      retry_timer_(io),
      idle_timer_(io),
      buffer_(16384) {}

void InboxClient::start(std::chrono::milliseconds spread) {
  retry_timer_.expires_after(std::chrono::milliseconds(rng_() % (spread.count() + 1)));
  retry_timer_.async_wait([self = shared_from_this()](asio::error_code e) {
    if (!e && !self->stopped_) self->connect();
  });
}

void InboxClient::stop() {
  stopped_ = true;
  welcomed_ = false;
  retry_timer_.cancel();
  idle_timer_.cancel();
  asio::error_code ignored;
  if (socket_) socket_->close(ignored);
}

void InboxClient::connect() {
  ++generation_;
  in_.clear();
  writes_.clear();
  socket_ = std::make_unique<Socket>(io_);
  asio::error_code ec;
  socket_->open(tcp::v4(), ec);
  if (!ec) socket_->bind(tcp::endpoint(source_, 0), ec);
  if (ec) return drop(kNotConnected);
  port_ = setup_.ports[rng_() % setup_.ports.size()];
  const tcp::endpoint to(asio::ip::address_v4::loopback(), port_);
  arm_idle_timer();  // bounds the connect and the handshake too
  socket_->async_connect(to, [self = shared_from_this(), gen = generation_](asio::error_code e) {
    if (self->stale(gen)) return;
    if (e) return self->drop(kNotConnected);
    self->handshake();
  });
}

// GET /ws?userId=…&since=<highest seq received>[&epoch=…]: the session continues after it.
// Resuming from the cursor (or new): no since, the server continues after its ack cursor.
void InboxClient::handshake() {
  const Position at = ledger_.position(user_);
  std::string target = "/ws?userId=" + user_name(user_);
  asked_since_.reset();
  if (!setup_.resume_from_cursor && !at.epoch.empty()) {
    target += "&since=" + std::to_string(at.seq) + "&epoch=" + at.epoch;
    asked_since_ = at.seq;
  }
  send(-1, herald::bench::ws_upgrade_request(target));
  asio::async_read_until(
      *socket_, asio::dynamic_buffer(in_), "\r\n\r\n",
      [self = shared_from_this(), gen = generation_](asio::error_code e, std::size_t n) {
        if (self->stale(gen)) return;
        if (e || self->in_.compare(0, 12, "HTTP/1.1 101") != 0) return self->drop(kNotConnected);
        self->in_.erase(0, n);
        self->consume();
      });
}

void InboxClient::read() {
  socket_->async_read_some(asio::buffer(buffer_), [self = shared_from_this(), gen = generation_](
                                                      asio::error_code e, std::size_t n) {
    if (self->stale(gen)) return;
    if (e) return self->drop(1006);
    self->in_.append(self->buffer_.data(), n);
    self->arm_idle_timer();
    self->consume();
  });
}

// Handles every whole frame in in_, then reads more (unless a close frame ended it).
void InboxClient::consume() {
  std::size_t used = 0;
  const unsigned gen = generation_;
  while (auto frame = herald::bench::next_server_frame(std::string_view(in_).substr(used))) {
    used += frame->size;
    if (frame->opcode == herald::bench::kWsText) on_text(frame->payload);
    if (frame->opcode == herald::bench::kWsPing) send(herald::bench::kWsPong, frame->payload);
    if (frame->opcode == herald::bench::kWsClose) {
      const auto& p = frame->payload;
      const int code =
          p.size() >= 2 ? (static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1])
                        : 1005;
      return drop(code);
    }
    if (stale(gen)) return;
  }
  in_.erase(0, used);
  read();
}

void InboxClient::on_text(std::string_view text) {
  const json f = json::parse(text, nullptr, false);
  const std::string op = f.is_object() ? string_field(f, "op") : std::string();
  if (op == "notification") {
    const auto data = f.find("data");
    std::int64_t k = -1;
    if (data != f.end() && data->is_object() && data->contains("k") && (*data)["k"].is_number())
      k = (*data)["k"].get<std::int64_t>();
    const std::uint64_t attempt = unsigned_field(f, "attempt");
    on_notification(string_field(f, "stream"), unsigned_field(f, "seq"), string_field(f, "epoch"),
                    string_field(f, "id"), attempt == 0 ? 1 : static_cast<int>(attempt), k);
  } else if (op == "welcome") {
    welcomed_ = true;
    backoff_ = std::chrono::milliseconds(50);
    ledger_.on_welcome(user_, string_field(f, "epoch"), unsigned_field(f, "cursor"), asked_since_);
  } else if (op == "reset" && string_field(f, "stream") == stream_) {
    ledger_.on_reset(user_, string_field(f, "epoch"), unsigned_field(f, "head"));
  } else if (op == "error" || op.empty()) {
    ledger_.on_error_frame();
  }
}

void InboxClient::on_notification(const std::string& stream, std::uint64_t seq,
                                  const std::string& epoch, const std::string& id, int attempt,
                                  std::int64_t k) {
  if (stream != stream_) return;  // topic:$broadcast: nothing is broadcast in this run
  ledger_.on_notification(user_, Delivery{seq, epoch, id, attempt, k});
  // Cumulative: everything up to the highest seq received (after a redelivery too, in case
  // the earlier ack was lost with its connection).
  const std::uint64_t upto = ledger_.position(user_).seq;
  send(herald::bench::kWsText, R"({"op":"ack","seq":)" + std::to_string(upto) + "}");
  ledger_.on_ack(user_, upto);
}

// opcode -1: raw bytes (the upgrade request).
void InboxClient::send(int opcode, std::string_view payload) {
  writes_.push_back(std::make_shared<const std::string>(
      opcode < 0 ? std::string(payload) : herald::bench::client_frame(opcode, payload)));
  if (writes_.size() == 1) write_next();
}

void InboxClient::write_next() {
  auto bytes = writes_.front();
  asio::async_write(
      *socket_, asio::buffer(*bytes),
      [self = shared_from_this(), gen = generation_, bytes](asio::error_code e, std::size_t) {
        if (self->stale(gen)) return;
        if (e) return self->drop(1006);
        self->writes_.pop_front();
        if (!self->writes_.empty()) self->write_next();
      });
}

// The connection ended (`close_code`: the server's close frame, 1006 when it broke,
// kNotConnected when no session was opened): reconnect after the backoff, with ±50 % jitter.
void InboxClient::drop(int close_code) {
  ledger_.on_close(close_code);
  ++generation_;
  welcomed_ = false;
  asio::error_code ignored;
  if (socket_) socket_->close(ignored);
  idle_timer_.cancel();
  const auto jittered = backoff_ / 2 + std::chrono::milliseconds(rng_() % (backoff_.count() + 1));
  backoff_ = std::min(backoff_ * 2, kMaxReconnectBackoff);
  retry_timer_.expires_after(jittered);
  retry_timer_.async_wait([self = shared_from_this()](asio::error_code e) {
    if (!e && !self->stopped_) self->connect();
  });
}

void InboxClient::arm_idle_timer() {
  idle_timer_.expires_after(kIdle);
  idle_timer_.async_wait([self = shared_from_this(), gen = generation_](asio::error_code e) {
    if (!e && !self->stale(gen)) self->drop(1006);
  });
}

}  // namespace herald::chaos
