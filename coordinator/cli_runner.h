// Running a plan from the CLI, shared by `stampede run`, `watch`, `demo` and `saturate`: start it
// on a coordinator, follow it to its end through Watch, fetch its merged report; and the
// embedded cluster's options for a plan.
#ifndef STAMPEDE_COORDINATOR_CLI_RUNNER_H_
#define STAMPEDE_COORDINATOR_CLI_RUNNER_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "control.pb.h"
#include "coordinator/cli_client.h"
#include "coordinator/embedded_cluster.h"
#include "plan.pb.h"

namespace stampede {

// Sees every Progress update of a followed run (on the calling thread).
using ProgressCallback = std::function<void(const Progress&)>;

// StartRun. Errors keep the coordinator's code: InvalidArgument for a rejected plan,
// FailedPrecondition when no agents match, Unavailable when the coordinator is gone.
absl::StatusOr<StartRunResponse> StartRunOn(CoordinatorClient& client, const Plan& plan);

// Follows a run until the coordinator says it is done. Unavailable when the stream ends first.
absl::Status WaitForRun(CoordinatorClient& client, const std::string& run_id,
                        const ProgressCallback& on_progress);

// The run's merged report (final once the run is done).
absl::StatusOr<RunReport> FetchReport(CoordinatorClient& client, const std::string& run_id);

// Asks the coordinator to stop a run; it still ends (state "aborted") and is stored as usual.
absl::Status AbortRun(CoordinatorClient& client, const std::string& run_id);

// All three: start `plan`, wait for the end, return the report. `started` (optional) receives
// the StartRun answer (run id and agents) as soon as the run is started.
absl::StatusOr<RunReport> RunToReport(CoordinatorClient& client, const Plan& plan,
                                      const ProgressCallback& on_progress,
                                      StartRunResponse* started = nullptr);

// Options of an embedded cluster of `local_agents` agents for `plan`: agent regions from
// `regions` (comma-separated, the --regions flag) or else the plan's regions. The plan's
// agents.count is capped at `local_agents` (the embedded cluster has no others), with a note on
// stderr, since a larger count could never be met.
EmbeddedOptions EmbeddedOptionsForPlan(int local_agents, const std::string& db_path,
                                       const std::optional<std::string>& regions, Plan* plan);

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_CLI_RUNNER_H_
