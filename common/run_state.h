// The states of a run, of one agent's part in a run, and of a connected agent's session, as
// typed values. Inside the code states are compared as enums; the strings ("finished",
// "failed: <reason>", "running <run id>") appear only at the edges: protos, the store, output,
// and whatever reads them back (the CLI reading a report). The names are what users, stored
// rows and docs/queries.sql see: they must not change.
#ifndef STAMPEDE_COMMON_RUN_STATE_H_
#define STAMPEDE_COMMON_RUN_STATE_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stampede {

// ---- A run. ----
enum class RunPhase {
  kRunning,                   // "running"
  kFinished,                  // "finished": every agent finished and every batch is in
  kFinishedWithLostAgents,    // "finished-with-lost-agents": some agent was lost (went silent)
  kFinishedWithFailedAgents,  // "finished-with-failed-agents": none lost, but some agent refused
                              // its part (--allow-host, busy) or failed
  kAborted,                   // "aborted": stopped by the user
  kInterrupted,               // "interrupted": the coordinator restarted and agents of the run
                              // did not come back; the report has what was stored
  kFailed,                    // "failed: <reason>": the coordinator could not complete it
};

struct RunState {
  RunPhase phase = RunPhase::kRunning;
  std::string reason;  // why, when kFailed; empty otherwise

  static RunState Failed(std::string reason) { return {RunPhase::kFailed, std::move(reason)}; }
  friend bool operator==(const RunState&, const RunState&) = default;
};

std::string StateName(const RunState& state);
// Reads a name StateName produces; InvalidArgument for anything else.
absl::StatusOr<RunState> ParseRunState(absl::string_view name);

// ---- One agent's part in a run. ----
enum class AgentRunPhase {
  kRunning,   // "running"
  kFinished,  // "finished": its RunFinished came and every batch it announced is in
  kLost,      // "lost": disconnected or silent for longer than the grace
  kAborted,   // "aborted": the run was aborted (set when the run is finalised)
  kFailed,    // "failed: <reason>": the agent reported an error (refused, busy, engine error)
};

struct AgentRunState {
  AgentRunPhase phase = AgentRunPhase::kRunning;
  std::string reason;  // why, when kFailed; empty otherwise

  static AgentRunState Failed(std::string reason) {
    return {AgentRunPhase::kFailed, std::move(reason)};
  }
  // Its part is over: nothing it sends changes the run any more.
  bool terminal() const { return phase != AgentRunPhase::kRunning; }
  friend bool operator==(const AgentRunState&, const AgentRunState&) = default;
};

std::string StateName(const AgentRunState& state);
absl::StatusOr<AgentRunState> ParseAgentRunState(absl::string_view name);

// ---- A connected agent, as `stampede agents` lists it. ----
enum class SessionPhase {
  kIdle,          // "idle": may be chosen for a run
  kStarting,      // "starting": chosen, clocks being synchronised
  kRunning,       // "running <run id>"
  kDisconnected,  // "disconnected": its stream is closed
};

struct SessionState {
  SessionPhase phase = SessionPhase::kIdle;
  std::string run_id;  // which run, when kRunning; empty otherwise

  static SessionState Running(std::string run_id) {
    return {SessionPhase::kRunning, std::move(run_id)};
  }
  friend bool operator==(const SessionState&, const SessionState&) = default;
};

std::string StateName(const SessionState& state);
absl::StatusOr<SessionState> ParseSessionState(absl::string_view name);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_RUN_STATE_H_
