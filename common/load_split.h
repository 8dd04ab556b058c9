// Even splits of a load over parts (worker threads, or agents for cluster-wide plans).
#ifndef STAMPEDE_COMMON_LOAD_SPLIT_H_
#define STAMPEDE_COMMON_LOAD_SPLIT_H_

#include <cstdint>
#include <string>

#include "plan.pb.h"

namespace stampede {

// Share of `total` for part `index` of `parts`: the remainder goes to the lowest indexes, so the
// shares add up to total exactly.
int64_t SplitCount(int64_t total, int parts, int index);

// A stage as one part of `parts` runs it: concurrency (and its ramp target) and requests split
// evenly, rate divided. Requests follow concurrency for closed stages (a part with no virtual
// users gets no requests) so that every request has a user to send it.
Stage SplitStage(const Stage& stage, int parts, int index);

// The load of a stage as reports and the live view show it: "c=8", "c=1->8", "rate=100/s",
// "rate=100->450/s"; "" for a stage without load.
std::string StageLoad(const Stage& stage);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_LOAD_SPLIT_H_
