// One step of a saturation search as a run: the plan that runs it, and its figures read back
// from the run's merged report. Also the loading of a plan meant for `stampede saturate`.
#ifndef STAMPEDE_SATURATE_STEP_PLAN_H_
#define STAMPEDE_SATURATE_STEP_PLAN_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/plan_loader.h"
#include "control.pb.h"
#include "plan.pb.h"
#include "saturate/options.h"
#include "saturate/search.h"

namespace stampede {

// The figures of a finished run's merged report (totals over all agents), for a step at `load`.
StepResult StepResultFromReport(const RunReport& report, double load);

// The plan that runs one step: the base plan's target and agent selection with ONE stage of
// `step_duration` at the request's load (closed: concurrency, open: rate). The baseline (and any
// step when `single_client`) runs on one agent; other steps keep the plan's selection, so all
// selected agents step in lockstep (each at the load, or sharing it when agents.split is
// "cluster"). Thresholds are dropped: the search judges steps by its own criteria.
Plan BuildStepPlan(const Plan& base, const StepRequest& request, const SaturationOptions& options,
                   bool single_client);

// Loads a plan for `stampede saturate`: like LoadPlan (fields checked, payload and key
// resolved), except that it need not list stages (every step brings its own).
absl::StatusOr<Plan> LoadSaturationPlan(const std::string& path);
// The same with the loader's options (`validate` looks up the key through its own EnvLookup);
// base_dir is set from `path`.
absl::StatusOr<Plan> LoadSaturationPlan(const std::string& path, PlanLoadOptions options);

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_STEP_PLAN_H_
