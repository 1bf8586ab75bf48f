#include "pg_server.hpp"
#include "support/free_port.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HERALD_PG_TEMPLATE_DIR
#error "HERALD_PG_TEMPLATE_DIR must name the per-build template data directory"
#endif

namespace herald::postgres::test {
namespace {

namespace fs = std::filesystem;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int run_shell(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    if (output) output->append(buffer, n);
  }
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool is_root() {
  return ::geteuid() == 0;
}

// The directory of the newest installed server binaries.
std::string find_bindir() {
  if (const char* env = std::getenv("HERALD_PG_BINDIR")) return env;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "initdb")) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) {
    throw std::runtime_error(
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (install the Debian "
        "package `postgresql`, or set HERALD_PG_BINDIR)");
  }
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) <
           std::stoi(b.parent_path().filename().string());
  });
  return found.back().string();
}

// A new directory in /tmp, owned by the user the server runs as.
std::string make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "herald-pg-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  if (is_root()) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw) throw std::runtime_error("running as root but there is no `postgres` OS user");
    if (::chown(pattern.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot chown " + pattern + " to postgres");
    }
  }
  return pattern;
}

// The per-build template data directory, made by initdb once; concurrent test processes
// (ctest -j) serialise on a lock file and the first one makes it.
void ensure_template(const std::string& bindir) {
  const std::string tmpl = HERALD_PG_TEMPLATE_DIR;
  const int lock = ::open((tmpl + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    throw std::runtime_error("cannot lock " + tmpl + ".lock");
  }
  std::string error;
  if (!fs::exists(tmpl + "/PG_VERSION")) {
    const std::string work = make_temp_dir();
    std::string out;
    if (run_as_postgres(bindir + "/initdb -A trust -U postgres -N -E UTF8 --locale=C -D " +
                            quote(work + "/data"),
                        &out) != 0) {
      error = "initdb failed:\n" + out;
    } else if (run_shell("rm -rf " + quote(tmpl) + " && cp -a " + quote(work + "/data") + " " +
                             quote(tmpl),
                         &out) != 0) {
      error = "cannot copy the template data directory:\n" + out;
    }
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  ::close(lock);
  if (!error.empty()) throw std::runtime_error(error);
}

}  // namespace

int run_as_postgres(const std::string& command, std::string* output) {
  return run_shell(is_root() ? "runuser -u postgres -- sh -c " + quote(command) : command, output);
}

PgServer::PgServer(PgServerOptions options)
    : options_(std::move(options)), bindir_(find_bindir()) {
  ensure_template(bindir_);
  dir_ = make_temp_dir();
  std::string out;
  if (run_as_postgres("cp -a " + quote(HERALD_PG_TEMPLATE_DIR) + " " + quote(dir_ + "/data"),
                      &out) != 0) {
    throw std::runtime_error("cannot copy the template data directory:\n" + out);
  }
  // A port found free may be taken before the server binds it: try a few.
  for (int attempt = 0; attempt < 3 && !running_; ++attempt) {
    port_ = herald::test::free_port();
    running_ = try_start();
  }
  if (!running_) {
    throw std::runtime_error("the test PostgreSQL server did not start; its log:\n" + log_tail());
  }
  start_watchdog();
}

// Forks a process that waits for the end of a pipe only this process holds open: when we
// exit, however we exit, it stops the server (if still running) and removes the directory.
// Runs before the tests start any thread. Best effort: without it, a crash leaks a server.
void PgServer::start_watchdog() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[1]);
    std::signal(SIGINT, SIG_IGN);  // ^C on ctest reaches the whole process group
    char byte = 0;
    while (::read(fds[0], &byte, 1) != 0 && errno == EINTR) {
    }
    ctl("stop -m immediate -w");
    std::error_code ec;
    fs::remove_all(dir_, ec);
    ::_exit(0);
  }
  ::close(fds[0]);
  if (pid < 0) {
    ::close(fds[1]);
    return;
  }
  watchdog_ = fds[1];
}

PgServer::~PgServer() {
  if (running_) ctl("stop -m fast -w");
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (watchdog_ >= 0) ::close(watchdog_);  // the watchdog finds nothing left to do
}

std::string PgServer::url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

std::string PgServer::ctl(const std::string& args) const {
  std::string out;
  const int rc = run_as_postgres(bindir_ + "/pg_ctl -D " + quote(dir_ + "/data") + " " + args, &out);
  return rc == 0 ? std::string() : "pg_ctl " + args + " failed (" + std::to_string(rc) + "):\n" + out;
}

// fsync off keeps the tests fast; synchronous_commit stays on, so a commit reported to the
// client is in the WAL (in the OS cache), and survives `stop -m immediate`.
bool PgServer::try_start() {
  std::string options = "-p " + std::to_string(port_) + " -k " + dir_ +
                        " -c listen_addresses=127.0.0.1 -c shared_buffers=32MB"
                        " -c max_connections=200";
  if (!options_.fsync) options += " -c fsync=off -c full_page_writes=off";
  for (const std::string& setting : options_.settings) options += " -c " + setting;
  return ctl("-l " + quote(dir_ + "/log") + " -w -t 60 -s -o " + quote(options) + " start")
      .empty();
}

void PgServer::kill() {
  const std::string error = ctl("stop -m immediate -w");
  if (!error.empty()) throw std::runtime_error(error);
  running_ = false;
}

void PgServer::start() {
  running_ = try_start();
  if (!running_) throw std::runtime_error("restart failed; server log:\n" + log_tail());
}

std::string PgServer::log_tail() const {
  std::ifstream in(dir_ + "/log");
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

}  // namespace herald::postgres::test
