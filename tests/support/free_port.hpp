#pragma once
// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0), for
// the private servers the tests start (redis-server, PostgreSQL, nginx). Another process may
// take it before the server binds: callers retry with another port when the start fails.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

namespace herald::test {

inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  sockaddr* sa = reinterpret_cast<sockaddr*>(&addr);
  const bool ok = fd >= 0 && ::bind(fd, sa, len) == 0 && ::getsockname(fd, sa, &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

}  // namespace herald::test
