#pragma once
// The only place that includes websocketpp. Its headers trigger warnings that herald's own
// warning set turns into errors, so they are included as system headers here.
//
// websocketpp does two jobs, both on the connection's strand (so the configuration uses its
// no-op concurrency policy):
// - the handshake: a websocketpp connection with its iostream transport reads the upgrade
//   request we feed it and writes the 101 (or an error) through a write handler; it is
//   released as soon as the session is open;
// - parsing client frames: a hybi13 processor per session (masking, fragmentation, control
//   frames, UTF-8, the size limit). The server writes its own frames (frames.hpp).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#pragma GCC system_header

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/server.hpp>
#include <websocketpp/utf8_validator.hpp>

namespace herald::websocket::detail {

/// websocketpp configuration: iostream transport, no locks (one strand per connection), no
/// logging, a small per-connection read buffer (bytes are fed in pieces anyway).
struct WsConfig : websocketpp::config::core {
  using type = WsConfig;
  using base = websocketpp::config::core;

  using concurrency_type = websocketpp::concurrency::none;
  using request_type = base::request_type;
  using response_type = base::response_type;
  using message_type = base::message_type;
  using con_msg_manager_type = base::con_msg_manager_type;
  using endpoint_msg_manager_type = base::endpoint_msg_manager_type;
  using alog_type = websocketpp::log::stub;
  using elog_type = websocketpp::log::stub;
  using rng_type = base::rng_type;

  struct transport_config : base::transport_config {
    using concurrency_type = type::concurrency_type;
    using alog_type = type::alog_type;
    using elog_type = type::elog_type;
    using request_type = type::request_type;
    using response_type = type::response_type;
    static const bool enable_multithreading = false;
  };
  using transport_type = websocketpp::transport::iostream::endpoint<transport_config>;

  static const bool enable_multithreading = false;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
  /// Bytes handed to the parser per step. An array inside every connection object, which
  /// lives only for the handshake (the request we feed it is a few hundred bytes).
  static const std::size_t connection_read_buffer_size = 256;
};

}  // namespace herald::websocket::detail

namespace websocketpp {
/// websocketpp writes an access-log line for every handshake it completes: a stringstream,
/// a locale and the request's headers searched again (~22,000 instructions per connection,
/// callgrind), built before the logger is asked, and the logger here is a stub that drops
/// it (alog_level none). For herald's configuration there is nothing to build.
template <>
inline void connection<herald::websocket::detail::WsConfig>::log_open_result() {}
}  // namespace websocketpp

namespace herald::websocket::detail {

using WsEndpoint = websocketpp::server<WsConfig>;
using WsConnectionPtr = WsEndpoint::connection_ptr;
using WsMessagePtr = WsConfig::message_type::ptr;
using WsMsgManager = WsConfig::con_msg_manager_type;
using WsBuffer = websocketpp::transport::buffer;
using WsHandle = websocketpp::connection_hdl;
using WsErrorCode = websocketpp::lib::error_code;
namespace ws_close = websocketpp::close::status;
namespace ws_opcode = websocketpp::frame::opcode;

/// Parses one session's client frames.
using WsProcessor = websocketpp::processor::hybi13<WsConfig>;

}  // namespace herald::websocket::detail
