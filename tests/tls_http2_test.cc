// HTTPS and HTTP/2 through libcurl, against nginx on loopback with a self-signed certificate:
// verification is on unless the plan says `insecure`; HTTP/2 multiplexes many requests over few
// connections. nginx's access log tells which protocol each request really used.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include <curl/curl.h>

#include "agent/engine.h"
#include "agent/aggregator_sink.h"
#include "common/run_aggregator.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::ChildProcess;
using testing::RunCommand;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class Nginx : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/sbin/nginx", X_OK) != 0 || access("/usr/bin/openssl", X_OK) != 0) {
      GTEST_SKIP() << "nginx or openssl missing: run scripts/setup.sh";
    }
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("stampede-nginx-", getpid(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto cert = RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", (dir_ / "key.pem").string(), "-out",
                            (dir_ / "cert.pem").string(), "-days", "1", "-subj",
                            "/CN=localhost"});
    ASSERT_TRUE(cert.ok() && cert->exit_code == 0) << (cert.ok() ? cert->output : "");
    for (int attempt = 0; attempt < 5 && !started_; ++attempt) StartNginx();
    ASSERT_TRUE(started_);
  }

  void StartNginx() {
    https_port_ = FreePort();
    h2c_port_ = FreePort();
    plain_port_ = FreePort();
    const std::string d = dir_.string();
    std::ofstream(dir_ / "nginx.conf") << absl::StrCat(
        "daemon off; master_process off; worker_processes 1; pid ", d, "/nginx.pid;\n",
        "error_log ", d, "/error.log;\n",
        "events { worker_connections 1024; }\n",
        "http {\n  client_body_temp_path ", d, "/body;\n  proxy_temp_path ", d, "/proxy;\n",
        "  log_format proto '$server_protocol';\n",
        // /score is proxied to a plain local server: unlike `return`, proxying reads the whole
        // request body first. nginx answers an HTTP/2 POST from `return` without reading the
        // body and then resets the stream, which libcurl sometimes reports as an error.
        "  server {\n    listen 127.0.0.1:", https_port_, " ssl http2;\n",
        "    access_log ", d, "/access.log proto;\n",
        "    ssl_certificate ", d, "/cert.pem; ssl_certificate_key ", d, "/key.pem;\n",
        "    location = /score { proxy_pass http://127.0.0.1:", plain_port_, "/ok; }\n  }\n",
        "  server {\n    listen 127.0.0.1:", h2c_port_, " http2;\n",
        "    access_log ", d, "/access.log proto;\n",
        "    location = /score { proxy_pass http://127.0.0.1:", plain_port_, "/ok; }\n  }\n",
        "  server {\n    listen 127.0.0.1:", plain_port_, ";\n    access_log off;\n",
        "    location = /ok { return 200 '{\"score\":0.5}'; }\n  }\n}\n");
    auto child = ChildProcess::Start(
        {"/usr/sbin/nginx", "-c", (dir_ / "nginx.conf").string(), "-p", d});
    if (!child.ok()) return;
    nginx_ = std::make_unique<ChildProcess>(std::move(*child));
    // Ready once the HTTPS port accepts connections (poll, bounded).
    for (int i = 0; i < 200; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(https_port_));
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
      if (up) {
        started_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    nginx_.reset();  // port taken meanwhile: try other ports
  }

  void TearDown() override {
    nginx_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Protocols nginx logged, one line per request. nginx writes a request's line after the
  // client has its response, so the log is read again (for up to 10 s) until it holds
  // `expected` lines.
  std::map<std::string, int> Protocols(int expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      std::map<std::string, int> out;
      int lines = 0;
      std::ifstream log(dir_ / "access.log");
      std::string line;
      while (std::getline(log, line)) {
        ++out[line];
        ++lines;
      }
      if (lines >= expected || std::chrono::steady_clock::now() > deadline) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Plan MakePlan(const std::string& url, bool insecure, const std::string& http_version,
                int requests = 400, const std::string& method = "POST") {
    Plan plan;
    plan.set_name("tls");
    plan.mutable_target()->set_url(url);
    plan.mutable_target()->set_method(method);
    plan.mutable_target()->set_insecure(insecure);
    plan.mutable_target()->set_http_version(http_version);
    if (method == "POST") {
      plan.mutable_target()->set_payload_file("p.json");
      plan.mutable_target()->add_resolved_payloads(std::string(2048, 'x'));
    }
    Stage* s = plan.add_stages();
    s->set_concurrency(20);
    s->set_requests(requests);
    return plan;
  }

  // The run's merged totals.
  Aggregate Run(const Plan& plan) {
    RunAggregator aggregator("local", plan, 0);
    AggregatorSink sink(&aggregator, AgentMeta{"local", "local", "local"});
    EngineOptions options;
    options.threads = 2;
    Engine engine(plan, options, &sink);
    EXPECT_TRUE(engine.Run().ok());
    return aggregator.Report().totals();
  }

  std::filesystem::path dir_;
  int https_port_ = 0;
  int h2c_port_ = 0;
  int plain_port_ = 0;
  bool started_ = false;
  std::unique_ptr<ChildProcess> nginx_;
};

TEST_F(Nginx, VerificationIsOnByDefault) {
  // Every request is a fresh handshake that fails, so keep the count small.
  const Aggregate s =
      Run(MakePlan(absl::StrCat("https://127.0.0.1:", https_port_, "/score"), false, "", 40));
  EXPECT_EQ(s.requests(), 40u);
  EXPECT_EQ(s.errors(), 40u);
  EXPECT_EQ(s.by_error().at("tls"), 40u);
}

TEST_F(Nginx, HttpsWithInsecureOverHttp11) {
  const Aggregate s =
      Run(MakePlan(absl::StrCat("https://127.0.0.1:", https_port_, "/score"), true, "1.1"));
  EXPECT_EQ(s.requests(), 400u);
  EXPECT_EQ(s.errors(), 0u);
  EXPECT_EQ(Protocols(400)["HTTP/1.1"], 400);
}

TEST_F(Nginx, Http2OverTls) {
  const Aggregate s =
      Run(MakePlan(absl::StrCat("https://127.0.0.1:", https_port_, "/score"), true, "2"));
  EXPECT_EQ(s.requests(), 400u);
  EXPECT_EQ(s.errors(), 0u);
  EXPECT_EQ(Protocols(400)["HTTP/2.0"], 400);
}

TEST_F(Nginx, CleartextHttp2RefusedWhereLibcurlBreaksIt) {
  Plan plan = MakePlan(absl::StrCat("http://127.0.0.1:", h2c_port_, "/score"), false, "2", 400,
                       "GET");
  RunAggregator aggregator("local", plan, 0);
  AggregatorSink sink(&aggregator, AgentMeta{"local", "local", "local"});
  Engine engine(plan, EngineOptions{}, &sink);
  const absl::Status s = engine.Run();
  if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
    // Debian 12's libcurl 7.88.1 fails reused h2c connections (curl#10634): a clear refusal
    // beats 399 "protocol errors" that would look like the server's fault.
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("target.httpVersion"));
    return;
  }
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(aggregator.Report().totals().errors(), 0u);
}

}  // namespace
}  // namespace stampede
