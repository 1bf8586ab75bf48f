#pragma once
// TLS test helpers (OpenSSL), for the transport's tests and for herald-server's e2e tests:
//
//   const TestPki& pki = TestPki::get();   // a CA, another CA, two server certificates
//   TlsClient c(port, {pki.ca_cert});      // TCP + handshake, verifying 127.0.0.1
//   c.ok(); c.peer_cn();                   // handshake done; the server certificate's CN
//   auto r = c.request("GET", "/healthz"); // HTTPS (r.status, r.body)
//   c.upgrade("/ws?userId=a");             // WSS; then c.next_op("welcome"), c.send_text(…)
//
// The certificates are made once per process by the `openssl` command into a temporary
// directory. Every call is blocking with a timeout (socket timeouts): a test never hangs.

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace herald::websocket::test {

/// A test CA with two server certificates for 127.0.0.1 and localhost (CN herald-test-1,
/// serial 1001; CN herald-test-2, serial 1002), and an unrelated CA.
struct TestPki {
  std::string dir;
  std::string ca_cert, other_ca_cert;
  std::string cert1, key1, cert2, key2;
  bool ok = false;

  static const TestPki& get() {
    static const TestPki pki;
    return pki;
  }

  /// Copies `from` to `to` (rotating a certificate in place).
  static bool copy(const std::string& from, const std::string& to) {
    std::error_code ec;
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
    return !ec;
  }

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  ~TestPki() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

 private:
  TestPki() {
    std::string templ = (std::filesystem::temp_directory_path() / "herald-tls-XXXXXX").string();
    if (!mkdtemp(templ.data())) return;
    dir = templ;
    auto at = [&](const std::string& name) { return dir + "/" + name; };
    {
      std::ofstream ca(at("ca.cnf"));
      ca << "[req]\ndistinguished_name=dn\nx509_extensions=v3_ca\nprompt=no\n[dn]\n"
            "CN=herald test CA\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\n"
            "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";
      std::ofstream ext(at("server.ext"));
      ext << "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
             "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
             "authorityKeyIdentifier=keyid\n";
    }
    const std::string ec_key = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    auto run = [&](const std::string& args) {
      const std::string cmd = "openssl " + args + " >" + at("openssl.log") + " 2>&1";
      return std::system(cmd.c_str()) == 0;
    };
    auto make_ca = [&](const std::string& name) {
      return run("req -x509 -config " + at("ca.cnf") + ec_key + " -keyout " + at(name + ".key") +
                 " -out " + at(name + ".pem") + " -days 2");
    };
    auto make_server = [&](const std::string& name, const std::string& serial) {
      return run("req -new" + ec_key + " -keyout " + at(name + ".key") + " -out " +
                 at(name + ".csr") + " -subj /CN=" + name) &&
             run("x509 -req -in " + at(name + ".csr") + " -CA " + at("ca.pem") + " -CAkey " +
                 at("ca.key") + " -set_serial " + serial + " -days 2 -extfile " + at("server.ext") +
                 " -out " + at(name + ".pem"));
    };
    ok = make_ca("ca") && make_ca("other-ca") && make_server("herald-test-1", "1001") &&
         make_server("herald-test-2", "1002");
    ca_cert = at("ca.pem");
    other_ca_cert = at("other-ca.pem");
    cert1 = at("herald-test-1.pem");
    key1 = at("herald-test-1.key");
    cert2 = at("herald-test-2.pem");
    key2 = at("herald-test-2.key");
  }
};

/// A blocking TLS client to 127.0.0.1 (plain sockets with timeouts, OpenSSL on top).
class TlsClient {
 public:
  using json = nlohmann::json;
  struct Options {
    std::string ca_file;  // the only trusted CA
    int version = 0;      // 0: TLS 1.2 or later; else only this one (e.g. TLS1_1_VERSION)
    std::string host = "127.0.0.1";  // verified against the certificate (IP or DNS name)
    std::chrono::milliseconds timeout{5000};
    int receive_buffer = 0;  // SO_RCVBUF, 0: default
  };

  TlsClient(std::uint16_t port, Options options) : options_(std::move(options)) { open(port); }

  ~TlsClient() {
    if (ssl_) {
      if (ok_) SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

 private:
  void open(std::uint16_t port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return fail("SSL_CTX_new");
    if (options_.version != 0) {
      // Old versions need the old security level to be offered at all.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx_, options_.version);
      SSL_CTX_set_max_proto_version(ctx_, options_.version);
    }
    if (SSL_CTX_load_verify_locations(ctx_, options_.ca_file.c_str(), nullptr) != 1)
      return fail("cannot load " + options_.ca_file);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);

    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return fail("socket");
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(options_.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((options_.timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (options_.receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options_.receive_buffer,
                   sizeof options_.receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return fail("connect");

    ssl_ = SSL_new(ctx_);
    if (!ssl_) return fail("SSL_new");
    SSL_set_fd(ssl_, fd_);
    if (options_.host != "127.0.0.1")  // SNI (SSL_set_tlsext_host_name, without its C cast)
      SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(options_.host.c_str()));
    SSL_set1_host(ssl_, options_.host.c_str());
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) return fail("handshake");
    ok_ = true;
  }

 public:
  /// The handshake completed and the server's certificate verified.
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  /// The result of verifying the server's certificate (X509_V_OK when trusted).
  long verify_result() const { return ssl_ ? SSL_get_verify_result(ssl_) : -1; }
  /// "TLSv1.3" and the like.
  std::string version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

  /// The common name of the server's certificate.
  std::string peer_cn() const {
    if (!ssl_) return "";
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }

  bool write(const std::string& bytes) {
    std::size_t n = 0;
    return ok_ && SSL_write_ex(ssl_, bytes.data(), bytes.size(), &n) == 1 && n == bytes.size();
  }

  /// Appends what arrives next to in_; false on timeout, error or the end of the stream.
  bool read_more() {
    if (!ok_) return false;
    char buffer[16 * 1024];
    std::size_t n = 0;
    if (SSL_read_ex(ssl_, buffer, sizeof buffer, &n) != 1) return false;
    in_.append(buffer, n);
    return true;
  }

  /// True if the server ends the stream (close_notify or EOF) before the timeout.
  bool wait_end() {
    while (read_more()) in_.clear();
    const int e = SSL_get_error(ssl_, 0);
    return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL;
  }

  struct Reply {
    int status = 0;  // 0: none
    std::string head;
    std::string body;
  };

  /// One HTTP/1.1 request (keep-alive) and its reply (Content-Length bodies).
  Reply request(const std::string& method, const std::string& target,
                const std::string& body = "") {
    std::string text = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!body.empty())
      text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n";
    text += "\r\n" + body;
    if (!write(text)) return {};
    return read_reply();
  }

  Reply read_reply() {
    Reply r;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) return {};
    r.head = in_.substr(0, end + 2);
    in_.erase(0, end + 4);
    std::size_t length = 0;
    std::string lower = r.head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t at = lower.find("content-length:");
    if (at != std::string::npos) length = std::stoul(lower.substr(at + 15));
    while (in_.size() < length)
      if (!read_more()) return {};
    r.body = in_.substr(0, length);
    in_.erase(0, length);
    if (r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
    return r;
  }

  /// WebSocket upgrade; true on 101.
  bool upgrade(const std::string& target) {
    const std::string text =
        "GET " + target +
        " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    if (!write(text)) return false;
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) return false;
    const bool switched = in_.compare(0, 12, "HTTP/1.1 101") == 0;
    in_.erase(0, end + 4);
    return switched;
  }

  /// The next text frame's payload (pings are answered); nullopt on timeout or close.
  std::optional<std::string> next_text() {
    for (;;) {
      while (in_.size() < 2)
        if (!read_more()) return std::nullopt;
      const auto b0 = static_cast<unsigned char>(in_[0]);
      std::size_t length = static_cast<unsigned char>(in_[1]) & 0x7f;
      std::size_t header = 2;
      if (length >= 126) {
        header = length == 126 ? 4 : 10;
        while (in_.size() < header)
          if (!read_more()) return std::nullopt;
        length = 0;
        for (std::size_t i = 2; i < header; ++i)
          length = (length << 8) | static_cast<unsigned char>(in_[i]);
      }
      while (in_.size() < header + length)
        if (!read_more()) return std::nullopt;
      std::string payload = in_.substr(header, length);
      in_.erase(0, header + length);
      const int opcode = b0 & 0x0f;
      if (opcode == 1) return payload;
      if (opcode == 8) return std::nullopt;
      if (opcode == 9) send_frame(10, payload);
    }
  }

  /// The next text frame with this "op", skipping others; null json on timeout.
  json next_op(const std::string& op) {
    for (;;) {
      auto text = next_text();
      if (!text) return json();
      json f = json::parse(*text, nullptr, false);
      if (f.value("op", "") == op) return f;
    }
  }

  bool send_text(const std::string& payload) { return send_frame(1, payload); }

  bool send_frame(int opcode, const std::string& payload) {
    std::string out;
    out += static_cast<char>(0x80 | opcode);
    const std::size_t n = payload.size();
    if (n < 126) {
      out += static_cast<char>(0x80 | n);
    } else {
      out += static_cast<char>(0x80 | 126);
      out += static_cast<char>(n >> 8);
      out += static_cast<char>(n & 0xff);
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    for (unsigned char m : mask) out += static_cast<char>(m);
    for (std::size_t i = 0; i < n; ++i)
      out += static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]);
    return write(out);
  }

 private:
  void fail(const std::string& what) {
    error_ = what;
    while (unsigned long e = ERR_get_error()) {
      char line[256];
      ERR_error_string_n(e, line, sizeof line);
      error_ += std::string(": ") + line;
    }
  }

  Options options_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
  std::string error_;
  std::string in_;
};

}  // namespace herald::websocket::test
