#pragma once
// The only place that includes websocketpp. Its headers trigger warnings that herald's own
// warning set turns into errors, so they are included as system headers here.
//
// websocketpp runs with its iostream transport: the backend owns the sockets (Asio), feeds
// the bytes it read into a connection and collects what the connection writes through a
// write handler. Every call into a websocketpp connection happens on that connection's
// strand, so the configuration uses websocketpp's no-op concurrency policy.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#pragma GCC system_header

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/logger/stub.hpp>
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
  /// Bytes handed to the frame parser per step. An array inside every connection object:
  /// small, because idle sessions dominate memory (a 64 KiB message takes 256 steps).
  static const std::size_t connection_read_buffer_size = 256;
};

using WsEndpoint = websocketpp::server<WsConfig>;
using WsConnectionPtr = WsEndpoint::connection_ptr;
using WsMessagePtr = WsConfig::message_type::ptr;
using WsMessage = WsConfig::message_type;
using WsMsgManager = WsConfig::con_msg_manager_type;
using WsBuffer = websocketpp::transport::buffer;
using WsHandle = websocketpp::connection_hdl;
using WsErrorCode = websocketpp::lib::error_code;
namespace ws_close = websocketpp::close::status;
namespace ws_opcode = websocketpp::frame::opcode;

/// Frees what websocketpp keeps of the handshake once the session is open: the parsed
/// request and response (header maps) and the URI. websocketpp reads them after the
/// handshake only for user queries (get_request_header, get_uri, …), which the backend
/// does not make, and for logging, which is compiled out; our Handshake keeps the request.
/// `placeholder` replaces the URI (shared by every connection).
inline void release_handshake(const WsConnectionPtr& con, const websocketpp::uri_ptr& placeholder) {
  // The objects are members of the connection, not const: websocketpp only exposes them
  // through const accessors.
  const_cast<WsConfig::request_type&>(con->get_request()) = WsConfig::request_type();
  const_cast<WsConfig::response_type&>(con->get_response()) = WsConfig::response_type();
  con->set_uri(placeholder);
}

}  // namespace herald::websocket::detail
