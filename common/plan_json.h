// Plan JSON (protobuf's JSON mapping, see proto/plan.proto) to a Plan, checked against the Plan
// descriptor: unknown fields (with a suggestion), wrong JSON types and out-of-range integers are
// errors that name the field path; human durations ("250ms") are accepted. No semantic rules
// (ValidatePlan), files or environment: ParsePlan in plan_loader.h adds those.
#ifndef STAMPEDE_COMMON_PLAN_JSON_H_
#define STAMPEDE_COMMON_PLAN_JSON_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "plan.pb.h"

namespace stampede {

// Parses `json` (a JSON object) into a Plan.
absl::StatusOr<Plan> PlanFromJson(absl::string_view json);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_PLAN_JSON_H_
