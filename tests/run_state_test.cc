// Typed run, agent and session states: their names are exactly the strings users, stored rows and
// docs/queries.sql have always seen, and the parsers read back every one of them (and nothing
// else).
#include "common/run_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stampede {
namespace {

TEST(RunState, NamesAreTheStoredStrings) {
  EXPECT_EQ(StateName(RunState{}), "running");
  EXPECT_EQ(StateName(RunState{RunPhase::kFinished, ""}), "finished");
  EXPECT_EQ(StateName(RunState{RunPhase::kFinishedWithLostAgents, ""}),
            "finished-with-lost-agents");
  EXPECT_EQ(StateName(RunState{RunPhase::kFinishedWithFailedAgents, ""}),
            "finished-with-failed-agents");
  EXPECT_EQ(StateName(RunState{RunPhase::kAborted, ""}), "aborted");
  EXPECT_EQ(StateName(RunState::Failed("disk full")), "failed: disk full");
}

TEST(RunState, ParsesWhatItNames) {
  for (const std::string name :
       {"running", "finished", "finished-with-lost-agents", "finished-with-failed-agents",
        "aborted", "failed: disk full", "failed: "}) {
    auto state = ParseRunState(name);
    ASSERT_TRUE(state.ok()) << name << ": " << state.status();
    EXPECT_EQ(StateName(*state), name);
  }
  auto failed = ParseRunState("failed: store: no space");
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->phase, RunPhase::kFailed);
  EXPECT_EQ(failed->reason, "store: no space");
  EXPECT_EQ(ParseRunState("finished")->phase, RunPhase::kFinished);
}

TEST(RunState, RefusesUnknownNames) {
  for (const std::string name : {"", "Finished", "finished ", "lost", "failed", "idle"}) {
    EXPECT_FALSE(ParseRunState(name).ok()) << name;
  }
  EXPECT_EQ(ParseRunState("done").status().message(), "unknown run state \"done\"");
}

TEST(AgentRunState, NamesParseBackAndOnlyRunningIsNotTerminal) {
  const std::vector<std::pair<AgentRunState, std::string>> cases = {
      {{AgentRunPhase::kRunning, ""}, "running"},
      {{AgentRunPhase::kFinished, ""}, "finished"},
      {{AgentRunPhase::kLost, ""}, "lost"},
      {{AgentRunPhase::kAborted, ""}, "aborted"},
      {AgentRunState::Failed("agent is busy with another run"),
       "failed: agent is busy with another run"},
  };
  for (const auto& [state, name] : cases) {
    EXPECT_EQ(StateName(state), name);
    auto parsed = ParseAgentRunState(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, state);
    EXPECT_EQ(state.terminal(), state.phase != AgentRunPhase::kRunning) << name;
  }
  EXPECT_FALSE(AgentRunState{}.terminal());
  EXPECT_FALSE(ParseAgentRunState("finished-with-lost-agents").ok());
}

TEST(SessionState, RunningCarriesTheRunId) {
  EXPECT_EQ(StateName(SessionState{}), "idle");
  EXPECT_EQ(StateName(SessionState{SessionPhase::kStarting, ""}), "starting");
  EXPECT_EQ(StateName(SessionState::Running("r-20240101-000000-00ab")),
            "running r-20240101-000000-00ab");
  EXPECT_EQ(StateName(SessionState{SessionPhase::kDisconnected, ""}), "disconnected");
  for (const std::string name :
       {"idle", "starting", "running r-20240101-000000-00ab", "disconnected"}) {
    auto parsed = ParseSessionState(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(StateName(*parsed), name);
  }
  EXPECT_EQ(ParseSessionState("running r-1")->run_id, "r-1");
  EXPECT_FALSE(ParseSessionState("running").ok());
  EXPECT_FALSE(ParseSessionState("running ").ok());
  EXPECT_FALSE(ParseSessionState("busy").ok());
}

}  // namespace
}  // namespace stampede
