#pragma once
// A private nginx for tests: a reverse proxy on a free loopback port in front of herald
// instances, configured with docs/deploy/nginx.conf (HERALD_NGINX_CONF) as documented: an
// `ip_hash` sticky upstream as in seed 000, WebSocket upgrade headers passed through. Its configuration, logs and temporary files live in a temporary
// directory; it runs in the foreground and is stopped by its PID.

#include <sys/stat.h>
#include <unistd.h>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "support/child_process.hpp"
#include "support/free_port.hpp"

namespace herald::test {

class Nginx {
 public:
  /// Proxies 127.0.0.1:port() to the herald instances on `upstream_ports`.
  explicit Nginx(const std::vector<std::uint16_t>& upstream_ports) {
    char dir[] = "/tmp/herald-nginx-XXXXXX";
    REQUIRE_MESSAGE(::mkdtemp(dir) != nullptr, "cannot create a temporary directory");
    dir_ = dir;
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_port();
      write_config(upstream_ports);
      process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
          "/usr/sbin/nginx", "-p", dir_ + "/", "-c", dir_ + "/nginx.conf", "-e",
          dir_ + "/error.log"});
      // nginx says nothing on success: it is ready once its pid file exists.
      if (!wait_pid_file()) process_.reset();
    }
    REQUIRE_MESSAGE(process_ != nullptr, "nginx did not start: " << error_log());
  }
  ~Nginx() {
    if (process_) process_->stop(SIGQUIT, ChildProcess::Millis(5000));
    process_.reset();
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  std::uint16_t port() const { return port_; }

  std::string error_log() const {
    std::ifstream in(dir_ + "/error.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  // The main file holds what a private nginx needs (foreground, files in dir_); the http
  // context is docs/deploy/nginx.conf, the documented configuration, with only its listen
  // address and its upstream servers replaced.
  void write_config(const std::vector<std::uint16_t>& upstream_ports) {
    std::ifstream in(HERALD_NGINX_CONF);
    REQUIRE_MESSAGE(in, "cannot read " << HERALD_NGINX_CONF);
    std::string servers;
    for (std::uint16_t p : upstream_ports) servers += "    server 127.0.0.1:" + std::to_string(p) + ";\n";
    std::string site, line;
    bool servers_written = false;
    while (std::getline(in, line)) {
      const std::string code = line.substr(0, line.find('#'));
      if (code.find("server 127.0.0.1:") != std::string::npos) {
        if (!servers_written) site += servers;
        servers_written = true;
      } else if (code.find("listen ") != std::string::npos) {
        site += "    listen 127.0.0.1:" + std::to_string(port_) + ";\n";
      } else {
        site += line + "\n";
      }
    }
    REQUIRE_MESSAGE(servers_written, HERALD_NGINX_CONF << " has no upstream server lines");
    std::ofstream(dir_ + "/herald.conf") << site;
    std::ofstream conf(dir_ + "/nginx.conf");
    conf << "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root;\n"
         << "pid " << dir_ << "/nginx.pid;\nerror_log " << dir_ << "/error.log warn;\n"
         << "events { worker_connections 1024; }\n"
         << "http {\n  access_log off;\n"
         << "  client_body_temp_path " << dir_ << "/body;\n"
         << "  proxy_temp_path " << dir_ << "/proxy;\n"
         << "  fastcgi_temp_path " << dir_ << "/fastcgi;\n"
         << "  uwsgi_temp_path " << dir_ << "/uwsgi;\n"
         << "  scgi_temp_path " << dir_ << "/scgi;\n"
         << "  include " << dir_ << "/herald.conf;\n}\n";
  }

  // nginx writes its pid file after it opened its listening socket. It prints nothing on
  // success, so there is no output to wait for: poll the file (bounded).
  bool wait_pid_file() {
    const std::string pid_file = dir_ + "/nginx.pid";
    for (int i = 0; i < 500 && process_->running(); ++i) {
      if (::access(pid_file.c_str(), F_OK) == 0) return true;
      std::this_thread::sleep_for(ChildProcess::Millis(10));
    }
    return false;
  }

  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace herald::test
