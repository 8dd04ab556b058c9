// The coordinator's core: connected agents, and runs from start to stored report. Agent stream
// handlers feed it registrations, batches and finishes; the CLI service starts, watches, aborts
// and reports runs through it. Tick() marks silent/disconnected agents lost and finalises runs
// (flush the store, build and persist the report); a monitor thread calls it every 50 ms, or the
// owner does (tests, with a fake clock).
#ifndef STAMPEDE_COORDINATOR_RUN_MANAGER_H_
#define STAMPEDE_COORDINATOR_RUN_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/run_aggregator.h"
#include "common/run_state.h"
#include "control.pb.h"
#include "coordinator/agent_session.h"
#include "coordinator/store.h"

namespace stampede {

struct RunManagerOptions {
  // Agents and CLI clients must present this token when it is not empty.
  std::string token;
  // A disconnected (or silent) agent is marked lost after this long (on the manager's Clock).
  absl::Duration agent_grace = absl::Seconds(5);
  // Extra time between scheduling the start and the start instant, beyond the round trips.
  absl::Duration start_margin = absl::Milliseconds(300);
  int clock_pings = 5;
  // Worker threads each agent should use (0: the agent's cores). Embedded runs set it so that
  // local agents share the machine's cores.
  int agent_threads = 0;
  // Whether a thread calls Tick() every 50 ms. Without it nothing is marked lost and no run is
  // finalised unless the owner calls Tick(): tests do, after moving a fake clock.
  bool monitor_thread = true;
};

class RunManager {
 public:
  RunManager(Store* store, const Clock* clock, RunManagerOptions options);
  ~RunManager();

  // ---- Agent link (called from each agent stream's reader thread). ----
  absl::StatusOr<std::shared_ptr<AgentSession>> RegisterAgent(const Register& reg,
                                                              MessageWriter* writer);
  // Any message after the Register: liveness, then pongs, batches and finishes.
  void OnAgentMessage(AgentSession& session, const AgentMessage& message);
  void OnBatch(AgentSession& session, const RecordBatch& batch);
  void OnFinished(AgentSession& session, const RunFinished& finished);

  // ---- Time (the monitor thread, or the owner when monitor_thread is false). ----
  // Marks agents of running runs lost once not heard from (disconnected, or connected but silent)
  // for longer than agent_grace by the injected Clock, then finalises every run whose agents are
  // all done; returns once they are finalised.
  void Tick();

  // ---- CLI service. ----
  absl::Status CheckToken(const std::string& token) const;
  std::vector<AgentInfo> ListAgents() const;
  // Validates the plan (which must carry its resolved payloads/key), selects agents, syncs
  // clocks and schedules one start instant for all. Errors: InvalidArgument (plan rejected),
  // FailedPrecondition (no agents match).
  absl::StatusOr<StartRunResponse> StartRun(const Plan& plan);
  absl::StatusOr<Progress> GetProgress(const std::string& run_id) const;
  // Waits until the run is done or `timeout` passes; true when done.
  bool WaitDone(const std::string& run_id, absl::Duration timeout) const;
  absl::StatusOr<RunSummary> Abort(const std::string& run_id);
  absl::StatusOr<RunReport> GetReport(const std::string& run_id) const;
  absl::StatusOr<std::vector<RunSummary>> ListRuns() const;

 private:
  struct RunAgent {
    AgentMeta meta;
    AgentInfo info;
    AgentRunState state;
    std::vector<bool> seen;  // batch seqs ingested
    uint64_t ingested = 0;
    std::optional<uint64_t> expected_batches;  // from RunFinished
  };
  struct Run {
    std::string id;
    Plan plan;  // secrets stripped
    RunState state;
    int64_t created_ns = 0;
    int64_t start_ns = 0;  // the start instant (coordinator wall clock)
    int64_t ended_ns = 0;
    std::unique_ptr<RunAggregator> aggregator;
    std::map<std::string, RunAgent> agents;  // by agent id
    bool done = false;
    bool finalizing = false;
    RunReport final_report;
  };

  std::vector<std::shared_ptr<AgentSession>> SelectAgents(const Plan& plan, std::string* error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MonitorLoop();
  void Finalize(Run* run);
  RunSummary SummaryOf(const Run& run) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillReportHeader(const Run& run, RunReport* report) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewRunId();

  Store* const store_;
  const Clock* const clock_;
  const RunManagerOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<AgentSession>> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Run>> runs_ ABSL_GUARDED_BY(mu_);
  uint64_t run_counter_ ABSL_GUARDED_BY(mu_) = 0;
  const uint64_t run_salt_ = std::random_device{}();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread monitor_;  // only with options_.monitor_thread
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_RUN_MANAGER_H_
