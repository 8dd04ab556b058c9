#include "common/run_state.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace stampede {
namespace {

constexpr absl::string_view kFailedPrefix = "failed: ";
constexpr absl::string_view kRunningPrefix = "running ";

absl::Status Unknown(absl::string_view what, absl::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("unknown ", what, " state \"", name, "\""));
}

}  // namespace

std::string StateName(const RunState& state) {
  switch (state.phase) {
    case RunPhase::kRunning:
      return "running";
    case RunPhase::kFinished:
      return "finished";
    case RunPhase::kFinishedWithLostAgents:
      return "finished-with-lost-agents";
    case RunPhase::kFinishedWithFailedAgents:
      return "finished-with-failed-agents";
    case RunPhase::kAborted:
      return "aborted";
    case RunPhase::kInterrupted:
      return "interrupted";
    case RunPhase::kFailed:
      return absl::StrCat(kFailedPrefix, state.reason);
  }
  return "unknown";
}

absl::StatusOr<RunState> ParseRunState(absl::string_view name) {
  if (name == "running") return RunState{RunPhase::kRunning, ""};
  if (name == "finished") return RunState{RunPhase::kFinished, ""};
  if (name == "finished-with-lost-agents") return RunState{RunPhase::kFinishedWithLostAgents, ""};
  if (name == "finished-with-failed-agents") {
    return RunState{RunPhase::kFinishedWithFailedAgents, ""};
  }
  if (name == "aborted") return RunState{RunPhase::kAborted, ""};
  if (name == "interrupted") return RunState{RunPhase::kInterrupted, ""};
  if (absl::ConsumePrefix(&name, kFailedPrefix)) return RunState::Failed(std::string(name));
  return Unknown("run", name);
}

std::string StateName(const AgentRunState& state) {
  switch (state.phase) {
    case AgentRunPhase::kRunning:
      return "running";
    case AgentRunPhase::kFinished:
      return "finished";
    case AgentRunPhase::kLost:
      return "lost";
    case AgentRunPhase::kAborted:
      return "aborted";
    case AgentRunPhase::kFailed:
      return absl::StrCat(kFailedPrefix, state.reason);
  }
  return "unknown";
}

absl::StatusOr<AgentRunState> ParseAgentRunState(absl::string_view name) {
  if (name == "running") return AgentRunState{AgentRunPhase::kRunning, ""};
  if (name == "finished") return AgentRunState{AgentRunPhase::kFinished, ""};
  if (name == "lost") return AgentRunState{AgentRunPhase::kLost, ""};
  if (name == "aborted") return AgentRunState{AgentRunPhase::kAborted, ""};
  if (absl::ConsumePrefix(&name, kFailedPrefix)) return AgentRunState::Failed(std::string(name));
  return Unknown("agent run", name);
}

std::string StateName(const SessionState& state) {
  switch (state.phase) {
    case SessionPhase::kIdle:
      return "idle";
    case SessionPhase::kStarting:
      return "starting";
    case SessionPhase::kRunning:
      return absl::StrCat(kRunningPrefix, state.run_id);
    case SessionPhase::kDisconnected:
      return "disconnected";
  }
  return "unknown";
}

absl::StatusOr<SessionState> ParseSessionState(absl::string_view name) {
  if (name == "idle") return SessionState{SessionPhase::kIdle, ""};
  if (name == "starting") return SessionState{SessionPhase::kStarting, ""};
  if (name == "disconnected") return SessionState{SessionPhase::kDisconnected, ""};
  if (absl::ConsumePrefix(&name, kRunningPrefix) && !name.empty()) {
    return SessionState::Running(std::string(name));
  }
  return Unknown("agent", name);
}

}  // namespace stampede
