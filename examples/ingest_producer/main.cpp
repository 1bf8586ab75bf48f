// A producer for herald's durable ingest: one XADD of a publish request to a Redis Stream
// that herald-server consumes with `--ingest redis://host:port/stream`.
//
//   herald-ingest-producer [host] [port] [stream] [body]
//   herald-ingest-producer 127.0.0.1 6379 notifications '{"to":{"users":["alice"]},"type":"t","data":{}}'
//
// Once XADD answered, the request is durable as far as Redis is (AOF with appendfsync
// always: on disk); herald stores it exactly once even across its own restarts.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <hiredis/hiredis.h>

int main(int argc, char** argv) {
  const char* host = argc > 1 ? argv[1] : "127.0.0.1";
  const int port = argc > 2 ? std::atoi(argv[2]) : 6379;
  const std::string stream = argc > 3 ? argv[3] : "notifications";
  const std::string body =
      argc > 4 ? argv[4] : R"({"to":{"users":["alice"]},"type":"greeting","data":{"text":"hi"}})";

  redisContext* c = redisConnect(host, port);
  if (!c || c->err) {
    std::fprintf(stderr, "cannot connect to %s:%d: %s\n", host, port, c ? c->errstr : "no memory");
    return 1;
  }
  // The body goes in the field `body` (IngestOptions::body_field); '*': Redis picks the id.
  auto* reply = static_cast<redisReply*>(
      redisCommand(c, "XADD %b * body %b", stream.data(), stream.size(), body.data(), body.size()));
  int rc = 0;
  if (!reply || reply->type != REDIS_REPLY_STRING) {
    std::fprintf(stderr, "XADD failed: %s\n",
                 reply ? reply->str : (c->err ? c->errstr : "no reply"));
    rc = 1;
  } else {
    std::printf("%s\n", reply->str);  // the entry id: the idempotency key herald uses
  }
  if (reply) freeReplyObject(reply);
  redisFree(c);
  return rc;
}
