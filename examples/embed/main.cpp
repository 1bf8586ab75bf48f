// Embeds herald in an existing Asio application: in-memory backends, a publish, and a
// client on the in-process transport that receives it. Build target: herald_embed.
#include <iostream>  // standard headers first: Asio picks its allocator by what they define

#include <asio.hpp>
#include <herald/herald.hpp>

int main() {
  asio::io_context io;  // the host's event loop
  auto executor = herald::make_asio_executor(io);
  herald::InProcTransport transport;
  herald::Backends backends;
  backends.store = herald::MemoryStore::create();
  backends.registry = herald::MemoryRegistry::create();
  backends.broker = herald::MemoryBrokerHub::create()->make_broker(executor);
  backends.transports = {&transport};
  herald::Engine engine(executor, std::move(backends));

  engine.start([&](herald::Status started) {
    if (!started.ok()) return std::cerr << started.message() << "\n", io.stop();
    auto client = transport.connect({"/ws", {{"userId", "alice"}}, {}, "in-process"});
    client->on_frame([&](const std::string& frame) {
      std::cout << "alice <- " << frame << "\n";
      if (frame.find("\"notification\"") != std::string::npos) engine.shutdown([&] { io.stop(); });
    });
    herald::PublishRequest hello;
    hello.target = herald::Target::to_users({"alice"});
    hello.type = "greeting";
    hello.data = R"({"text":"hello from herald"})";
    engine.publish(hello, [](herald::Result<herald::PublishResult> r) {
      std::cout << "published: " << (r.ok() ? std::to_string(r->id) : r.status().message()) << "\n";
    });
  });
  io.run();
}
