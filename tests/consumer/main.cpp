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
#ifdef CONSUMER_WITH_REDIS
#include <herald/redis/redis.hpp>
#endif
#ifdef CONSUMER_WITH_POSTGRES
#include <herald/postgres/store.hpp>
#endif
#ifdef CONSUMER_WITH_SQLITE
#include <herald/sqlite/store.hpp>
#endif
#ifdef CONSUMER_WITH_JWT
#include <herald/jwt/jwt.hpp>
#endif

// The server backends need servers: here they only show that they link and report errors
// the documented way (herald::Error from their factories).
static bool backends_link(asio::io_context& io) {
  bool ok = true;
#ifdef CONSUMER_WITH_REDIS
  ok = ok && herald::redis::parse_redis_url("redis://127.0.0.1:6390/2").db == 2;
#endif
#ifdef CONSUMER_WITH_POSTGRES
  try {
    herald::postgres::PostgresOptions options;
    options.url = "postgresql://127.0.0.1:1/nothing-listens-here";
    herald::postgres::PostgresStore::create(io, options);
    ok = false;
  } catch (const herald::Error& e) {
    std::cout << "postgres: " << e.what() << "\n";
  }
#endif
#ifdef CONSUMER_WITH_SQLITE
  try {
    herald::sqlite::SqliteOptions options;
    options.path = "/nonexistent-herald-directory/herald.db";
    herald::sqlite::open_store(options);
    ok = false;
  } catch (const herald::Error& e) {
    std::cout << "sqlite: " << e.what() << "\n";
  }
#endif
#ifdef CONSUMER_WITH_JWT
  herald::jwt::JwtOptions jwt_options;
  jwt_options.hmac_secret = "consumer-secret-0123456789abcdef-0123";
  auto verifier = herald::jwt::JwtVerifier::create(jwt_options);
  ok = ok && !verifier->verify("not.a.token").ok();
#endif
  (void)io;
  return ok;
}

int main() {
  asio::io_context io;
  if (!backends_link(io)) return 1;
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
