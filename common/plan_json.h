// Plan JSON (protobuf's JSON mapping, see proto/plan.proto) to a Plan, checked against the Plan
// descriptor: unknown fields (with a suggestion), wrong JSON types and out-of-range integers are
// errors that name the field path; syntax errors name the line and column; human durations
// ("250ms") are accepted. No semantic rules (ValidatePlan), files or environment: ParsePlan in
// plan_loader.h adds those.
#ifndef STAMPEDE_COMMON_PLAN_JSON_H_
#define STAMPEDE_COMMON_PLAN_JSON_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "plan.pb.h"

namespace stampede {

// A plan is a few KiB; the limits stop a mistyped path (a log, a disk image) or a hostile file
// from costing more than a moment. A plan's own nesting is 4 levels (stages[0].duration).
inline constexpr size_t kMaxPlanBytes = size_t{1} << 20;
inline constexpr int kMaxPlanDepth = 32;

// "2.1 MiB is over the 1 MiB limit for a plan".
std::string PlanTooLargeMessage(uint64_t bytes);

// Pass 1 alone: `json` as a JSON object, within the plan limits. Errors: "LINE:COLUMN: ...", or
// the size message above. For callers that edit a plan before loading it (LoadSaturationPlan).
absl::StatusOr<google::protobuf::Struct> ReadPlanJsonObject(absl::string_view json);

// Parses `json` (a JSON object) into a Plan.
absl::StatusOr<Plan> PlanFromJson(absl::string_view json);

// Passes 2 and 3 alone, on an object from ReadPlanJsonObject.
absl::StatusOr<Plan> PlanFromJsonObject(google::protobuf::Struct object);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_PLAN_JSON_H_
