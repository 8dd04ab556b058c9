// The coordinator's core: connected agents, and runs from start to stored report.
//
// - Agents (coordinator/services.cc feeds their streams in): one identity per name; a reconnect
//   of the same process (same instance id) resumes its runs, a restart loses its share of them.
// - Ingest: every batch is validated before it touches state, deduplicated by (run, agent, seq),
//   aggregated, and acknowledged only once the store has committed it; records that arrive after
//   their agent was declared lost, or after the run ended, are still stored and the report is
//   rebuilt ("lost" means "stopped hearing from", never "throw away").
// - Time: Tick() marks silent agents lost and finalises runs whose agents are all done; a monitor
//   thread calls it every 50 ms, or the owner does (tests, with a fake clock).
// - Crash safety: a run and its agents are in the store before any agent is told to start; after
//   a restart Recover() reloads unfinished runs (their merged views rebuilt from the stored
//   records, their ledgers from the stored batches) and waits for the agents to come back; a run
//   whose agents do not come back is finalized as "interrupted".
//
// Files: run_manager.cc (agents, starting runs, the CLI's calls), run_ingest.cc (batches,
// commits, finishes), run_lifecycle.cc (Tick, finalising, recovery).
#ifndef STAMPEDE_COORDINATOR_RUN_MANAGER_H_
#define STAMPEDE_COORDINATOR_RUN_MANAGER_H_

#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/log_line.h"
#include "common/run_aggregator.h"
#include "common/run_state.h"
#include "control.pb.h"
#include "coordinator/agent_session.h"
#include "coordinator/seq_ledger.h"
#include "coordinator/store.h"

namespace stampede {

struct RunManagerOptions {
  // Agents and CLI clients must present this token when it is not empty.
  std::string token;
  // An agent not heard from for this long (on the manager's Clock) is marked lost.
  absl::Duration agent_grace = absl::Seconds(5);
  // After a coordinator restart, how long agents of the reloaded runs have to come back.
  absl::Duration resume_grace = absl::Seconds(30);
  // A finished run stays in memory this long, taking records that arrive late; after that its
  // report is served from the store and late batches for it are refused.
  absl::Duration late_window = absl::Minutes(10);
  // A record's timestamps may lie this far outside its run (before its start, after now), beyond
  // twice the agent's clock uncertainty: scheduling, NTP steps. Anything further is refused.
  absl::Duration timestamp_slack = absl::Seconds(10);
  // Extra time between scheduling the start and the start instant, beyond the round trips.
  absl::Duration start_margin = absl::Milliseconds(300);
  int clock_pings = 5;
  // Worker threads each agent should use (0: the agent's cores). Embedded runs set it so that
  // local agents share the machine's cores.
  int agent_threads = 0;
  // Mutual TLS: an agent must register under a name its client certificate carries.
  bool bind_names_to_certificates = false;
  // Whether a thread calls Tick() every 50 ms. Without it nothing is marked lost and no run is
  // finalised unless the owner calls Tick(): tests do, after moving a fake clock.
  bool monitor_thread = true;
  // Where the manager's key=value event lines go (refused batches, lost agents, recovery); by
  // default stderr, which systemd's journal keeps. Tests and the fuzzer read or drop them.
  LogFn log = [](const std::string& line) {
    std::cerr << absl::StrCat("coordinator: ", line, "\n") << std::flush;  // one write a line
  };
  // Which of them are written (common/log_line.h): by default warnings and errors only, so that
  // an embedded coordinator prints nothing but trouble; `stampede serve` passes its --log-level
  // (info). Info: agents joining and leaving, runs starting and ending. Warn: refused agents and
  // batches, lost agents, crash recovery. Error: the store failing. Debug: every batch.
  LogLevel log_level = LogLevel::kWarn;
};

// What to do with the runs a store still has as "running" (Recover).
enum class RecoveryMode {
  // Reload them and wait (resume_grace) for their agents: a restarted `stampede serve`.
  kResume,
  // Finalize them as interrupted at once: their agents died with the process that ran them (an
  // embedded run).
  kInterrupt,
};

class RunManager {
 public:
  RunManager(Store* store, const Clock* clock, RunManagerOptions options);
  ~RunManager();

  // Once, before agents and clients are served: the runs the store still has as running.
  absl::Status Recover(RecoveryMode mode);

  // ---- Agent link (called from each agent stream's reader thread). ----
  // `certificate_names`: the names of the agent's client certificate (mutual TLS), else empty.
  absl::StatusOr<std::shared_ptr<AgentSession>> RegisterAgent(
      const Register& reg, MessageWriter* writer,
      const std::vector<std::string>& certificate_names = {});
  // Any message after the Register: liveness, then pongs, batches and finishes.
  void OnAgentMessage(AgentSession& session, const AgentMessage& message);

  // ---- Time (the monitor thread, or the owner when monitor_thread is false). ----
  // Marks agents of running runs lost once not heard from for longer than the grace by the
  // injected Clock, finalises every run whose agents are all done (returns once they are),
  // rebuilds the reports of finished runs that took late records, and forgets finished runs
  // older than the late window.
  void Tick();

  // ---- CLI service. ----
  absl::Status CheckToken(const std::string& token) const;
  std::vector<AgentInfo> ListAgents() const;
  // Validates the plan (which must carry its resolved payloads/key), selects agents, syncs
  // clocks, commits the run and its agents to the store, then schedules one start instant for
  // all. Errors: InvalidArgument (plan rejected), FailedPrecondition (no agents match).
  absl::StatusOr<StartRunResponse> StartRun(const Plan& plan);
  absl::StatusOr<Progress> GetProgress(const std::string& run_id) const;
  // Waits until the run is done or `timeout` passes; true when done.
  bool WaitDone(const std::string& run_id, absl::Duration timeout) const;
  // Ends the run within the agent grace whatever its agents do: connected agents are told to
  // stop; agents not connected are lost at once.
  absl::StatusOr<RunSummary> Abort(const std::string& run_id);
  absl::StatusOr<RunReport> GetReport(const std::string& run_id) const;
  absl::StatusOr<std::vector<RunSummary>> ListRuns() const;

  // Batches refused since the start (invalid, unknown run, or outside the window).
  uint64_t rejected_batches() const;

  // ---- The log (the agent link service logs through it too). ----
  // Writes `line` to options.log when `level` is within options.log_level.
  void Log(LogLevel level, const std::string& line) const;
  bool LogEnabled(LogLevel level) const {
    return ::stampede::LogEnabled(options_.log_level, level);
  }

 private:
  struct RunAgent {
    AgentMeta meta;
    AgentInfo info;
    std::string instance_id;  // the agent process that was given the run
    AgentRunState state;
    SeqLedger ledger;
    std::optional<uint64_t> expected_batches;  // from RunFinished
    uint64_t undurable_batches = 0;            // from RunFinished
    uint64_t dropped_records = 0;              // from RunFinished
    // Reloaded after a coordinator restart and not registered since: it may still come back
    // until lost_not_before_ns (monotonic), when it is lost like any silent agent.
    bool awaiting_return = false;
    int64_t lost_not_before_ns = 0;
  };
  struct Run {
    std::string id;
    Plan plan;  // secrets stripped
    RunState state;
    int64_t created_ns = 0;
    int64_t start_ns = 0;  // the start instant (coordinator wall clock)
    int64_t ended_ns = 0;
    int64_t request_timeout_ns = 0;
    std::unique_ptr<RunAggregator> aggregator;
    std::map<std::string, RunAgent> agents;  // by agent id
    bool recovered = false;                  // reloaded after a coordinator restart
    bool done = false;
    bool finalizing = false;
    // Records (or a finish) arrived after the run was finalized: rebuild its report.
    bool stale_report = false;
    int64_t done_mono_ns = 0;
    RunReport final_report;
    // abortOnFail: why the coordinator aborted the run ("aborted: p99 ... over the last 10s"),
    // empty when it did not; and the last run second whose window was judged.
    std::string abort_reason;
    int64_t judged_second = -1;
  };
  // What to store and send after an agent's part of a run changed, outside the lock.
  struct AgentUpdate {
    std::string run_id;
    std::string agent_id;
    std::string state;
    std::optional<uint64_t> expected_batches;
    std::shared_ptr<AgentSession> finish_ack_to;  // null: nothing to acknowledge
  };

  // run_manager.cc
  std::vector<std::shared_ptr<AgentSession>> SelectAgents(const Plan& plan, std::string* error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The agent's current open session, or null.
  std::shared_ptr<AgentSession> SessionOf(const std::string& agent_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RunSummary SummaryOf(const Run& run) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillReportHeader(const Run& run, RunReport* report) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewRunId();
  // Marks the run aborted (agents without a session lost) and returns the sessions to tell.
  std::vector<std::shared_ptr<AgentSession>> AbortLocked(Run& run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells `sessions` to stop the run, with `reason` (outside the lock).
  void SendStop(const std::vector<std::shared_ptr<AgentSession>>& sessions,
                const std::string& run_id, const std::string& reason);

  // run_ingest.cc
  void OnBatch(AgentSession& session, const RecordBatch& batch);
  void OnCommitted(const std::string& run_id, const std::string& agent_id, uint64_t seq,
                   const absl::Status& status);
  void OnFinished(AgentSession& session, const RunFinished& finished);
  void RejectBatch(AgentSession& session, const RecordBatch& batch, const absl::Status& why);
  // The agent's part is finished when its RunFinished came and every batch it announced is
  // committed; returns the update to persist and acknowledge then.
  std::optional<AgentUpdate> MaybeFinished(Run& run, RunAgent& agent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores the agent's new state, then acknowledges its finish (after the store has it).
  void Apply(const AgentUpdate& update);

  // run_lifecycle.cc
  void MonitorLoop();
  // abortOnFail: judges the plan's thresholds on the run's last window, once per run second;
  // returns the failure that aborts the run ("aborted: ..."), or empty.
  std::string JudgeWindowLocked(Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finalize(Run* run);
  absl::Status RecoverRun(const StoredRun& stored, RecoveryMode mode);

  Store* const store_;
  const Clock* const clock_;
  const RunManagerOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<AgentSession>> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  uint64_t run_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_batches_ ABSL_GUARDED_BY(mu_) = 0;
  const uint64_t run_salt_ = std::random_device{}();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;  // only with options_.monitor_thread
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_RUN_MANAGER_H_
