// A host program on herald's installed packages (scripts/check-install.sh): herald::websocket
// serves HTTP on a free loopback port for an engine on the host's io_context; a client thread
// asks it one request over a real socket, then the engine shuts down.
#include <iostream>
#include <string>
#include <thread>

#include <asio.hpp>
#include <herald/herald.hpp>
#ifdef CONSUMER_WITH_WEBSOCKET
#include <herald/websocket/server.hpp>
#endif

int main() {
  asio::io_context io;
  auto executor = herald::make_asio_executor(io);
  herald::Backends backends;
  backends.store = herald::MemoryStore::create();
  backends.registry = herald::MemoryRegistry::create();
  backends.broker = herald::MemoryBrokerHub::create()->make_broker(executor);
  std::string expected = "herald " + std::string(herald::version());
  std::string reply = expected;
#ifdef CONSUMER_WITH_WEBSOCKET
  namespace ws = herald::websocket;
  ws::ServerOptions options;
  options.port = 0;  // any free port
  auto server = ws::Server::create(io, options, [](ws::HttpRequest request, auto respond) {
    respond({200, "text/plain", "hello " + request.path, {}});
  });
  backends.transports = {server.get()};
  expected = "hello /ping";
  reply.clear();
#endif
  herald::Engine engine(executor, std::move(backends));

  std::thread client;
  engine.start([&](herald::Status started) {
    if (!started.ok()) return std::cerr << started.message() << "\n", io.stop();
    auto stop = [&] { engine.shutdown([&] { io.stop(); }); };
#ifdef CONSUMER_WITH_WEBSOCKET
    std::cout << "herald " << herald::version() << " on 127.0.0.1:" << server->port() << "\n";
    client = std::thread([&, stop, port = server->port()] {
      asio::io_context client_io;
      asio::ip::tcp::socket socket(client_io);
      socket.connect({asio::ip::make_address("127.0.0.1"), port});
      asio::write(socket,
                  asio::buffer(std::string(
                      "GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")));
      asio::error_code eof;
      asio::read(socket, asio::dynamic_buffer(reply), eof);
      stop();
    });
#else
    stop();
#endif
  });
  io.run();
  if (client.joinable()) client.join();
  std::cout << reply.substr(0, reply.find('\r')) << "\n";
  return reply.find(expected) != std::string::npos ? 0 : 1;
}
