// The `stampede` command-line tool as a user drives it, with real processes on loopback
// (`stampede serve`, two `stampede-agent`s, `stampede-target`): following a run with `watch`,
// stopping it with `abort`, and the exit codes and messages of `validate`, `report` and friends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::Int;
using testing::Query;
using testing::WritePlan;

using testing::BinPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;

// The source tree (tests/CMakeLists.txt defines it).
const std::filesystem::path kRepoDir = STAMPEDE_SOURCE_DIR;

// The text of `"key": "VALUE"` after `from` in a JSON text.
std::string JsonString(const std::string& json, const std::string& key, size_t from = 0) {
  const std::string needle = absl::StrCat("\"", key, "\": \"");
  size_t at = json.find(needle, from);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << key << " in " << json.substr(0, 400);
    return "";
  }
  at += needle.size();
  return json.substr(at, json.find('"', at) - at);
}

// The number of `"key": N` after `from` in a JSON text.
int64_t JsonInt(const std::string& json, const std::string& key, size_t from = 0) {
  const std::string needle = absl::StrCat("\"", key, "\": ");
  size_t at = json.find(needle, from);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no " << key << " in " << json.substr(0, 400);
    return -1;
  }
  at += needle.size();
  return Int(json.substr(at, json.find_first_of(",}", at) - at));
}

// `stampede serve` and two agents (eastus, westeurope), one worker thread each.
int64_t MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

TEST(Cli, WatchFollowsAndAbortStopsALongRun) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  // ~100 ms per request, so that each agent always has several requests in flight.
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "100"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, {"eastus", "westeurope"}).ok());
  // 30 s of 100 req/s per agent: far longer than the test lets it run.
  const std::string plan =
      WritePlan(dir, target_port, R"([{"rate": 100, "duration": "30s"}])", R"({"count": 2})");
  const auto began = std::chrono::steady_clock::now();
  auto run = ChildProcess::Start(
      {BinPath("stampede"), "run", plan, "--coordinator", cluster.address(), "--json"});
  ASSERT_TRUE(run.ok()) << run.status();
  auto started = run->WaitForLine("started on 2 agent", std::chrono::seconds(20));
  ASSERT_TRUE(started.ok()) << started.status() << "\n" << run->output();
  // "run r-YYYYMMDD-HHMMSS-NNN started on 2 agent(s): ..."
  const size_t id_at = started->find("run ") + 4;
  const std::string run_id = started->substr(id_at, started->find(' ', id_at) - id_at);
  ASSERT_TRUE(absl::StartsWith(run_id, "r-")) << *started;

  auto watch = ChildProcess::Start(
      {BinPath("stampede"), "watch", run_id, "--coordinator", cluster.address()});
  ASSERT_TRUE(watch.ok()) << watch.status();
  // Progress lines (plain, not a tty): "[   1.0s] running: N requests, ...", about two a
  // second. Wait for one showing a good part of a second's load, so the abort falls mid-run.
  int64_t seen_requests = 0;
  for (int i = 0; i < 40 && seen_requests < 150; ++i) {
    auto line = watch->WaitForLine("running:", std::chrono::seconds(5));
    ASSERT_TRUE(line.ok()) << line.status() << "\n" << watch->output();
    const size_t at = line->find("running: ") + 9;
    seen_requests = Int(line->substr(at, line->find(' ', at) - at));
  }
  ASSERT_GE(seen_requests, 150) << watch->output();
  ASSERT_LT(MsSince(began), 25'000) << "too slow to abort mid-run";

  auto abort =
      RunCommand({BinPath("stampede"), "abort", run_id, "--coordinator", cluster.address()});
  const auto aborted_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(abort.ok()) << abort.status();
  EXPECT_EQ(abort->exit_code, 0) << abort->output;
  EXPECT_THAT(abort->output, HasSubstr(absl::StrCat("run ", run_id, ": aborted")));

  // Both followers end promptly. A run that did not finish cleanly is exit 1 (coordinator/cli.h:
  // "1 ... the run did not finish"; PrintReport returns 1 when state != "finished").
  auto run_code = run->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(run_code.ok()) << run_code.status() << "\n" << run->output();
  EXPECT_EQ(*run_code, 1) << run->output();
  auto watch_code = watch->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(watch_code.ok()) << watch_code.status() << "\n" << watch->output();
  EXPECT_EQ(*watch_code, 1) << watch->output();
  EXPECT_LT(MsSince(aborted_at), 10'000) << "run/watch did not end soon after the abort";
  EXPECT_LT(MsSince(began), 29'000) << "the run was not stopped early";
  // run --json: the report on stdout says aborted; watch printed the text report after progress.
  EXPECT_THAT(run->output(), HasSubstr("\"state\": \"aborted\""));
  EXPECT_THAT(watch->output(), HasSubstr("aborted"));
  EXPECT_THAT(watch->output(), Not(HasSubstr("lost the coordinator")));
  if (getenv("CLI_TEST_VERBOSE")) std::cerr << watch->output() << run->output();

  // The stored report agrees with the raw records.
  auto report = RunCommand({BinPath("stampede"), "report", run_id, "--coordinator",
                            cluster.address(), "--format", "json"});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->exit_code, 0) << report->output;
  const std::string& json = report->output;
  EXPECT_EQ(JsonString(json, "state"), "aborted");
  const int64_t reported = JsonInt(json, "requests", json.find("\"totals\""));
  const std::string where = absl::StrCat(" WHERE run_id='", run_id, "'");
  const auto count = Query(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM records", where));
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(Int(count[0][0]), reported);
  EXPECT_GT(reported, 0);
  EXPECT_LT(reported, 2 * 100 * 30) << "more requests than a full run";
  // Polled: the coordinator writes the final run row just after it reports the run done (a
  // product race, see link_test's StoredRunIsFinalWhenWaitDoneReturns).
  const std::string run_row_sql = absl::StrCat("SELECT state, requests FROM runs", where);
  for (int i = 0; i < 100; ++i) {
    const auto row = Query(cluster.db(), run_row_sql);
    if (!row.empty() && row[0][0] != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto stored_run = Query(cluster.db(), run_row_sql);
  ASSERT_EQ(stored_run.size(), 1u);
  EXPECT_EQ(stored_run[0][0], "aborted");
  EXPECT_EQ(Int(stored_run[0][1]), reported);

  // `aborted` records are exactly the requests in flight at the stop. Per agent (one worker
  // each): every aborted record ends at the stop instant (start + latency, the same for all),
  // no request of any kind started after it, and every other request ended before it.
  const auto per_agent = Query(
      cluster.db(), absl::StrCat("SELECT agent, COUNT(*), MIN(ts_ns + latency_us * 1000), "
                                 "MAX(ts_ns + latency_us * 1000), MAX(latency_us) FROM records",
                                 where, " AND error = 'aborted' GROUP BY agent ORDER BY agent"));
  int64_t aborted_total = 0;
  for (const auto& row : per_agent) {
    const std::string& agent = row[0];
    const int64_t n = Int(row[1]);
    const int64_t stop_lo = Int(row[2]);
    const int64_t stop_hi = Int(row[3]);
    aborted_total += n;
    // At 100 req/s and ~100 ms each, about 10 are in flight; never more than the run's rate
    // times the plan's 30 s default timeout would allow, and in practice far fewer.
    EXPECT_LE(n, 64) << agent;
    // One stop instant per worker (µs truncation of the latencies).
    EXPECT_LE(stop_hi - stop_lo, 2'000'000) << agent << ": aborted records end at different times";
    // In flight means started within a request's life before the stop (100 ms service plus
    // queueing), not requests of a later part of the schedule.
    EXPECT_LT(Int(row[4]), 5'000'000) << agent;
    const auto after =
        Query(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM records", where, " AND agent='",
                                         agent, "' AND ts_ns > ", stop_hi));
    EXPECT_EQ(Int(after[0][0]), 0) << agent << ": requests started after the stop";
    const auto completed_late = Query(
        cluster.db(), absl::StrCat("SELECT COUNT(*) FROM records", where, " AND agent='", agent,
                                   "' AND error <> 'aborted' AND ts_ns + latency_us * 1000 > ",
                                   stop_hi + 2'000'000));
    EXPECT_EQ(Int(completed_late[0][0]), 0) << agent << ": completions after the stop";
  }
  // With ~10 requests in flight per agent at any moment, the stop catches some.
  EXPECT_GT(aborted_total, 0) << "no request was in flight at the stop?";
  EXPECT_EQ(JsonInt(json, "aborted", json.find("\"byError\"")), aborted_total);

  // `stampede runs` lists it as aborted.
  auto runs = RunCommand({BinPath("stampede"), "runs", "--coordinator", cluster.address()});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->exit_code, 0);
  bool listed = false;
  for (absl::string_view l : absl::StrSplit(runs->output, '\n')) {
    if (absl::StrContains(l, run_id)) listed = absl::StrContains(l, "aborted");
  }
  EXPECT_TRUE(listed) << runs->output;

  // Aborting again is harmless and says what the run is; an unknown run is exit 3, named.
  auto again =
      RunCommand({BinPath("stampede"), "abort", run_id, "--coordinator", cluster.address()});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 0) << again->output;
  EXPECT_THAT(again->output, HasSubstr("aborted"));
  auto unknown =
      RunCommand({BinPath("stampede"), "abort", "r-nope", "--coordinator", cluster.address()});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->exit_code, 3) << unknown->output;
  EXPECT_THAT(unknown->output, HasSubstr("r-nope"));
}

TEST(Cli, WatchOfAFinishedRunPrintsItsReport) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "2", "--concurrency", "8", "--service-ms", "1"},
                                     &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  testing::ProcessCluster cluster;
  ASSERT_TRUE(cluster.Start(dir, {"eastus", "westeurope"}).ok());
  const std::string plan =
      WritePlan(dir, target_port, R"([{"concurrency": 2, "requests": 100}])", R"({"count": 2})");
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--coordinator", cluster.address()});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->output;
  const size_t id_at = run->output.find("run r-") + 4;
  const std::string run_id = run->output.substr(id_at, run->output.find(' ', id_at) - id_at);
  auto watch =
      RunCommand({BinPath("stampede"), "watch", run_id, "--coordinator", cluster.address()}, {},
                 std::chrono::seconds(20));
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(watch->exit_code, 0) << watch->output;
  EXPECT_THAT(watch->output, HasSubstr("finished: 200 requests"));
  EXPECT_THAT(watch->output, HasSubstr(run_id));
  // An unknown run: exit 3, named.
  auto unknown =
      RunCommand({BinPath("stampede"), "watch", "r-nope", "--coordinator", cluster.address()});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->exit_code, 3) << unknown->output;
  EXPECT_THAT(unknown->output, HasSubstr("r-nope"));
}

TEST(Cli, ValidateExamplePlanAndBrokenPlan) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  const std::string smoke = (kRepoDir / "examples" / "smoke.json").string();
  auto ok = RunCommand({BinPath("stampede"), "validate", smoke}, {"SCORING_KEY=test-key"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->exit_code, 0) << ok->output;
  EXPECT_THAT(ok->output, HasSubstr("ok: smoke"));
  EXPECT_THAT(ok->output, Not(HasSubstr("test-key"))) << "the key must never be printed";

  // A negative rate in the second stage: exit 2, the field path named.
  std::ofstream(dir / "payload.json") << "{}";
  const std::string broken = (dir / "broken.json").string();
  std::ofstream(broken)
      << R"({"name": "broken", "target": {"url": "http://127.0.0.1:1/score",)"
      << R"( "payloadFile": "payload.json"}, "stages": [)"
      << R"({"concurrency": 1, "requests": 10}, {"rate": -5, "duration": "1s"}]})";
  auto bad = RunCommand({BinPath("stampede"), "validate", broken});
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_THAT(bad->output, HasSubstr("invalid"));
  EXPECT_THAT(bad->output, HasSubstr("stages[1].rate"));

  // Not JSON at all, and a missing file: exit 2 too.
  std::ofstream(dir / "not.json") << "this is not json";
  auto garbage = RunCommand({BinPath("stampede"), "validate", (dir / "not.json").string()});
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->exit_code, 2) << garbage->output;
  auto missing = RunCommand({BinPath("stampede"), "validate", (dir / "nope.json").string()});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 2) << missing->output;
  EXPECT_THAT(missing->output, HasSubstr("nope.json"));
}

TEST(Cli, UsageErrorsExitTwo) {
  auto unknown = RunCommand({BinPath("stampede"), "frobnicate"});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->exit_code, 2) << unknown->output;
  EXPECT_THAT(unknown->output, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(unknown->output, HasSubstr("usage: stampede COMMAND"));

  auto none = RunCommand({BinPath("stampede")});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->exit_code, 2) << none->output;

  // A bad --format is refused before any coordinator is dialled (none runs on this address).
  auto format = RunCommand(
      {BinPath("stampede"), "report", "r-any", "--format", "xml", "--coordinator", "127.0.0.1:1"});
  ASSERT_TRUE(format.ok());
  EXPECT_EQ(format->exit_code, 2) << format->output;
  EXPECT_THAT(format->output, HasSubstr("--format"));
  EXPECT_THAT(format->output, HasSubstr("xml"));

  auto watch = RunCommand({BinPath("stampede"), "watch"});
  ASSERT_TRUE(watch.ok());
  EXPECT_EQ(watch->exit_code, 2) << watch->output;
  auto abort = RunCommand({BinPath("stampede"), "abort"});
  ASSERT_TRUE(abort.ok());
  EXPECT_EQ(abort->exit_code, 2) << abort->output;

  auto help = RunCommand({BinPath("stampede"), "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->exit_code, 0);
  EXPECT_THAT(help->output, HasSubstr("watch RUN"));
  EXPECT_THAT(help->output, HasSubstr("abort RUN"));
}

// `--help` on every command of every binary: exit 0, the help on stdout (stderr is dropped
// here), and every flag of that command listed.
TEST(Cli, EveryCommandListsItsFlagsOnHelp) {
  const std::vector<std::string> remote = {"--coordinator", "--token"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"stampede", "demo"}, {"--dir", "--json"}},
      {{"stampede", "validate"}, {"PLAN.json"}},
      {{"stampede", "run"},
       with(remote, {"PLAN.json", "--local-agents", "--db", "--regions", "--json", "--quiet"})},
      {{"stampede", "serve"},
       {"--listen", "--db", "--token", "--agent-grace", "--tls-cert", "--tls-key",
        "--tls-client-ca"}},
      {{"stampede", "agents"}, with(remote, {"--json"})},
      {{"stampede", "runs"}, with(remote, {"--db"})},
      {{"stampede", "watch"}, with(remote, {"RUN", "--json"})},
      {{"stampede", "abort"}, with(remote, {"RUN"})},
      {{"stampede", "report"}, with(remote, {"RUN", "--db", "--format", "-o, --output"})},
      {{"stampede", "saturate"},
       with(remote, {"PLAN.json", "--local-agents", "--db", "--regions", "--single-client",
                     "--target-rps", "--pods-tested", "--json"})},
      {{"stampede", "size"},
       {"--rps", "--latency-ms", "--pod-concurrency", "--cpu-per-pod", "--vm-cores",
        "--node-overhead", "--cluster-overhead", "--target-rps", "--pod-saturation-rps",
        "--operating-fraction", "--json"}},
      {{"stampede-agent"},
       {"--coordinator", "--name", "--region", "--label", "--token", "--threads", "--allow-host",
        "--tls-ca", "--tls-cert", "--tls-key", "--version"}},
      {{"stampede-agent", "run"}, {"PLAN.json", "-o, --out", "--json", "--threads", "-q, --quiet"}},
      {{"stampede-target"},
       {"--host", "--port", "--replicas", "--concurrency", "--queue", "--service-ms",
        "--service-dist", "--jitter", "--key", "--fail-rate", "--stall-after", "--stall-ms",
        "--threads", "--seed", "--version"}},
  };
  for (const auto& [command, flags] : cases) {
    const std::string name = absl::StrJoin(command, " ");
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>/dev/null",
                                     BinPath(command[0])};
    argv.insert(argv.end(), command.begin() + 1, command.end());
    argv.push_back("--help");
    auto help = RunCommand(argv, {}, std::chrono::seconds(10));
    ASSERT_TRUE(help.ok()) << name << ": " << help.status();
    EXPECT_EQ(help->exit_code, 0) << name << ": " << help->output;
    EXPECT_THAT(help->output, HasSubstr(absl::StrCat("usage: ", name))) << name;
    EXPECT_THAT(help->output, HasSubstr("-h, --help")) << name;
    for (const std::string& flag : flags) {
      // A flag's own line starts with it (after the alias column); a positional's too.
      EXPECT_THAT(help->output, HasSubstr(absl::StrCat("  ", flag, " "))) << name << " " << flag;
    }
  }
  // The defaults that come from the environment say so, and -h is --help.
  auto agents = RunCommand({BinPath("stampede"), "agents", "-h"});
  ASSERT_TRUE(agents.ok());
  EXPECT_EQ(agents->exit_code, 0);
  EXPECT_THAT(agents->output, HasSubstr("(default: $STAMPEDE_COORDINATOR or 127.0.0.1:7700)"));
  EXPECT_THAT(agents->output, HasSubstr("(default: $STAMPEDE_TOKEN)"));
  // --version on each binary.
  for (const char* binary : {"stampede", "stampede-agent", "stampede-target"}) {
    auto version = RunCommand({BinPath(binary), "--version"});
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(version->exit_code, 0) << binary << ": " << version->output;
    EXPECT_THAT(version->output, HasSubstr(absl::StrCat(binary, " " STAMPEDE_VERSION)));
  }
}

TEST(Cli, AgentRunsAPlanAlone) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "2", "--concurrency", "8", "--service-ms", "1"},
                                     &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, target_port, R"([{"concurrency": 2, "requests": 150}])", R"({})");
  const std::string csv = (dir / "records.csv").string();
  auto run = RunCommand(
      {BinPath("stampede-agent"), "run", plan, "--out", csv, "--threads", "1", "--quiet"}, {},
      std::chrono::seconds(30));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("150"));
  std::ifstream in(csv);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) lines += !line.empty();
  EXPECT_EQ(lines, 151) << "a header and one line per request";

  auto bad = RunCommand({BinPath("stampede-agent"), "run", plan, "--threads", "zero"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_THAT(bad->output, HasSubstr("--threads"));
}

// Two embedded runs (two in-process coordinators) sharing one store, started together: both
// finish, with distinct run ids and every record stored once.
TEST(Cli, ConcurrentEmbeddedRunsShareOneStore) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  int target_port = 0;
  auto target = testing::StartTarget({"--replicas", "2", "--concurrency", "8", "--service-ms", "1"},
                                     &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, target_port, R"([{"concurrency": 2, "requests": 100}])", R"({})");
  const std::string db = (dir / "shared.db").string();
  std::vector<testing::ChildProcess> runs;
  for (int i = 0; i < 2; ++i) {
    auto run = testing::ChildProcess::Start({BinPath("stampede"), "run", plan, "--local-agents",
                                             "1", "--db", db, "--quiet"});
    ASSERT_TRUE(run.ok()) << run.status();
    runs.push_back(std::move(*run));
  }
  for (auto& run : runs) {
    auto code = run.Wait(std::chrono::seconds(60));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << run.output();
  }
  const auto ids = Query(db, "SELECT COUNT(DISTINCT run_id), COUNT(*) FROM runs");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0][0], "2");
  EXPECT_EQ(ids[0][1], "2");
  EXPECT_EQ(Query(db, "SELECT COUNT(*) FROM records")[0][0], "200");
}

// Finding 8: no secret in clear by accident. A coordinator that would take the token and the
// plans' bearer keys over the network in plaintext refuses to start unless told it is meant; the
// token can come from a file, out of the process table; a second service cannot share a store.
TEST(Cli, ServeRefusesPlaintextBeyondLoopbackAndKeepsTheTokenOutOfTheProcessTable) {
  const auto dir = testing::UniqueTestDir("stampede-cli");
  const std::string db = (dir / "stampede.db").string();
  auto refused = RunCommand({BinPath("stampede"), "serve", "--listen", "0.0.0.0:0", "--db", db,
                             "--token", "T"});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->exit_code, 2) << refused->output;
  EXPECT_THAT(refused->output, HasSubstr("not a loopback address and there is no TLS"));
  EXPECT_THAT(refused->output, HasSubstr("--insecure-plaintext"));

  std::ofstream(dir / "token") << "s3cret-token-value\n";
  auto serve = testing::ChildProcess::Start({BinPath("stampede"), "serve", "--listen",
                                             "127.0.0.1:0", "--db", db, "--token-file",
                                             (dir / "token").string()});
  ASSERT_TRUE(serve.ok()) << serve.status();
  auto line = serve->WaitForLine("coordinator listening on", std::chrono::seconds(10));
  ASSERT_TRUE(line.ok()) << line.status() << serve->output();
  std::ifstream cmdline(absl::StrCat("/proc/", serve->pid(), "/cmdline"));
  std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  EXPECT_THAT(args, HasSubstr("--token-file"));
  EXPECT_THAT(args, Not(HasSubstr("s3cret")));
  const size_t on = line->find(" on ") + 4;
  const std::string address = line->substr(on, line->find(',') - on);
  auto bad = RunCommand({BinPath("stampede"), "agents", "--coordinator", address, "--token", "x"});
  ASSERT_TRUE(bad.ok());
  EXPECT_NE(bad->exit_code, 0);
  EXPECT_THAT(bad->output, HasSubstr("bad or missing token"));
  auto good = RunCommand({BinPath("stampede"), "agents", "--coordinator", address,
                          "--token-file", (dir / "token").string()});
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->exit_code, 0) << good->output;

  // One coordinator service per store.
  auto second = RunCommand({BinPath("stampede"), "serve", "--listen", "127.0.0.1:0", "--db", db});
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->exit_code, 0);
  EXPECT_THAT(second->output, HasSubstr("another coordinator is using the store"));
}

}  // namespace
}  // namespace stampede
