// Operating `stampede run` day to day, with real processes: where a run goes ($STAMPEDE_COORDINATOR
// or embedded, and the first line says which), Ctrl-C (abort and report, then detach), --detach,
// and exit codes for refused credentials.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::BinPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::PollUntil;
using testing::RunCommand;
using testing::ServerRequests;
using testing::WritePlan;

// The first line of a command's output.
std::string FirstLine(const std::string& output) {
  return std::string(output.substr(0, output.find('\n')));
}

// A target answering every request after 50 ms, and a run of 30 s at 40 req/s per agent: far
// longer than any of these tests lets it go.
struct LongRun {
  std::filesystem::path dir;
  int target_port = 0;
  std::optional<ChildProcess> target;
  testing::ProcessCluster cluster;
  std::string plan;
};

void StartLongRun(LongRun* r, int agents) {
  r->dir = testing::UniqueTestDir("stampede-op");
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "16", "--queue", "64", "--service-ms", "50"},
      &r->target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  r->target.emplace(std::move(*target));
  std::vector<std::string> regions = {"eastus", "westeurope"};
  regions.resize(static_cast<size_t>(agents));
  ASSERT_TRUE(r->cluster.Start(r->dir, regions).ok());
  r->plan = WritePlan(r->dir, r->target_port, R"([{"rate": 40, "duration": "30s"}])",
                      absl::StrCat(R"({"count": )", agents, "}"));
}

// Starts `stampede run PLAN --coordinator ADDR` and returns once the run is under way (the
// service has seen requests).
std::optional<ChildProcess> StartAttached(LongRun& r) {
  auto run = ChildProcess::Start(
      {BinPath("stampede"), "run", r.plan, "--coordinator", r.cluster.address()});
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return std::nullopt;
  auto started = run->WaitForLine("started on", std::chrono::seconds(20));
  EXPECT_TRUE(started.ok()) << started.status() << "\n" << run->output();
  if (!started.ok()) return std::nullopt;
  EXPECT_TRUE(
      PollUntil([&] { return ServerRequests(r.target_port) >= 20; }, std::chrono::seconds(15)));
  return std::move(*run);
}

TEST(CliOperation, RunGoesToTheCoordinatorOfTheVariableAndSaysSo) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  int target_port = 0;
  auto target = testing::StartTarget({"--service-ms", "1"}, &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, {"eastus"}).ok());
  const std::string plan =
      WritePlan(dir, target_port, R"([{"concurrency": 1, "requests": 20}])", R"({"count": 1})");

  // The variable alone sends the run to that coordinator (it used to go embedded silently).
  auto run = RunCommand({BinPath("stampede"), "run", plan},
                        {absl::StrCat("STAMPEDE_COORDINATOR=", cluster.address())});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_EQ(FirstLine(run->output), absl::StrCat("coordinator ", cluster.address())) << run->output;
  auto runs = RunCommand({BinPath("stampede"), "runs", "--coordinator", cluster.address()});
  ASSERT_TRUE(runs.ok());
  EXPECT_THAT(runs->output, HasSubstr("finished")) << runs->output;

  // Neither flag nor variable: embedded, said on the first line, and the TLS variables meant for
  // remote coordinators do not break the in-process one.
  auto embedded = RunCommand({BinPath("stampede"), "run", plan, "--local-agents", "1", "--db",
                              (dir / "embedded.db").string()},
                             {"STAMPEDE_COORDINATOR=", "STAMPEDE_TLS_CA=/nonexistent/ca.pem"});
  ASSERT_TRUE(embedded.ok()) << embedded.status();
  EXPECT_EQ(embedded->exit_code, 0) << embedded->output;
  EXPECT_EQ(FirstLine(embedded->output), "embedded: 1 local agent") << embedded->output;
  EXPECT_EQ(ServerRequests(target_port), 40);
}

TEST(CliOperation, CtrlCAbortsTheRunOnEveryAgentAndPrintsThePartialReport) {
  LongRun r;
  ASSERT_NO_FATAL_FAILURE(StartLongRun(&r, 2));
  auto run = StartAttached(r);
  ASSERT_TRUE(run.has_value());
  const auto interrupted_at = std::chrono::steady_clock::now();
  run->Signal(SIGINT);
  auto code = run->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << run->output();
  EXPECT_EQ(*code, 130) << run->output();
  EXPECT_LT(std::chrono::steady_clock::now() - interrupted_at, std::chrono::seconds(15));
  EXPECT_THAT(run->output(), HasSubstr("interrupted: aborting run"));
  EXPECT_THAT(run->output(), HasSubstr("aborted"));  // the report's state
  EXPECT_THAT(run->output(), HasSubstr("requests"));

  // The load stopped with the run: the service sees nothing more (the agents were told, not
  // merely left behind by a dead CLI).
  const int64_t at_exit = ServerRequests(r.target_port);
  ASSERT_GT(at_exit, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // 28 requests at the plan's rate
  EXPECT_EQ(ServerRequests(r.target_port), at_exit);
  auto runs = RunCommand({BinPath("stampede"), "runs", "--coordinator", r.cluster.address()});
  ASSERT_TRUE(runs.ok());
  EXPECT_THAT(runs->output, HasSubstr("aborted")) << runs->output;
}

TEST(CliOperation, ASecondCtrlCDetachesAtOnce) {
  LongRun r;
  ASSERT_NO_FATAL_FAILURE(StartLongRun(&r, 1));
  auto run = StartAttached(r);
  ASSERT_TRUE(run.has_value());
  run->Signal(SIGINT);
  ASSERT_TRUE(run->WaitForLine("interrupted: aborting run", std::chrono::seconds(5)).ok())
      << run->output();
  const auto second_at = std::chrono::steady_clock::now();
  run->Signal(SIGINT);
  auto code = run->Wait(std::chrono::seconds(5));
  ASSERT_TRUE(code.ok()) << code.status() << "\n" << run->output();
  EXPECT_EQ(*code, 130);
  EXPECT_LT(std::chrono::steady_clock::now() - second_at, std::chrono::seconds(3));
  EXPECT_THAT(run->output(), HasSubstr("detached: run"));
}

TEST(CliOperation, DetachPrintsOnlyTheRunIdAndTheRunGoesOn) {
  LongRun r;
  ASSERT_NO_FATAL_FAILURE(StartLongRun(&r, 1));
  auto run = ChildProcess::Start(
      {BinPath("stampede"), "run", r.plan, "--coordinator", r.cluster.address(), "--detach"});
  ASSERT_TRUE(run.ok());
  auto code = run->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok());
  ASSERT_EQ(*code, 0) << run->output();
  // stdout and stderr are merged here: the id is the last line.
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(run->output()), '\n');
  const std::string run_id = lines.back();
  ASSERT_TRUE(absl::StartsWith(run_id, "r-")) << run->output();
  // Still running after the CLI is gone; then stopped by `abort`.
  ASSERT_TRUE(
      PollUntil([&] { return ServerRequests(r.target_port) >= 20; }, std::chrono::seconds(15)));
  auto abort =
      RunCommand({BinPath("stampede"), "abort", run_id, "--coordinator", r.cluster.address()});
  ASSERT_TRUE(abort.ok());
  EXPECT_EQ(abort->exit_code, 0) << abort->output;

  // An embedded run cannot be detached: it ends with the process.
  auto embedded =
      RunCommand({BinPath("stampede"), "run", r.plan, "--detach"}, {"STAMPEDE_COORDINATOR="});
  ASSERT_TRUE(embedded.ok());
  EXPECT_EQ(embedded->exit_code, 2);
  EXPECT_THAT(embedded->output, HasSubstr("--detach needs a coordinator"));
}

TEST(CliOperation, ABadTokenHasItsOwnExitCode) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  std::string address;
  auto serve = testing::StartServeProcess(
      {"--listen", "127.0.0.1:0", "--db", (dir / "stampede.db").string(), "--token", "right"},
      &address);
  ASSERT_NE(serve, nullptr);
  auto agents =
      RunCommand({BinPath("stampede"), "agents", "--coordinator", address, "--token", "wrong"});
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->exit_code, 4) << agents->output;
  EXPECT_THAT(agents->output, HasSubstr("token"));
  auto right =
      RunCommand({BinPath("stampede"), "agents", "--coordinator", address, "--token", "right"});
  ASSERT_TRUE(right.ok());
  EXPECT_EQ(right->exit_code, 0) << right->output;
  // Unreachable stays 3.
  auto nowhere = RunCommand({BinPath("stampede"), "agents", "--coordinator", "127.0.0.1:1"});
  ASSERT_TRUE(nowhere.ok());
  EXPECT_EQ(nowhere->exit_code, 3) << nowhere->output;
}

TEST(CliOperation, ValidateNeedsNoSecretTakesSaturationPlansAndShowsTheTotalLoad) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  const std::string smoke = absl::StrCat(STAMPEDE_SOURCE_DIR, "/examples/smoke.json");
  // The key's variable unset: a warning, still valid (it used to be "invalid").
  auto unset = RunCommand({BinPath("stampede"), "validate", smoke}, {"SCORING_KEY="});
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->exit_code, 0) << unset->output;
  EXPECT_THAT(unset->output, HasSubstr("warning: $SCORING_KEY is not set"));
  // smoke.json: 3 agents, each at the stage's load.
  EXPECT_THAT(unset->output, HasSubstr("stage 2: 8 users on each of 3 agents = 24 users in all"));
  EXPECT_THAT(unset->output,
              HasSubstr("stage 3: 500/s -> 1000/s on each of 3 agents = 1500/s -> 3000/s in all"));
  auto set = RunCommand({BinPath("stampede"), "validate", smoke}, {"SCORING_KEY=k"});
  ASSERT_TRUE(set.ok());
  EXPECT_THAT(set->output, Not(HasSubstr("warning")));

  // A cluster-wide load is shared: the total as written, and each agent's share.
  const std::string cluster = (dir / "cluster.json").string();
  std::ofstream(cluster) << R"({"target": {"url": "http://127.0.0.1:9/score"},)"
                         << R"( "agents": {"count": 3, "split": "cluster"},)"
                         << R"( "stages": [{"concurrency": 10, "duration": "5s"}]})";
  auto shared = RunCommand({BinPath("stampede"), "validate", cluster});
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(shared->exit_code, 0) << shared->output;
  EXPECT_THAT(
      shared->output,
      HasSubstr("stage 1: 10 users in all, shared by 3 agents (4 users, 3 users, 3 users)"));

  // A saturation-only plan (no stages), as `stampede saturate` takes it.
  const std::string saturation = (dir / "saturation.json").string();
  std::ofstream(saturation) << R"({"name": "sat", "target": {"url": "http://127.0.0.1:9/score"},)"
                            << R"( "saturation": {"model": "open", "startLoad": 50}})";
  auto sat = RunCommand({BinPath("stampede"), "validate", saturation});
  ASSERT_TRUE(sat.ok());
  EXPECT_EQ(sat->exit_code, 0) << sat->output;
  EXPECT_THAT(sat->output, HasSubstr("saturation-only plan"));
  EXPECT_THAT(sat->output, HasSubstr("saturation: open model, from 50"));

  // A syntax error names the file, line and column.
  const std::string broken = (dir / "plan.json").string();
  std::ofstream(broken) << "{\n  \"name\": \"x\",\n  \"target\" {}\n}\n";
  auto bad = RunCommand({BinPath("stampede"), "validate", broken});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_THAT(bad->output, HasSubstr(absl::StrCat(broken, ":3:12: expected ':'")));
}

// `stampede serve --listen ADDR --db ... EXTRA...` to completion; its result.
testing::RunResult Serve(const std::filesystem::path& dir, const std::string& listen,
                         const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      BinPath("stampede"), "serve", "--listen", listen, "--db", (dir / "stampede.db").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = RunCommand(argv, {}, std::chrono::seconds(10));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : testing::RunResult{};
}

TEST(CliOperation, ServeRefusesBadPortsAPortInUseAndMismatchedTlsFilesNamingThem) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  // :99999 used to listen on 99999 mod 65536.
  auto high = Serve(dir, "127.0.0.1:99999", {});
  EXPECT_EQ(high.exit_code, 2) << high.output;
  EXPECT_THAT(high.output, HasSubstr("port \"99999\" is not in 0..65535"));

  // A port another coordinator holds: refused (SO_REUSEPORT used to let both listen).
  std::string address;
  auto first = testing::StartServeProcess(
      {"--listen", "127.0.0.1:0", "--db", (dir / "first.db").string()}, &address);
  ASSERT_NE(first, nullptr);
  auto second = Serve(dir, address, {});
  EXPECT_EQ(second.exit_code, 3) << second.output;
  EXPECT_THAT(second.output, HasSubstr("the port is in use"));

  if (access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "openssl missing: scripts/setup.sh";
  const std::string d = dir.string();
  for (const std::string& name : {"a", "b"}) {
    auto made =
        RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + "/" + name + ".key",
                    "-out", d + "/" + name + ".pem", "-days", "1", "-subj", "/CN=" + name});
    ASSERT_TRUE(made.ok() && made->exit_code == 0) << (made.ok() ? made->output : "openssl");
  }
  // a's certificate with b's key.
  auto mismatch =
      Serve(dir, "127.0.0.1:0", {"--tls-cert", d + "/a.pem", "--tls-key", d + "/b.key"});
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.output;
  EXPECT_THAT(mismatch.output, HasSubstr(absl::StrCat("--tls-key: \"", d,
                                                      "/b.key\" is not the "
                                                      "private key of the certificate in \"",
                                                      d, "/a.pem\"")));
  // The key given as the certificate.
  auto swapped = Serve(dir, "127.0.0.1:0", {"--tls-cert", d + "/a.key", "--tls-key", d + "/a.key"});
  EXPECT_EQ(swapped.exit_code, 2) << swapped.output;
  EXPECT_THAT(swapped.output, HasSubstr(absl::StrCat("--tls-cert: \"", d,
                                                     "/a.key\" holds no "
                                                     "certificate")));
  // A file that is not there.
  auto missing = Serve(dir, "127.0.0.1:0", {"--tls-cert", d + "/a.pem", "--tls-key", d + "/nope"});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr(absl::StrCat("--tls-key: cannot read \"", d, "/nope\"")));
  // A client CA that is a key.
  auto ca = Serve(
      dir, "127.0.0.1:0",
      {"--tls-cert", d + "/a.pem", "--tls-key", d + "/a.key", "--tls-client-ca", d + "/b.key"});
  EXPECT_EQ(ca.exit_code, 2) << ca.output;
  EXPECT_THAT(ca.output, HasSubstr("--tls-client-ca"));
  // And the client side: `agents` with a CA file that is not one.
  auto client = RunCommand(
      {BinPath("stampede"), "agents", "--coordinator", address, "--tls-ca", d + "/b.key"});
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->exit_code, 2) << client->output;
  EXPECT_THAT(client->output, HasSubstr(absl::StrCat("--tls-ca: \"", d,
                                                     "/b.key\" holds no "
                                                     "certificate")));
}

TEST(CliOperation, RunsShowDurationP99AndVerdictAndGroupSaturationSteps) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  int target_port = 0;
  auto target = testing::StartTarget({"--service-ms", "2"}, &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string db = (dir / "runs.db").string();
  // A saturation search of two short steps, then an ordinary run, in one store.
  const std::string saturation = (dir / "saturation.json").string();
  std::ofstream(saturation) << absl::StrCat(
      R"({"name": "sat", "target": {"url": "http://127.0.0.1:)", target_port,
      R"(/score"}, "saturation": {"startLoad": 1, "maxLoad": 2, "stepDuration": "0.3s",)",
      R"( "repeats": 1}})");
  auto sat =
      RunCommand({BinPath("stampede"), "saturate", saturation, "--local-agents", "1", "--db", db},
                 {"STAMPEDE_COORDINATOR="});
  ASSERT_TRUE(sat.ok());
  const std::string plan =
      WritePlan(dir, target_port, R"([{"concurrency": 1, "requests": 30}])", R"({"count": 1})");
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--local-agents", "1", "--db", db},
                        {"STAMPEDE_COORDINATOR="});
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->exit_code, 0) << run->output;

  auto runs = RunCommand({BinPath("stampede"), "runs", "--db", db});
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->exit_code, 0) << runs->output;
  std::vector<std::string> lines = absl::StrSplit(runs->output, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 4u) << runs->output;
  EXPECT_THAT(lines[0], HasSubstr("duration"));
  EXPECT_THAT(lines[0], HasSubstr("p99 ms"));
  // Newest first: the ordinary run, with its verdict and a p99, then the search and its steps.
  EXPECT_THAT(lines[1], ::testing::ContainsRegex(
                            "^r-[0-9a-f-]+ +finished .* [0-9.]+s +1 +30 +0 +[0-9.]+ passed +e2e$"))
      << runs->output;
  EXPECT_THAT(lines[2], ::testing::StartsWith("saturation search of \"sat\": ")) << runs->output;
  for (size_t i = 3; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], ::testing::StartsWith("  r-")) << runs->output;
    EXPECT_THAT(lines[i], HasSubstr("sat saturate r1 #")) << runs->output;
  }

  auto json = RunCommand({BinPath("stampede"), "runs", "--db", db, "--json"});
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->exit_code, 0);
  EXPECT_THAT(json->output, HasSubstr("\"passed\": true"));
  EXPECT_THAT(json->output, HasSubstr("\"search\": \"sat\""));
  EXPECT_THAT(json->output, HasSubstr("\"requests\": 30,"));
}

// Reads what a child on a pseudo-terminal writes until `needle` shows up (or `timeout`).
bool PtyOutputShows(int master, const std::string& needle, std::chrono::milliseconds timeout,
                    std::string* seen) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (seen->find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(master, buf, sizeof(buf));
    if (n <= 0) return false;
    seen->append(buf, static_cast<size_t>(n));
  }
  return true;
}

// The same as a user at a terminal does it: Ctrl-C typed on the run's pseudo-terminal (the line
// discipline turns it into SIGINT for the foreground process), and the live table drawn there.
TEST(CliOperation, CtrlCTypedOnATerminalAbortsTheRunAndPrintsTheReport) {
  LongRun r;
  ASSERT_NO_FATAL_FAILURE(StartLongRun(&r, 1));
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string bin = BinPath("stampede");
    execl(bin.c_str(), bin.c_str(), "run", r.plan.c_str(), "--coordinator",
          r.cluster.address().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string screen;
  ASSERT_TRUE(PtyOutputShows(master, "req/s (1s)", std::chrono::seconds(20), &screen)) << screen;
  ASSERT_TRUE(
      PollUntil([&] { return ServerRequests(r.target_port) >= 20; }, std::chrono::seconds(15)));
  const char ctrl_c = 0x03;
  ASSERT_EQ(write(master, &ctrl_c, 1), 1);
  EXPECT_TRUE(PtyOutputShows(master, "verdict: FAILED", std::chrono::seconds(20), &screen))
      << screen;
  EXPECT_THAT(screen, HasSubstr("interrupted: aborting run"));
  EXPECT_THAT(screen, HasSubstr("not passed: run aborted"));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(master);
  ASSERT_TRUE(WIFEXITED(status)) << screen;
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const int64_t at_exit = ServerRequests(r.target_port);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 20 requests at the plan's rate
  EXPECT_EQ(ServerRequests(r.target_port), at_exit) << "the load went on after Ctrl-C";
}

TEST(CliOperation, LiveViewShowsStageTimeTargetAndLostAgentsAndWatchStreamsJson) {
  LongRun r;
  ASSERT_NO_FATAL_FAILURE(StartLongRun(&r, 2));
  auto run = ChildProcess::Start(
      {BinPath("stampede"), "run", r.plan, "--coordinator", r.cluster.address()});
  ASSERT_TRUE(run.ok());
  auto started = run->WaitForLine("started on", std::chrono::seconds(20));
  ASSERT_TRUE(started.ok()) << run->output();
  const size_t id_at = started->find("run ") + 4;
  const std::string run_id = started->substr(id_at, started->find(' ', id_at) - id_at);

  // Plain lines (not a terminal): elapsed of planned, the stage and its load, the target rate
  // over both agents, 503s apart from other errors.
  auto line = run->WaitForLine("(target 80)", std::chrono::seconds(15));
  ASSERT_TRUE(line.ok()) << run->output();
  EXPECT_THAT(*line, HasSubstr("of 30.0s ("));
  EXPECT_THAT(*line, HasSubstr("stage 1/1 rate=40/s;"));
  EXPECT_THAT(*line, HasSubstr(" 503s, "));

  // watch --json: one object per line, the same facts by name.
  auto watch = ChildProcess::Start(
      {BinPath("stampede"), "watch", run_id, "--coordinator", r.cluster.address(), "--json"});
  ASSERT_TRUE(watch.ok());
  auto object = watch->WaitForLine("\"targetRps\": 80", std::chrono::seconds(10));
  ASSERT_TRUE(object.ok()) << watch->output();
  EXPECT_THAT(*object, ::testing::StartsWith("{\"runId\": \"" + run_id + "\""));
  EXPECT_THAT(*object, HasSubstr("\"stageLoad\": \"rate=40/s\""));
  EXPECT_THAT(*object, HasSubstr("\"plannedS\": 30"));

  // On a terminal: the table, its per-second columns labelled as such.
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string bin = BinPath("stampede");
    execl(bin.c_str(), bin.c_str(), "watch", run_id.c_str(), "--coordinator",
          r.cluster.address().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string screen;
  EXPECT_TRUE(PtyOutputShows(master, "p99 ms (1s)", std::chrono::seconds(10), &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("req/s (1s)"));
  EXPECT_THAT(screen, HasSubstr("target 80 req/s"));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(master);

  // An agent killed: flagged as soon as the coordinator declares it lost (5 s grace).
  r.cluster.agent(1).Signal(SIGKILL);
  auto out = run->WaitForLine("AGENTS OUT: agent-westeurope: lost", std::chrono::seconds(20));
  EXPECT_TRUE(out.ok()) << run->output();
  auto lost =
      watch->WaitForLine("\"agentsOut\": [\"agent-westeurope: lost\"]", std::chrono::seconds(10));
  EXPECT_TRUE(lost.ok()) << watch->output();

  // Ended: the watch prints the report as JSON after the progress lines.
  auto abort =
      RunCommand({BinPath("stampede"), "abort", run_id, "--coordinator", r.cluster.address()});
  ASSERT_TRUE(abort.ok());
  auto code = watch->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok());
  EXPECT_THAT(watch->output(), HasSubstr("\"state\": \"aborted\""));
}

TEST(CliOperation, AnAdHocRunWithoutAPlanFile) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  int target_port = 0;
  auto target = testing::StartTarget({"--service-ms", "1"}, &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::ofstream(dir / "body.json") << R"({"inputs": [[1, 2]]})";
  const std::string url = absl::StrCat("http://127.0.0.1:", target_port, "/score");
  auto run = RunCommand(
      {BinPath("stampede"), "run", "--url", url, "--body", (dir / "body.json").string(), "-H",
       "Content-Type: application/json", "-c", "3", "-n", "90", "--bearer-env", "ADHOC_KEY",
       "--local-agents", "1", "--db", (dir / "adhoc.db").string(), "--json"},
      {"STAMPEDE_COORDINATOR=", "ADHOC_KEY=k-123"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_EQ(ServerRequests(target_port), 90);
  EXPECT_THAT(run->output, HasSubstr("\"requests\": 90"));
  EXPECT_THAT(run->output, Not(HasSubstr("k-123")));

  // Each mistake named by its flag.
  struct Case {
    std::vector<std::string> flags;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"--url", url, "-c", "2", "--rate", "5", "-n", "10"}, "-c/--concurrency or --rate"},
      {{"--url", url, "-c", "2"}, "-d/--duration or -n/--requests"},
      {{"-c", "2", "-n", "10"}, "need --url"},
      {{"--url", url, "-c", "2", "-n", "10", "-H", "no colon"}, "expected 'Name: value'"},
      {{"--url", "ftp://x/y", "-c", "2", "-n", "10"}, "the ad-hoc flags: "},
      {{"--url", url, "-c", "2", "-n", "10", "--bearer-env", "ADHOC_UNSET_VAR"}, "ADHOC_UNSET_VAR"},
      {{(dir / "body.json").string(), "--url", url, "-c", "2", "-n", "10"}, "not both"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {BinPath("stampede"), "run"};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    auto bad = RunCommand(argv, {"STAMPEDE_COORDINATOR="});
    ASSERT_TRUE(bad.ok());
    EXPECT_EQ(bad->exit_code, 2) << bad->output;
    EXPECT_THAT(bad->output, HasSubstr(c.want));
  }
  EXPECT_EQ(ServerRequests(target_port), 90);  // none of them sent anything
}

// Stage.backOff: a closed loop against a service answering every request with an instant 503
// waits 50 ms, 100 ms, ... up to 1 s between a user's failures instead of spinning.
TEST(CliOperation, UsersBackOffAfterA503WhenThePlanSaysSo) {
  const auto dir = testing::UniqueTestDir("stampede-op");
  int target_port = 0;
  // One slot, no queue, each request held 2 s: the first takes the slot, the rest get 503s.
  auto target = testing::StartTarget(
      {"--replicas", "1", "--concurrency", "1", "--queue", "0", "--service-ms", "2000"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  auto run_with = [&](bool back_off) {
    const std::string plan =
        WritePlan(dir, target_port,
                  absl::StrCat(R"([{"concurrency": 4, "duration": "1500ms", "backOff": )",
                               back_off ? "true" : "false", "}]"),
                  "{}");
    const int64_t before = ServerRequests(target_port);
    auto run = RunCommand({BinPath("stampede-agent"), "run", plan, "--threads", "1"});
    EXPECT_TRUE(run.ok());
    return ServerRequests(target_port) - before;
  };
  const int64_t spinning = run_with(false);
  const int64_t gentle = run_with(true);
  // 3 users failing for 1.5 s back off 50+100+200+400+800 ms: about 6 requests each.
  EXPECT_LE(gentle, 40) << "with backOff";
  EXPECT_GT(spinning, 10 * gentle) << "without backOff (gentle: " << gentle << ")";
}

}  // namespace
}  // namespace stampede
