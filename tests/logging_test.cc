// What the agent and the coordinator say about themselves (issue 10, "Agents and coordinator say
// what they are doing"), with real processes: `stampede serve`, `stampede-agent` and
// `stampede-target` as an operator starts them. Each failure to connect is one key=value line
// naming its cause, not repeated on every retry; a healthy agent and the coordinator log joins,
// leaves, runs, refusals (with the peer), link losses and resumptions; --log-level decides which
// lines appear. A bad token ends the agent with its own exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/link_failure.h"
#include "common/clock.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"
#include "tests/support/tcp_proxy.h"

namespace stampede {
namespace {

using testing::BinPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;

constexpr char kToken[] = "logging-test-token";
constexpr auto kLineTimeout = std::chrono::seconds(20);

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Reads the process's output until `needle` occurs at least `n` times in it (whatever the order
// of the lines around it); false when it did not within the line timeout or the output ended.
bool WaitForCount(ChildProcess& process, const std::string& needle, int n) {
  const auto deadline = std::chrono::steady_clock::now() + kLineTimeout;
  while (Count(process.output(), needle) < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    auto line = process.WaitForLine(needle, std::chrono::milliseconds(100));
    if (!line.ok() && !absl::IsDeadlineExceeded(line.status())) {
      return Count(process.output(), needle) >= n;  // the output ended
    }
  }
  return true;
}

// The value of `key=` in a key=value line (up to the next space; "" when absent).
std::string Field(const std::string& line, const std::string& key) {
  const size_t at = line.find(absl::StrCat(" ", key, "="));
  if (at == std::string::npos) return "";
  const size_t from = at + key.size() + 2;
  return line.substr(from, line.find(' ', from) - from);
}

// The first line of `text` that contains `needle` ("" when none).
std::string LineWith(const std::string& text, const std::string& needle) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, needle)) return std::string(line);
  }
  return "";
}

// A CA, a coordinator certificate for 127.0.0.1, one for another name only, an agent
// certificate (CN "trusted") from the CA, and a second CA with an agent certificate of its own.
void MakeCertificates(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  std::ofstream(dir / "san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  std::ofstream(dir / "elsewhere.ext") << "subjectAltName=DNS:elsewhere.example\n";
  const std::vector<std::vector<std::string>> steps = {
      {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out",
       d + "/ca.pem", "-days", "1", "-subj", "/CN=stampede-test-ca"},
      {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/other-ca.key", "-out",
       d + "/other-ca.pem", "-days", "1", "-subj", "/CN=some-other-ca"},
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/server.key", "-out",
       d + "/server.csr", "-subj", "/CN=127.0.0.1"},
      {"x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
       "-CAcreateserial", "-out", d + "/server.pem", "-days", "1", "-extfile", d + "/san.ext"},
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/elsewhere.key", "-out",
       d + "/elsewhere.csr", "-subj", "/CN=elsewhere.example"},
      {"x509", "-req", "-in", d + "/elsewhere.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
       "-CAcreateserial", "-out", d + "/elsewhere.pem", "-days", "1", "-extfile",
       d + "/elsewhere.ext"},
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/agent.key", "-out",
       d + "/agent.csr", "-subj", "/CN=trusted"},
      {"x509", "-req", "-in", d + "/agent.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
       "-CAcreateserial", "-out", d + "/agent.pem", "-days", "1"}};
  for (const auto& step : steps) {
    std::vector<std::string> argv = {"/usr/bin/openssl"};
    argv.insert(argv.end(), step.begin(), step.end());
    auto r = RunCommand(argv);
    ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->output : "openssl did not run");
  }
}

// `stampede serve` on an ephemeral loopback port with the token and the extra flags; fills
// `address`. Null (and a test failure) when it did not come up.
std::unique_ptr<ChildProcess> StartServe(const std::filesystem::path& dir,
                                         const std::vector<std::string>& flags,
                                         std::string* address) {
  const std::string token_file = (dir / "token").string();
  std::ofstream(token_file) << kToken << "\n";
  std::filesystem::permissions(
      token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::vector<std::string> args = {"--listen",     "127.0.0.1:0",
                                   "--db",         (dir / "stampede.db").string(),
                                   "--token-file", token_file};
  args.insert(args.end(), flags.begin(), flags.end());
  return testing::StartServeProcess(args, address);
}

// `stampede-agent` dialling `address` under `name`, with the token unless `flags` give one.
std::unique_ptr<ChildProcess> StartAgent(const std::string& address, const std::string& name,
                                         const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BinPath("stampede-agent"),
                                   "--coordinator",
                                   address,
                                   "--name",
                                   name,
                                   "--region",
                                   "eastus",
                                   "--threads",
                                   "1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto agent = ChildProcess::Start(argv, {absl::StrCat("STAMPEDE_TOKEN=", kToken)});
  EXPECT_TRUE(agent.ok()) << agent.status();
  if (!agent.ok()) return nullptr;
  return std::make_unique<ChildProcess>(std::move(*agent));
}

// A loopback port that refuses connections: bound (so nobody else takes it) but not listening.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~ClosedPort() {
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// ---- Failures to connect: one line naming the cause, not one per retry. ----

// Starts an agent (at debug level, so that every attempt shows) with `flags` against `address`,
// waits for its fourth attempt, and checks that exactly one connect_failed line was written by
// then, naming `cause`. Every line it wrote is a key=value line (gRPC's own messages too).
void ExpectOneFailureLine(const std::string& address, const std::vector<std::string>& flags,
                          const std::string& cause) {
  std::vector<std::string> all = {"--log-level", "debug"};
  all.insert(all.end(), flags.begin(), flags.end());
  auto agent = StartAgent(address, "trusted", all);
  ASSERT_NE(agent, nullptr);
  auto fourth = agent->WaitForLine("event=connect_attempt attempt=4 ", kLineTimeout);
  ASSERT_TRUE(fourth.ok()) << fourth.status() << "\n" << agent->output();
  const std::string& out = agent->output();
  EXPECT_EQ(Count(out, "event=connect_failed "), 1) << out;
  EXPECT_THAT(LineWith(out, "event=connect_failed "),
              HasSubstr(absl::StrCat(" cause=", cause, " ")))
      << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("event=connecting coordinator=", address, " ")));
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "stampede-agent: event=")) << line;
  }
}

TEST(AgentConnectFailures, ClosedPortIsUnreachable) {
  ClosedPort closed;
  ASSERT_GT(closed.port(), 0);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOneFailureLine(absl::StrCat("127.0.0.1:", closed.port()), {}, "unreachable"));
}

class AgentTlsFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl missing: scripts/setup.sh";
    dir_ = testing::UniqueTestDir("stampede-logging");
    ASSERT_NO_FATAL_FAILURE(MakeCertificates(dir_));
  }
  std::string File(const std::string& name) const { return (dir_ / name).string(); }
  // A coordinator with this certificate, and mutual TLS when `mutual`.
  std::unique_ptr<ChildProcess> Serve(const std::string& cert, bool mutual, std::string* address) {
    std::vector<std::string> flags = {"--tls-cert", File(cert + ".pem"), "--tls-key",
                                      File(cert + ".key")};
    if (mutual) flags.insert(flags.end(), {"--tls-client-ca", File("ca.pem")});
    return StartServe(dir_, flags, address);
  }

  std::filesystem::path dir_;
};

TEST_F(AgentTlsFailures, PlaintextAgentAtATlsCoordinatorIsToldToUseTls) {
  std::string address;
  auto serve = Serve("server", false, &address);
  ASSERT_NE(serve, nullptr);
  ASSERT_NO_FATAL_FAILURE(ExpectOneFailureLine(address, {}, "no_tls"));
}

TEST_F(AgentTlsFailures, WrongCaIsUnknownCa) {
  std::string address;
  auto serve = Serve("server", false, &address);
  ASSERT_NE(serve, nullptr);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOneFailureLine(address, {"--tls-ca", File("other-ca.pem")}, "tls_unknown_ca"));
}

TEST_F(AgentTlsFailures, CoordinatorCertificateForAnotherNameIsANameMismatch) {
  std::string address;
  auto serve = Serve("elsewhere", false, &address);
  ASSERT_NE(serve, nullptr);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOneFailureLine(address, {"--tls-ca", File("ca.pem")}, "tls_name_mismatch"));
}

TEST_F(AgentTlsFailures, NoClientCertificateUnderMutualTls) {
  std::string address;
  auto serve = Serve("server", true, &address);
  ASSERT_NE(serve, nullptr);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOneFailureLine(address, {"--tls-ca", File("ca.pem")}, "tls_no_client_certificate"));
}

// The name an agent registers under must be in its client certificate: the coordinator refuses
// it (logging the reason and the peer), and the agent says so and exits 3, not retrying.
TEST_F(AgentTlsFailures, ClientCertificateForAnotherNameIsRefusedOnBothSides) {
  std::string address;
  auto serve = Serve("server", true, &address);
  ASSERT_NE(serve, nullptr);
  auto agent = StartAgent(address, "impostor",
                          {"--tls-ca", File("ca.pem"), "--tls-cert", File("agent.pem"), "--tls-key",
                           File("agent.key")});
  ASSERT_NE(agent, nullptr);
  auto code = agent->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << agent->output();
  EXPECT_EQ(*code, 3) << agent->output();
  EXPECT_EQ(Count(agent->output(), "event=refused "), 1) << agent->output();
  EXPECT_THAT(agent->output(), HasSubstr("event=refused cause=name_not_in_certificate "));
  auto refused = serve->WaitForLine("event=agent_refused", kLineTimeout);
  ASSERT_TRUE(refused.ok()) << refused.status() << "\n" << serve->output();
  EXPECT_THAT(*refused, HasSubstr("reason=name_not_in_certificate"));
  EXPECT_THAT(*refused, HasSubstr("peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(*refused, HasSubstr("agent=impostor"));
}

// ---- Refusals on the plaintext link: the token, a taken name, a field out of bounds. ----

TEST(AgentRefusals, BadTokenExitsWithItsOwnCodeAndTheCoordinatorLogsThePeer) {
  const auto dir = testing::UniqueTestDir("stampede-logging");
  std::string address;
  auto serve = StartServe(dir, {}, &address);
  ASSERT_NE(serve, nullptr);
  auto agent = StartAgent(address, "wrong-token", {"--token", "not-the-token"});
  ASSERT_NE(agent, nullptr);
  auto code = agent->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << agent->output();
  EXPECT_EQ(*code, 4) << agent->output();
  EXPECT_EQ(Count(agent->output(), "event=refused cause=bad_token "), 1) << agent->output();
  EXPECT_THAT(agent->output(), HasSubstr("refused this agent's token"));
  EXPECT_THAT(agent->output(), HasSubstr("(exit 4)"));
  auto refused = serve->WaitForLine("event=agent_refused", kLineTimeout);
  ASSERT_TRUE(refused.ok()) << refused.status() << "\n" << serve->output();
  EXPECT_THAT(*refused, HasSubstr("reason=bad_token"));
  EXPECT_THAT(*refused, HasSubstr("peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(*refused, HasSubstr("agent=wrong-token"));
  EXPECT_THAT(serve->output(), Not(HasSubstr(kToken)));
  EXPECT_THAT(serve->output(), Not(HasSubstr("not-the-token")));
}

TEST(AgentRefusals, TakenNameAndHostileFieldsAreRefusedWithTheReason) {
  const auto dir = testing::UniqueTestDir("stampede-logging");
  std::string address;
  auto serve = StartServe(dir, {}, &address);
  ASSERT_NE(serve, nullptr);
  auto first = StartAgent(address, "twin", {});
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(serve->WaitForLine("event=agent_joined agent=twin ", kLineTimeout).ok())
      << serve->output();

  auto second = StartAgent(address, "twin", {});
  ASSERT_NE(second, nullptr);
  auto code = second->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3) << second->output();
  EXPECT_THAT(second->output(), HasSubstr("event=refused cause=name_taken "));
  auto taken = serve->WaitForLine("event=agent_refused reason=name_taken", kLineTimeout);
  ASSERT_TRUE(taken.ok()) << taken.status() << "\n" << serve->output();
  EXPECT_THAT(*taken, HasSubstr("peer=ipv4:127.0.0.1:"));

  // A region with a newline in it: refused naming the field.
  auto hostile = StartAgent(address, "hostile", {"--region", "east\nus"});
  ASSERT_NE(hostile, nullptr);
  code = hostile->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3) << hostile->output();
  EXPECT_THAT(hostile->output(), HasSubstr("event=refused cause=invalid_registration "));
  auto invalid =
      serve->WaitForLine("event=agent_refused reason=invalid_registration", kLineTimeout);
  ASSERT_TRUE(invalid.ok()) << invalid.status() << "\n" << serve->output();
  EXPECT_THAT(*invalid, HasSubstr("peer=ipv4:127.0.0.1:"));
  EXPECT_THAT(*invalid, HasSubstr("register.region"));
  // The newline escaped: a hostile value cannot split (or forge) a line.
  EXPECT_THAT(*invalid, HasSubstr(R"(region="east\nus")"));
  EXPECT_EQ(Count(serve->output(), "event=agent_refused"), 2) << serve->output();
}

// ---- A healthy agent and its coordinator, through a run and a lost link. ----

TEST(HealthyCluster, AgentAndCoordinatorLogJoinsRunsLossesAndLeaves) {
  const auto dir = testing::UniqueTestDir("stampede-logging");
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "2", "--concurrency", "8"}, &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::string address;
  auto serve = StartServe(dir, {}, &address);
  ASSERT_NE(serve, nullptr);
  // The agent dials through a proxy, so that the test can break its link.
  const size_t colon = address.rfind(':');
  auto proxy = testing::TcpProxy::Start(std::stoi(address.substr(colon + 1)));
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const std::string via = absl::StrCat("127.0.0.1:", (*proxy)->port());
  auto agent = StartAgent(via, "healthy", {});
  ASSERT_NE(agent, nullptr);

  auto connecting = agent->WaitForLine("event=connecting ", kLineTimeout);
  ASSERT_TRUE(connecting.ok()) << connecting.status() << "\n" << agent->output();
  EXPECT_THAT(*connecting, HasSubstr(absl::StrCat("coordinator=", via)));
  auto registered = agent->WaitForLine("event=registered ", kLineTimeout);
  ASSERT_TRUE(registered.ok()) << registered.status() << "\n" << agent->output();
  EXPECT_THAT(*registered, HasSubstr("agent=healthy"));
  auto joined = serve->WaitForLine("event=agent_joined ", kLineTimeout);
  ASSERT_TRUE(joined.ok()) << joined.status() << "\n" << serve->output();
  EXPECT_THAT(*joined, HasSubstr("agent=healthy region=eastus peer=ipv4:127.0.0.1:"));

  // A run: started and finished on both sides, with its requests.
  const std::string plan = testing::WritePlan(
      dir, target_port, R"([{"concurrency": 2, "requests": 40}])", R"({"count": 1})");
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--coordinator", address},
                        {absl::StrCat("STAMPEDE_TOKEN=", kToken)}, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->output;
  auto started = serve->WaitForLine("event=run_started ", kLineTimeout);
  ASSERT_TRUE(started.ok()) << started.status() << "\n" << serve->output();
  EXPECT_THAT(*started, HasSubstr("agent_names=healthy agents=1"));
  const std::string run_id = Field(*started, "run");
  ASSERT_FALSE(run_id.empty()) << *started;
  EXPECT_THAT(run->output, HasSubstr(run_id));
  auto finished = serve->WaitForLine("event=run_finished ", kLineTimeout);
  ASSERT_TRUE(finished.ok()) << finished.status() << "\n" << serve->output();
  EXPECT_THAT(*finished, HasSubstr(absl::StrCat("run=", run_id,
                                                " state=finished agents=1 "
                                                "requests=40 errors=0")));
  auto agent_started = agent->WaitForLine("event=run_started ", kLineTimeout);
  ASSERT_TRUE(agent_started.ok()) << agent_started.status() << "\n" << agent->output();
  EXPECT_THAT(*agent_started, HasSubstr(absl::StrCat("run=", run_id, " threads=1 ")));
  auto agent_finished = agent->WaitForLine("event=run_finished ", kLineTimeout);
  ASSERT_TRUE(agent_finished.ok()) << agent_finished.status() << "\n" << agent->output();
  EXPECT_THAT(*agent_finished, HasSubstr(absl::StrCat("run=", run_id, " requests=40 errors=0 ")));

  // The link breaks and comes back: lost, then resumed, on the agent's side; left and joined
  // again on the coordinator's.
  (*proxy)->CutAll();
  auto lost = agent->WaitForLine("event=link_lost ", kLineTimeout);
  ASSERT_TRUE(lost.ok()) << lost.status() << "\n" << agent->output();
  auto resumed = agent->WaitForLine("event=link_resumed ", kLineTimeout);
  ASSERT_TRUE(resumed.ok()) << resumed.status() << "\n" << agent->output();
  EXPECT_THAT(*resumed, HasSubstr("agent=healthy"));
  EXPECT_THAT(*resumed, HasSubstr(" resent_batches="));
  // (The new connection may register before the coordinator notices that the old one broke:
  // the lines come in either order.)
  ASSERT_TRUE(WaitForCount(*serve, "event=agent_left agent=healthy ", 1)) << serve->output();
  EXPECT_THAT(LineWith(serve->output(), "event=agent_left agent=healthy "),
              HasSubstr("peer=ipv4:127.0.0.1:"));
  EXPECT_TRUE(WaitForCount(*serve, "event=agent_joined agent=healthy ", 2)) << serve->output();

  // Stopped: the agent says so and exits 0; the coordinator sees it leave.
  agent->Signal(SIGTERM);
  auto code = agent->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << agent->output();
  EXPECT_THAT(agent->output(), HasSubstr("event=stopped "));
  EXPECT_TRUE(WaitForCount(*serve, "event=agent_left agent=healthy ", 2)) << serve->output();
  // Each state change once.
  const std::string& out = agent->output();
  EXPECT_EQ(Count(out, "event=connecting "), 1) << out;
  EXPECT_EQ(Count(out, "event=registered "), 1) << out;
  EXPECT_EQ(Count(out, "event=link_lost "), 1) << out;
  EXPECT_EQ(Count(out, "event=run_started "), 1) << out;
  EXPECT_EQ(Count(out, "event=run_finished "), 1) << out;
  // Nothing at debug level by default.
  EXPECT_THAT(out, Not(HasSubstr("event=connect_attempt")));
  EXPECT_THAT(serve->output(), Not(HasSubstr("event=batch_committed")));
}

// ---- --log-level ----

TEST(LogLevel, WarnHidesInfoLinesOnBothSides) {
  const auto dir = testing::UniqueTestDir("stampede-logging");
  std::string address;
  auto serve = StartServe(dir, {"--log-level", "warn"}, &address);
  ASSERT_NE(serve, nullptr);
  auto agent = StartAgent(address, "quiet", {"--log-level", "warn"});
  ASSERT_NE(agent, nullptr);
  // Registered: listed by the coordinator.
  bool listed = false;
  for (int i = 0; i < 200 && !listed; ++i) {
    auto out = RunCommand({BinPath("stampede"), "agents", "--coordinator", address},
                          {absl::StrCat("STAMPEDE_TOKEN=", kToken)});
    listed = out.ok() && absl::StrContains(out->output, "quiet");
    if (!listed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(listed);
  // A warning still shows (and proves the coordinator's log is read up to here).
  auto refused = StartAgent(address, "intruder", {"--token", "nope"});
  ASSERT_NE(refused, nullptr);
  ASSERT_TRUE(refused->Wait(kLineTimeout).ok());
  ASSERT_TRUE(serve->WaitForLine("event=agent_refused reason=bad_token", kLineTimeout).ok())
      << serve->output();
  agent->Signal(SIGTERM);
  auto code = agent->Wait(kLineTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(serve->output(), Not(HasSubstr("event=agent_joined")));
  for (const char* info : {"event=connecting", "event=registered", "event=stopped"}) {
    EXPECT_THAT(agent->output(), Not(HasSubstr(info))) << info;
  }
  EXPECT_THAT(agent->output(), HasSubstr("event=spool_disabled"));  // a warning: shown
  // An unknown level is a usage error on both binaries.
  auto bad_agent =
      RunCommand({BinPath("stampede-agent"), "--coordinator", address, "--log-level", "chatty"});
  ASSERT_TRUE(bad_agent.ok());
  EXPECT_EQ(bad_agent->exit_code, 2) << bad_agent->output;
  EXPECT_THAT(bad_agent->output, HasSubstr("--log-level"));
  auto bad_serve = RunCommand({BinPath("stampede"), "serve", "--listen", "127.0.0.1:0", "--db",
                               (dir / "other.db").string(), "--log-level", "chatty"});
  ASSERT_TRUE(bad_serve.ok());
  EXPECT_EQ(bad_serve->exit_code, 2) << bad_serve->output;
  EXPECT_THAT(bad_serve->output, HasSubstr("--log-level"));
}

// ---- FailureLog: which repeated failures are worth a line (fake clock). ----

TEST(FailureLog, FirstFailureThenChangesOfCauseThenAReminderEvery30Seconds) {
  FakeClock clock;
  FailureLog log(absl::Seconds(30), &clock);
  EXPECT_EQ(log.Failed("unreachable"), FailureLog::Say::kFailure);
  for (int i = 0; i < 5; ++i) {
    clock.AdvanceNs(absl::ToInt64Nanoseconds(absl::Seconds(5)));
    EXPECT_EQ(log.Failed("unreachable"), FailureLog::Say::kNothing) << i;
  }
  clock.AdvanceNs(absl::ToInt64Nanoseconds(absl::Seconds(5)));  // 30 s since the line
  EXPECT_EQ(log.Failed("unreachable"), FailureLog::Say::kStillFailing);
  EXPECT_EQ(log.attempts(), 7);
  EXPECT_EQ(log.failing_for(), absl::Seconds(30));
  clock.AdvanceNs(absl::ToInt64Nanoseconds(absl::Seconds(1)));
  EXPECT_EQ(log.Failed("tls_unknown_ca"), FailureLog::Say::kFailure);
  EXPECT_EQ(log.Failed("tls_unknown_ca"), FailureLog::Say::kNothing);
  log.Succeeded();
  EXPECT_EQ(log.attempts(), 0);
  EXPECT_EQ(log.Failed("tls_unknown_ca"), FailureLog::Say::kFailure);
}

}  // namespace
}  // namespace stampede
