// RedisStreamWriter (herald/redis/stream_writer.hpp): XADD over one pipelined Connection.
// Threading: add() posts onto the connection's strand, so entries keep the order of the calls.

#include <memory>  // standard headers first: Asio picks its allocator by what they define
#include <string>
#include <utility>

#include <asio/post.hpp>

#include "connection.hpp"
#include "herald/redis/stream_writer.hpp"

namespace herald::redis {
namespace {

class StreamWriterImpl final : public RedisStreamWriter {
 public:
  StreamWriterImpl(asio::io_context& io, StreamWriterOptions options)
      : options_(std::move(options)), strand_(asio::make_strand(io)) {
    if (options_.stream.empty())
      throw Error("redis stream writer: the stream name is empty (redis://host:port/<stream>)");
    conn_ = std::make_shared<Connection>(strand_, checked_endpoint(options_.redis),
                                         options_.redis, "events");
    asio::post(strand_, [conn = conn_] { conn->start({}); });
  }

  ~StreamWriterImpl() override {
    asio::post(strand_, [conn = conn_] { conn->stop(); });
  }

  void add(std::string field, std::string value, std::function<void(Status)> done) override {
    std::vector<std::string> args{"XADD", options_.stream};
    if (options_.max_length > 0) {
      args.insert(args.end(), {"MAXLEN", "~", std::to_string(options_.max_length)});
    }
    args.insert(args.end(), {"*", std::move(field), std::move(value)});
    asio::post(strand_, [conn = conn_, args = std::move(args), done = std::move(done)]() mutable {
      conn->command(std::move(args), [done = std::move(done)](Result<Reply> r) {
        if (!r.ok()) return done(r.status());
        if (r->is_error()) return done(Status(Errc::internal, "redis XADD: " + r->str));
        done(Status::ok_status());
      });
    });
  }

  bool connected() const override { return conn_->up(); }

 private:
  const StreamWriterOptions options_;
  Strand strand_;
  std::shared_ptr<Connection> conn_;
};

}  // namespace

std::shared_ptr<RedisStreamWriter> RedisStreamWriter::create(asio::io_context& io,
                                                             StreamWriterOptions options) {
  return std::make_shared<StreamWriterImpl>(io, std::move(options));
}

}  // namespace herald::redis
