#pragma once
// The only place that includes websocketpp. Its headers trigger warnings that herald's own
// warning set turns into errors, so they are included as system headers here.
//
// websocketpp parses client frames, on the connection's strand (so the configuration uses its
// no-op concurrency policy): a hybi13 processor per session (masking, fragmentation, control
// frames, UTF-8, the size limit). The server writes its own frames (frames.hpp) and answers
// the handshake itself (handshake.hpp) with websocketpp's SHA-1 and base64.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#pragma GCC system_header

#include <websocketpp/base64/base64.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/sha1/sha1.hpp>
#include <websocketpp/utf8_validator.hpp>

namespace herald::websocket::detail {

/// websocketpp configuration for the frame parser: no locks (one strand per connection), no
/// logging.
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

  static const bool enable_multithreading = false;
  static const websocketpp::log::level elog_level = websocketpp::log::elevel::none;
  static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;
};

using WsMessagePtr = WsConfig::message_type::ptr;
using WsMsgManager = WsConfig::con_msg_manager_type;
using WsErrorCode = websocketpp::lib::error_code;
namespace ws_close = websocketpp::close::status;
namespace ws_opcode = websocketpp::frame::opcode;

/// Parses one session's client frames.
using WsProcessor = websocketpp::processor::hybi13<WsConfig>;

}  // namespace herald::websocket::detail
