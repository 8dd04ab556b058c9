#include "coordinator/stage_progress.h"

#include <algorithm>
#include <vector>

#include "common/load_split.h"
#include "common/plan_loader.h"

namespace stampede {

void FillStageProgress(const Plan& plan, int agents, int64_t since_start_ns,
                       int latest_stage_with_records, Progress* progress) {
  const int n = plan.stages_size();
  progress->set_stages(n);
  if (n == 0) return;
  // Every stage timed: the schedule is known, and the clock says where the run is.
  bool timed = true;
  std::vector<int64_t> lengths;
  int64_t planned_ns = 0;
  for (const Stage& stage : plan.stages()) {
    const int64_t ns = stage.has_duration() ? DurationToNs(stage.duration()) : 0;
    timed = timed && ns > 0;
    lengths.push_back(ns);
    planned_ns += ns;
  }
  int current = std::clamp(latest_stage_with_records, 0, n - 1);
  double fraction = -1;  // of the current stage elapsed, when known
  if (timed) {
    progress->set_planned_s(static_cast<double>(planned_ns) / 1e9);
    int64_t left = std::max<int64_t>(0, since_start_ns);
    current = n - 1;
    fraction = 1;
    for (int i = 0; i < n; ++i) {
      if (left < lengths[i]) {
        current = i;
        fraction = static_cast<double>(left) / static_cast<double>(lengths[i]);
        break;
      }
      left -= lengths[i];
    }
  }
  const Stage& stage = plan.stages(current);
  progress->set_stage(current);
  progress->set_stage_name(stage.name());
  progress->set_stage_load(StageLoad(stage));
  if (stage.has_rate() && (!stage.has_ramp_to() || fraction >= 0)) {
    double rate = stage.rate();
    if (stage.has_ramp_to()) rate += (stage.ramp_to() - stage.rate()) * fraction;
    const bool cluster = plan.agents().split() == "cluster";
    progress->set_target_rps(cluster ? rate : rate * std::max(agents, 0));
  }
}

}  // namespace stampede
