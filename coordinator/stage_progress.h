// Where a running run is in its plan, for the live view: the current stage, the planned length
// and the arrival rate the plan asks for now (Progress fields 8-13).
#ifndef STAMPEDE_COORDINATOR_STAGE_PROGRESS_H_
#define STAMPEDE_COORDINATOR_STAGE_PROGRESS_H_

#include <cstdint>

#include "control.pb.h"
#include "plan.pb.h"

namespace stampede {

// `since_start_ns`: time since the run's start instant (negative before it). When every stage
// has a duration the stage follows the clock; otherwise it is `latest_stage_with_records` (-1:
// none yet, shown as the first stage). `agents`: how many agents run the plan (perAgent loads
// add up over them; a cluster split shares one load).
void FillStageProgress(const Plan& plan, int agents, int64_t since_start_ns,
                       int latest_stage_with_records, Progress* progress);

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_STAGE_PROGRESS_H_
