// WebSocket handshakes per second against herald-server, and the server's CPU per
// handshake, with development auth (?userId=), HS256 and RS256 user tokens (?token=).
// Starts one herald-server per mode (keys made here, tokens signed with libjwt), runs
// `clients` threads that each connect, upgrade, wait for the welcome frame and close, until
// `handshakes` are done (bounded: every socket has a 5 s timeout). Prints figures only.
// Usage: herald_handshake_bench SERVER_BINARY [handshakes] [clients]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jwt_keys.hpp"  // backends/jwt/tests: key generation and signing

namespace {

using Clock = std::chrono::steady_clock;
namespace jt = herald::jwt::test;

std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int connect_to(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One handshake: upgrade with `query`, read until the welcome frame arrived.
bool handshake(std::uint16_t port, const std::string& query) {
  const int fd = connect_to(port);
  if (fd < 0) return false;
  const std::string req = "GET /ws?" + query +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
  bool ok = send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  std::string in;
  char buf[4096];
  while (ok && in.find("\"welcome\"") == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) ok = false;
    else in.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return ok;
}

double server_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  std::istringstream rest(all.substr(all.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int start_server(const std::string& binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary);
  const int pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

void stop_server(int pid) {
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

// Runs `total` handshakes from `clients` threads; query(i) is the i-th one's query.
void run(const char* name, const std::string& binary, const std::vector<std::string>& flags,
         std::size_t total, std::size_t clients,
         const std::function<std::string(std::size_t)>& query) {
  const std::uint16_t port = free_port();
  std::vector<std::string> args = flags;
  for (std::string a : {std::string("--port"), std::to_string(port), std::string("--log-level"),
                        std::string("warn"), std::string("--rate-limit"), std::string("0"),
                        std::string("--store"), std::string("memory")})
    args.push_back(std::move(a));
  const int pid = start_server(binary, args);
  for (int i = 0; i < 100; ++i) {  // up to 10 s for it to listen
    const int fd = connect_to(port);
    if (fd >= 0) {
      close(fd);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::atomic<std::size_t> next{0}, ok{0};
  const double cpu0 = server_cpu_seconds(pid);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < total; i = next++) ok += handshake(port, query(i));
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = server_cpu_seconds(pid) - cpu0;
  stop_server(pid);
  std::printf("%-9s %6zu handshakes (%zu welcomed) in %.3f s = %7.0f/s, server CPU %.1f us each\n",
              name, total, ok.load(), secs, static_cast<double>(total) / secs,
              1e6 * cpu / static_cast<double>(total));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: %s SERVER_BINARY [handshakes] [clients]\n", argv[0]), 2;
  const std::string binary = argv[1];
  const std::size_t total = argc > 2 ? std::stoul(argv[2]) : 5'000;
  const std::size_t clients = argc > 3 ? std::stoul(argv[3]) : 8;

  jt::TempDir dir;
  const std::string secret(40, 'k');
  const auto rsa = jt::generate("RSA");
  const std::string pem = dir.write("rsa.pem", rsa.public_pem);
  std::vector<std::string> hs, rs;
  for (std::size_t i = 0; i < total; ++i) {
    const jt::json claims = {{"sub", "u" + std::to_string(i)}, {"exp", jt::now_s() + 3600}};
    hs.push_back(jt::sign(JWT_ALG_HS256, secret, claims));
    rs.push_back(jt::sign(JWT_ALG_RS256, rsa.private_pem, claims));
  }
  const std::vector<std::string> jwt_flags = {"--jwt-secret", secret, "--jwt-public-key", pem};
  run("dev-auth", binary, {"--dev-auth"}, total, clients,
      [](std::size_t i) { return "userId=u" + std::to_string(i); });
  run("HS256", binary, jwt_flags, total, clients, [&](std::size_t i) { return "token=" + hs[i]; });
  run("RS256", binary, jwt_flags, total, clients, [&](std::size_t i) { return "token=" + rs[i]; });
}
