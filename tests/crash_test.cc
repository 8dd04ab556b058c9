// Nothing crashes, nothing is lost: real processes (`stampede serve`, `stampede-agent`s,
// `stampede-target`) under real faults. A coordinator killed with SIGKILL mid-run and restarted
// on the same store; a link cut for 10 s under the default agent grace. Each run must end
// normally with the store holding exactly the requests the server saw, each once.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"
#include "tests/support/tcp_proxy.h"

namespace stampede {
namespace {

using testing::BinPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::PollUntil;
using testing::Query;
using testing::RunCommand;
using testing::ServerRequests;

// `stampede serve` on the given listen address; returns it and fills `address`.
std::unique_ptr<ChildProcess> StartServe(const std::string& listen, const std::string& db,
                                         std::string* address) {
  return testing::StartServeProcess({"--listen", listen, "--db", db}, address);
}

std::unique_ptr<ChildProcess> StartAgent(const std::string& coordinator, const std::string& name,
                                         const std::string& spool_dir = "") {
  std::vector<std::string> argv = {BinPath("stampede-agent"),
                                   "--coordinator",
                                   coordinator,
                                   "--name",
                                   name,
                                   "--region",
                                   "eastus",
                                   "--threads",
                                   "1"};
  if (!spool_dir.empty()) {
    argv.push_back("--spool-dir");
    argv.push_back(spool_dir);
  }
  auto agent = ChildProcess::Start(argv);
  EXPECT_TRUE(agent.ok()) << agent.status();
  return agent.ok() ? std::make_unique<ChildProcess>(std::move(*agent)) : nullptr;
}

bool AgentsIdle(const std::string& address, int want) {
  return PollUntil(
      [&] {
        auto out = RunCommand({BinPath("stampede"), "agents", "--coordinator", address});
        if (!out.ok() || out->exit_code != 0) return false;
        int idle = 0;
        size_t at = 0;
        while ((at = out->output.find(" idle ", at)) != std::string::npos) {
          ++idle;
          ++at;
        }
        return idle >= want;
      },
      std::chrono::seconds(15));
}

// Starts `stampede run` on the coordinator in the background; fills the run id.
std::unique_ptr<ChildProcess> StartRun(const std::string& plan, const std::string& address,
                                       std::string* run_id) {
  auto run = ChildProcess::Start({BinPath("stampede"), "run", plan, "--coordinator", address});
  EXPECT_TRUE(run.ok());
  if (!run.ok()) return nullptr;
  auto line = run->WaitForLine("started on", std::chrono::seconds(20));
  EXPECT_TRUE(line.ok()) << line.status() << "\n" << run->output();
  if (!line.ok()) return nullptr;
  const size_t at = line->find("run ") + 4;
  *run_id = line->substr(at, line->find(' ', at) - at);
  return std::make_unique<ChildProcess>(std::move(*run));
}

int64_t Stored(const std::string& db, const std::string& run_id, const std::string& what) {
  const auto rows =
      Query(db, absl::StrCat("SELECT ", what, " FROM records WHERE run_id='", run_id, "'"));
  return rows.empty() ? -1 : testing::Int(rows[0][0]);
}

// Distinct (agent, intended start) pairs of the run's records: with one worker per agent and
// constant arrivals every request has its own, so a record stored twice makes this smaller than
// the count.
int64_t DistinctRecords(const std::string& db, const std::string& run_id) {
  const auto rows = Query(db, absl::StrCat("SELECT COUNT(*) FROM (SELECT DISTINCT agent, ts_ns "
                                           "FROM records WHERE run_id='",
                                           run_id, "')"));
  return rows.empty() ? -1 : testing::Int(rows[0][0]);
}

TEST(CrashSafety, ACoordinatorKilledMidRunAndRestartedEndsTheRunWithEveryRecord) {
  const auto dir = testing::UniqueTestDir("stampede-crash");
  const std::string db = (dir / "stampede.db").string();
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "2"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::string address;
  auto serve = StartServe("127.0.0.1:0", db, &address);
  ASSERT_NE(serve, nullptr);
  auto agent0 = StartAgent(address, "agent-0");
  auto agent1 = StartAgent(address, "agent-1");
  ASSERT_TRUE(agent0 && agent1 && AgentsIdle(address, 2));
  // 2 agents x 150 requests/s x 6 s.
  const std::string plan =
      testing::WritePlan(dir, target_port, R"([{"rate": 150, "duration": "6s"}])", "{}");
  std::string run_id;
  auto run = StartRun(plan, address, &run_id);
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(
      PollUntil([&] { return Stored(db, run_id, "COUNT(*)") > 200; }, std::chrono::seconds(15)));

  // The coordinator dies mid-run, without a word to anyone.
  serve->Signal(SIGKILL);
  ASSERT_TRUE(serve->Wait(std::chrono::seconds(10)).ok());
  const int64_t stored_at_kill = Stored(db, run_id, "COUNT(*)");
  // And comes back on the same address and store.
  std::string again;
  serve = StartServe(address, db, &again);
  ASSERT_NE(serve, nullptr);
  EXPECT_THAT(serve->output(), HasSubstr("event=recovered"));

  // The run ends normally: followed from the restarted coordinator, its report complete.
  auto watch = RunCommand({BinPath("stampede"), "watch", run_id, "--coordinator", address}, {},
                          std::chrono::seconds(60));
  ASSERT_TRUE(watch.ok());
  EXPECT_EQ(watch->exit_code, 0) << watch->output;
  EXPECT_THAT(watch->output, HasSubstr("state finished"));
  const int64_t expected = 2 * 150 * 6;
  EXPECT_GT(stored_at_kill, 0);
  EXPECT_LT(stored_at_kill, expected);
  EXPECT_EQ(ServerRequests(target_port), expected) << "the agents ran their whole schedule";
  EXPECT_EQ(Stored(db, run_id, "COUNT(*)"), expected) << "every request stored";
  EXPECT_EQ(DistinctRecords(db, run_id), expected) << "none twice";
  const auto row =
      Query(db, absl::StrCat("SELECT state, requests FROM runs WHERE run_id='", run_id, "'"));
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], "finished");
  EXPECT_EQ(testing::Int(row[0][1]), expected);
}

TEST(CrashSafety, ATenSecondPartitionUnderTheDefaultGraceLosesNothing) {
  const auto dir = testing::UniqueTestDir("stampede-crash");
  const std::string db = (dir / "stampede.db").string();
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "2"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::string address;
  auto serve = StartServe("127.0.0.1:0", db, &address);  // the default grace: 5 s
  ASSERT_NE(serve, nullptr);
  int coordinator_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &coordinator_port));
  // agent-0 reaches the coordinator through a link the test can cut.
  auto proxy = testing::TcpProxy::Start(coordinator_port);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  auto agent0 = StartAgent(absl::StrCat("127.0.0.1:", (*proxy)->port()), "agent-0");
  auto agent1 = StartAgent(address, "agent-1");
  ASSERT_TRUE(agent0 && agent1 && AgentsIdle(address, 2));
  const std::string plan =
      testing::WritePlan(dir, target_port, R"([{"rate": 100, "duration": "14s"}])", "{}");
  std::string run_id;
  auto run = StartRun(plan, address, &run_id);
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] {
        return Stored(db, run_id, "COUNT(*)") > 0 &&
               testing::Int(Query(db, absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='",
                                                   run_id, "' AND agent='agent-0'"))[0][0]) > 100;
      },
      std::chrono::seconds(15)));

  // The link is down for 10 s, twice the grace: agent-0 is declared lost, and keeps running.
  (*proxy)->SetAccepting(false);
  (*proxy)->CutAll();
  std::this_thread::sleep_for(std::chrono::seconds(10));  // the fault itself, not a wait
  (*proxy)->SetAccepting(true);

  // Every request ends up stored once, and the stored report says so.
  const int64_t expected = 2 * 100 * 14;
  ASSERT_TRUE(PollUntil(
      [&] {
        const auto row =
            Query(db, absl::StrCat("SELECT state, requests FROM runs WHERE run_id='", run_id, "'"));
        return !row.empty() && row[0][0] == "finished" && testing::Int(row[0][1]) == expected;
      },
      std::chrono::seconds(40)))
      << Query(db,
               absl::StrCat("SELECT state, requests FROM runs WHERE run_id='", run_id, "'"))[0][0];
  EXPECT_EQ(ServerRequests(target_port), expected);
  EXPECT_EQ(Stored(db, run_id, "COUNT(*)"), expected);
  EXPECT_EQ(DistinctRecords(db, run_id), expected) << "none twice";
  const auto states = Query(db, absl::StrCat("SELECT agent_id, state FROM run_agents WHERE "
                                             "run_id='",
                                             run_id, "' ORDER BY agent_id"));
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0][1], "finished");
  EXPECT_EQ(states[1][1], "finished");
}

TEST(CrashSafety, AnAgentKilledAndRestartedMidRunEndsItsPartAndResendsItsSpool) {
  const auto dir = testing::UniqueTestDir("stampede-crash");
  const std::string db = (dir / "stampede.db").string();
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "2"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::string address;
  auto serve = StartServe("127.0.0.1:0", db, &address);
  ASSERT_NE(serve, nullptr);
  int coordinator_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &coordinator_port));
  // agent-0's acknowledgements are held back, so that its spool on disk holds everything it
  // recorded when it is killed.
  auto proxy = testing::TcpProxy::Start(coordinator_port);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  const std::string spool = (dir / "spool-0").string();
  auto agent0 = StartAgent(absl::StrCat("127.0.0.1:", (*proxy)->port()), "agent-0", spool);
  auto agent1 = StartAgent(address, "agent-1");
  ASSERT_TRUE(agent0 && agent1 && AgentsIdle(address, 2));
  const std::string plan =
      testing::WritePlan(dir, target_port, R"([{"rate": 100, "duration": "6s"}])", "{}");
  std::string run_id;
  const auto started = std::chrono::steady_clock::now();
  auto run = StartRun(plan, address, &run_id);
  ASSERT_NE(run, nullptr);
  // Hold back only once agent-0 has its start: a StartRun still in the proxy would be held too,
  // and agent-0 would never begin.
  auto began = agent0->WaitForLine("event=run_started", std::chrono::seconds(15));
  ASSERT_TRUE(began.ok()) << agent0->output();
  (*proxy)->SetHoldReplies(true);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // agent-0 records 2 s of its schedule
  agent0->Signal(SIGKILL);
  ASSERT_TRUE(agent0->Wait(std::chrono::seconds(10)).ok());
  const int64_t served_at_kill = ServerRequests(target_port);  // both agents' so far
  (*proxy)->CutAll();

  // systemd brings it back under the same name, on the same spool, straight to the coordinator.
  agent0 = StartAgent(address, "agent-0", spool);
  ASSERT_NE(agent0, nullptr);

  // The run ends on time: agent-0's part ended at its restart, agent-1 finishes its 6 s.
  auto watch = RunCommand({BinPath("stampede"), "watch", run_id, "--coordinator", address}, {},
                          std::chrono::seconds(60));
  ASSERT_TRUE(watch.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
  EXPECT_THAT(watch->output, HasSubstr("state finished-with-lost-agents"));

  // What agent-0 had written to its spool reaches the store after its restart; at most the
  // records still in its worker's buffer (a 100 ms flush) and in flight are lost. The run has
  // ended, so the service's count is final: agent-1's 600 and what agent-0 sent before the kill.
  const int64_t agent0_sent = ServerRequests(target_port) - 600;
  ASSERT_GT(agent0_sent, 30) << "agent-0 was killed before it sent anything to speak of";
  auto stored0 = [&] {
    return testing::Int(Query(db, absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='",
                                               run_id, "' AND agent='agent-0'"))[0][0]);
  };
  EXPECT_TRUE(PollUntil([&] { return stored0() >= agent0_sent - 30; }, std::chrono::seconds(20)))
      << "agent-0 sent " << agent0_sent << ", stored " << stored0();
  const int64_t agent1_records =
      testing::Int(Query(db, absl::StrCat("SELECT COUNT(*) FROM records WHERE run_id='", run_id,
                                          "' AND agent='agent-1'"))[0][0]);
  EXPECT_EQ(agent1_records, 600);
  const int64_t agent0_records = stored0();
  EXPECT_LE(agent0_records, agent0_sent);
  EXPECT_GE(agent0_records, agent0_sent - 30) << "only what was not yet in its spool is lost";
  EXPECT_LE(agent0_sent, served_at_kill) << "agent-0 sent nothing after the kill";
  EXPECT_EQ(DistinctRecords(db, run_id), agent0_records + 600) << "none twice";
  const auto reported =
      Query(db, absl::StrCat("SELECT requests FROM runs WHERE run_id='", run_id, "'"));
  EXPECT_TRUE(PollUntil(
      [&] {
        return testing::Int(Query(db, absl::StrCat("SELECT requests FROM runs WHERE run_id='",
                                                   run_id, "'"))[0][0]) == agent0_records + 600;
      },
      std::chrono::seconds(10)))
      << "the stored report counts the late records too";
}

}  // namespace
}  // namespace stampede
