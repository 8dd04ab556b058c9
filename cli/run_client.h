// The Coordinator service's calls as the CLI makes them, shared by `stampede run`, `watch`,
// `demo`, `report` and `saturate`: start a run, follow it to its end through Watch, fetch its
// merged report, abort it.
#ifndef STAMPEDE_CLI_RUN_CLIENT_H_
#define STAMPEDE_CLI_RUN_CLIENT_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cli/coordinator_client.h"
#include "control.pb.h"
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

}  // namespace stampede

#endif  // STAMPEDE_CLI_RUN_CLIENT_H_
