// Distributed runs with real processes on loopback: `stampede serve`, three `stampede-agent`
// processes in three regions, `stampede-target`, and `stampede run` as a user would type it.
// The store is then read with SQL and compared with the merged report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/histogram.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::Int;
using testing::Query;
using testing::WritePlan;

using ::testing::HasSubstr;
using testing::BinPath;
using testing::ChildProcess;
using testing::RunCommand;

const std::vector<std::string> kRegions = {"eastus", "westeurope", "southeastasia"};

// Extracts a number that follows `"key": ` after `from` in a JSON text.
double JsonNumber(const std::string& json, const std::string& key, size_t from = 0) {
  const std::string needle = absl::StrCat("\"", key, "\": ");
  size_t at = json.find(needle, from);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << key << " in " << json.substr(0, 400);
    return -1;
  }
  at += needle.size();
  double v = 0;
  std::string text = json.substr(at, json.find_first_of(",}", at) - at);
  EXPECT_TRUE(absl::SimpleAtod(text, &v)) << key << " = " << text;
  return v;
}

TEST(Distributed, ThreeRegionsEveryRequestStoredOnceAndMergedViewsAgree) {
  const auto dir = testing::UniqueTestDir("stampede-dist");
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "2"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, kRegions).ok());
  const std::string plan = WritePlan(
      dir, target_port,
      R"([{"concurrency": 2, "requests": 300}, {"rate": 300, "duration": "1s"}])",
      R"({"count": 3, "regions": ["eastus", "westeurope", "southeastasia"]})");

  auto run = RunCommand({BinPath("stampede"), "run", plan, "--coordinator", cluster.address(),
                         "--json"},
                        {}, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->output;
  const std::string& json = run->output;
  const size_t run_id_at = json.find("\"runId\": \"") + 10;
  const std::string run_id = json.substr(run_id_at, json.find('"', run_id_at) - run_id_at);

  // Every request sent is in the store exactly once: 3 agents x (300 + 300).
  const int64_t expected = 3 * (300 + 300);
  const auto count = Query(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='",
                                                      run_id, "'"));
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(Int(count[0][0]), expected);
  EXPECT_EQ(static_cast<int64_t>(JsonNumber(json, "requests")), expected);

  // Merged totals equal the sum of per-agent totals; per-region rows exist.
  const auto per_agent = Query(cluster.db(), absl::StrCat("SELECT agent, region, COUNT(*) FROM "
                                                          "records WHERE run_id='", run_id,
                                                          "' GROUP BY agent ORDER BY agent"));
  ASSERT_EQ(per_agent.size(), 3u);
  int64_t sum = 0;
  for (const auto& row : per_agent) {
    EXPECT_EQ(Int(row[2]), 600) << row[0];
    sum += Int(row[2]);
  }
  EXPECT_EQ(sum, expected);
  for (const std::string& region : kRegions) {
    EXPECT_THAT(json, HasSubstr(absl::StrCat("\"", region, "\": {"))) << region;
  }

  // Merged percentiles equal those computed from the raw records, within histogram precision.
  const auto latencies = Query(cluster.db(), absl::StrCat("SELECT latency_us FROM records WHERE "
                                                          "run_id='", run_id,
                                                          "' ORDER BY latency_us"));
  ASSERT_EQ(static_cast<int64_t>(latencies.size()), expected);
  const size_t latency_at = json.find("\"latencyMs\"");
  for (double q : {50.0, 90.0, 99.0}) {
    const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q / 100 * expected)));
    const double exact_ms = std::max<int64_t>(1, Int(latencies[rank - 1][0])) / 1000.0;
    const double reported = JsonNumber(json, q == 50 ? "p50" : q == 90 ? "p90" : "p99",
                                       latency_at);
    // 0.1% histogram error plus the JSON's 3 decimals.
    EXPECT_NEAR(reported, exact_ms, exact_ms * 0.001 + 0.0015) << "p" << q;
  }

  // Synchronised start: each agent's first request lies within a few ms of the others'.
  const auto firsts = Query(cluster.db(), absl::StrCat("SELECT MIN(ts_ns) FROM records WHERE "
                                                       "run_id='", run_id, "' GROUP BY agent"));
  ASSERT_EQ(firsts.size(), 3u);
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto& row : firsts) {
    lo = std::min(lo, Int(row[0]));
    hi = std::max(hi, Int(row[0]));
  }
  EXPECT_LT(hi - lo, 10'000'000) << "first requests spread over " << (hi - lo) / 1e6 << " ms";

  // The report can be pulled again later, in every format, from the coordinator.
  for (const char* format : {"text", "json", "csv"}) {
    auto report = RunCommand({BinPath("stampede"), "report", run_id, "--coordinator",
                              cluster.address(), "--format", format});
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->exit_code, 0) << format << ": " << report->output;
    EXPECT_THAT(report->output, HasSubstr("westeurope")) << format;
  }
  auto runs = RunCommand({BinPath("stampede"), "runs", "--coordinator", cluster.address()});
  ASSERT_TRUE(runs.ok());
  EXPECT_THAT(runs->output, HasSubstr(run_id));
}

TEST(Distributed, KilledAgentIsMarkedLostAndItsRecordsAreKept) {
  const auto dir = testing::UniqueTestDir("stampede-dist");
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "4", "--concurrency", "16", "--queue", "64",
                                      "--service-ms", "2"},
                                     &target_port);
  ASSERT_TRUE(target.ok());
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, kRegions, {"--agent-grace", "1s"}).ok());
  const std::string plan =
      WritePlan(dir, target_port, R"([{"rate": 200, "duration": "4s"}])", R"({"count": 3})");
  auto run = ChildProcess::Start(
      {BinPath("stampede"), "run", plan, "--coordinator", cluster.address(), "--json"});
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(run->WaitForLine("started on 3 agent", std::chrono::seconds(20)).ok())
      << run->output();
  // Let the victim send for a while (its records reach the store), then kill it hard.
  for (int i = 0; i < 400; ++i) {
    auto rows = Query(cluster.db(), "SELECT COUNT(*) FROM records WHERE agent='agent-westeurope'");
    if (!rows.empty() && Int(rows[0][0]) >= 100) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  cluster.agent(1).Signal(SIGKILL);
  auto code = run->Wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1) << "a run with a lost agent is not a clean pass";
  const std::string& out = run->output();
  EXPECT_THAT(out, HasSubstr("\"state\": \"lost\""));
  EXPECT_THAT(out, HasSubstr("finished-with-lost-agents"));
  const auto per_agent =
      Query(cluster.db(), "SELECT agent, COUNT(*) FROM records GROUP BY agent ORDER BY agent");
  ASSERT_EQ(per_agent.size(), 3u);
  std::map<std::string, int64_t> counts;
  for (const auto& row : per_agent) counts[row[0]] = Int(row[1]);
  // The survivors sent their full schedule; the victim's records up to its death are kept.
  EXPECT_EQ(counts["agent-eastus"], 800);
  EXPECT_EQ(counts["agent-southeastasia"], 800);
  EXPECT_GE(counts["agent-westeurope"], 100);
  EXPECT_LT(counts["agent-westeurope"], 800);
  const auto agents =
      Query(cluster.db(), "SELECT agent_id, state FROM run_agents ORDER BY agent_id");
  ASSERT_EQ(agents.size(), 3u);
  EXPECT_EQ(agents[2][1], "lost") << agents[2][0];
}

// The bearer key reaches the target (every request is accepted) but is never written to the
// store, the report, or anything the CLI prints.
TEST(Distributed, BearerKeyIsSentButNeverStoredOrPrinted) {
  const auto dir = testing::UniqueTestDir("stampede-dist");
  const std::string key = "sk-test-7f3c9e21d4b8a6";
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "8", "--service-ms", "1", "--key", key}, &target_port);
  ASSERT_TRUE(target.ok());
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, kRegions).ok());
  std::ofstream(dir / "payload.json") << "{\"inputs\": [[1]]}";
  const std::string plan = (dir / "plan.json").string();
  std::ofstream(plan) << absl::StrCat(
      R"({"name": "keyed", "target": {"url": "http://127.0.0.1:)", target_port,
      R"(/score", "payloadFile": "payload.json", "bearerTokenEnv": "STAMPEDE_TEST_KEY"},)",
      R"( "agents": {"count": 3}, "stages": [{"concurrency": 2, "requests": 50}]})");
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--coordinator", cluster.address()},
                        {absl::StrCat("STAMPEDE_TEST_KEY=", key)}, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("200: 150"));  // the target took the key every time
  EXPECT_EQ(run->output.find(key), std::string::npos);
  auto report = RunCommand({BinPath("stampede"), "report",
                            Query(cluster.db(), "SELECT run_id FROM runs")[0][0], "--db",
                            cluster.db(), "--format", "json"});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->output.find(key), std::string::npos);
  // Nowhere in the database files (main file and write-ahead log), as raw bytes.
  for (const std::string suffix : {"", "-wal"}) {
    std::ifstream file(cluster.db() + suffix, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(key), std::string::npos) << cluster.db() << suffix;
  }
}

// Certificates for a coordinator on 127.0.0.1 and for one agent, from a throwaway CA.
void MakeCertificates(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  std::ofstream(dir / "san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  const std::vector<std::vector<std::string>> steps = {
      {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out",
       d + "/ca.pem", "-days", "1", "-subj", "/CN=stampede-test-ca"},
      {"req", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/server.key", "-out",
       d + "/server.csr", "-subj", "/CN=127.0.0.1"},
      {"x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
       "-CAcreateserial", "-out", d + "/server.pem", "-days", "1", "-extfile", d + "/san.ext"},
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

// Polls `stampede agents` (with the given environment) until `name` is listed.
bool AgentListed(const std::string& address, const std::vector<std::string>& env,
                 const std::string& name) {
  for (int i = 0; i < 200; ++i) {
    auto out = RunCommand({BinPath("stampede"), "agents", "--coordinator", address}, env);
    if (out.ok() && out->output.find(name) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(Distributed, TlsAndMutualTlsOnTheLinks) {
  if (access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl missing: scripts/setup.sh";
  const auto dir = testing::UniqueTestDir("stampede-dist");
  ASSERT_NO_FATAL_FAILURE(MakeCertificates(dir));
  const std::string d = dir.string();
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "2", "--concurrency", "8"}, &target_port);
  ASSERT_TRUE(target.ok());
  // Mutual TLS: the coordinator requires client certificates from the test CA.
  auto serve = ChildProcess::Start({BinPath("stampede"), "serve", "--listen", "127.0.0.1:0",
                                    "--db", d + "/stampede.db", "--tls-cert", d + "/server.pem",
                                    "--tls-key", d + "/server.key", "--tls-client-ca",
                                    d + "/ca.pem"});
  ASSERT_TRUE(serve.ok());
  auto line = serve->WaitForLine("coordinator listening on", std::chrono::seconds(10));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, HasSubstr("(mutual TLS)"));
  const size_t on = line->find(" on ") + 4;
  const std::string address = line->substr(on, line->find(',') - on);
  // An agent without a client certificate cannot join; one with a certificate can.
  auto stranger = ChildProcess::Start({BinPath("stampede-agent"), "--coordinator", address,
                                       "--name", "stranger", "--region", "eastus", "--tls-ca",
                                       d + "/ca.pem"});
  auto agent = ChildProcess::Start({BinPath("stampede-agent"), "--coordinator", address, "--name",
                                    "trusted", "--region", "eastus", "--tls-ca", d + "/ca.pem",
                                    "--tls-cert", d + "/agent.pem", "--tls-key",
                                    d + "/agent.key"});
  ASSERT_TRUE(stranger.ok() && agent.ok());
  const std::vector<std::string> client_env = {
      absl::StrCat("STAMPEDE_TLS_CA=", d, "/ca.pem"),
      absl::StrCat("STAMPEDE_TLS_CERT=", d, "/agent.pem"),
      absl::StrCat("STAMPEDE_TLS_KEY=", d, "/agent.key")};
  ASSERT_TRUE(AgentListed(address, client_env, "trusted"));
  // Under mutual TLS a name is bound to the certificate: the same certificate cannot register
  // another name (and so cannot take over another agent's runs and plans).
  auto impostor = ChildProcess::Start({BinPath("stampede-agent"), "--coordinator", address,
                                       "--name", "eastus-1", "--region", "eastus", "--tls-ca",
                                       d + "/ca.pem", "--tls-cert", d + "/agent.pem",
                                       "--tls-key", d + "/agent.key"});
  ASSERT_TRUE(impostor.ok());
  auto refused = impostor->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_NE(*refused, 0);
  EXPECT_THAT(impostor->output(), HasSubstr("is not a name of its client certificate"));
  std::ofstream(dir / "payload.json") << "{}";
  std::ofstream(dir / "plan.json") << absl::StrCat(
      R"({"name": "tls", "target": {"url": "http://127.0.0.1:)", target_port,
      R"(/score", "payloadFile": "payload.json"},)",
      R"( "stages": [{"concurrency": 2, "requests": 40}]})");
  auto run = RunCommand({BinPath("stampede"), "run", d + "/plan.json", "--coordinator", address},
                        client_env, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("200: 40"));
  EXPECT_THAT(run->output, HasSubstr("trusted"));
  EXPECT_EQ(run->output.find("stranger"), std::string::npos);  // never registered
  // A plaintext client is turned away with a message that points at the TLS setting.
  auto plain = RunCommand({BinPath("stampede"), "agents", "--coordinator", address}, {},
                          std::chrono::seconds(30));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->exit_code, 3);
  EXPECT_THAT(plain->output, HasSubstr("STAMPEDE_TLS_CA"));
  // A CA file that is not PEM is a clear configuration error, not endless retries.
  std::ofstream(dir / "bogus.pem") << "not a certificate";
  auto bogus = RunCommand({BinPath("stampede-agent"), "--coordinator", address, "--name", "x",
                           "--region", "r", "--tls-ca", d + "/bogus.pem"});
  ASSERT_TRUE(bogus.ok());
  EXPECT_EQ(bogus->exit_code, 2);
  EXPECT_THAT(bogus->output, HasSubstr("--tls-ca"));
}

TEST(Distributed, ClearErrorsAndNonZeroExits) {
  const auto dir = testing::UniqueTestDir("stampede-dist");
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, kRegions).ok());
  // Unknown run id.
  auto report = RunCommand({BinPath("stampede"), "report", "r-nope", "--coordinator",
                            cluster.address()});
  ASSERT_TRUE(report.ok());
  EXPECT_NE(report->exit_code, 0);
  EXPECT_THAT(report->output, HasSubstr("r-nope"));
  // No agents matching the selection.
  const std::string plan = WritePlan(dir, 9, R"([{"concurrency": 1, "requests": 1}])",
                                     R"({"regions": ["mars"]})");
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--coordinator", cluster.address()});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 3);
  EXPECT_THAT(run->output, HasSubstr("no idle agents match"));
  EXPECT_THAT(run->output, HasSubstr("mars"));
  // Plan rejected (invalid plan file): exit 2, the field named.
  std::ofstream(dir / "bad.json") << R"({"target": {"url": "ftp://x"}, "stages": []})";
  auto bad = RunCommand({BinPath("stampede"), "run", (dir / "bad.json").string(),
                         "--coordinator", cluster.address()});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_THAT(bad->output, HasSubstr("target.url"));
  // Coordinator unreachable.
  auto down = RunCommand({BinPath("stampede"), "agents", "--coordinator", "127.0.0.1:1"},
                         {}, std::chrono::seconds(30));
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->exit_code, 3);
  EXPECT_THAT(down->output, HasSubstr("cannot reach the coordinator at 127.0.0.1:1"));
}

}  // namespace
}  // namespace stampede
