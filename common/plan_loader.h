// Loading and validating test plans (JSON in protobuf's JSON mapping, see proto/plan.proto).
// Every error names the field path ("stages[1].rate") or the line and column, and what is wrong;
// what it quotes from the plan is cut to a short excerpt.
#ifndef STAMPEDE_COMMON_PLAN_LOADER_H_
#define STAMPEDE_COMMON_PLAN_LOADER_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "plan.pb.h"

namespace stampede {

// Looks up an environment variable; injected so tests need not touch the real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup ProcessEnv();

struct PlanLoadOptions {
  // Folder that relative payload paths are resolved against (the plan file's folder).
  std::string base_dir = ".";
  EnvLookup env = ProcessEnv();
  // Read the payload file(s) into target.resolved_payloads and the bearer key into
  // target.resolved_bearer_token. Off for `validate`-style checks that must not need secrets.
  bool resolve = true;
};

// Reads `path`, parses, validates and (by default) resolves the plan. Relative payload paths are
// resolved against the plan file's folder.
absl::StatusOr<Plan> LoadPlan(const std::string& path);
absl::StatusOr<Plan> LoadPlan(const std::string& path, PlanLoadOptions options);

// Same, from JSON text. Text over kMaxPlanBytes (plan_json.h: 1 MiB) is refused unread; syntax
// errors are "LINE:COLUMN: message" (LoadPlan makes that "plan.json:LINE:COLUMN: message").
absl::StatusOr<Plan> ParsePlan(std::string_view json, const PlanLoadOptions& options);

// Same, from a JSON object already read with ReadPlanJsonObject (plan_json.h), for callers that
// edit a plan before loading it.
absl::StatusOr<Plan> ParsePlanObject(google::protobuf::Struct object,
                                     const PlanLoadOptions& options);

// The bytes of a plan file: a regular file of at most kMaxPlanBytes ("plan.json: 2.1 MiB is over
// the 1 MiB limit for a plan"); a directory, FIFO or device is refused without blocking.
absl::StatusOr<std::string> ReadPlanFile(const std::string& path);

// Checks the semantic rules on an already parsed plan (what the coordinator runs on a plan it
// receives over gRPC). Does not touch files or the environment.
absl::Status ValidatePlan(const Plan& plan);

// The plan without what the loader resolved (payload bytes, bearer key): what may be stored,
// reported or logged.
Plan WithoutSecrets(Plan plan);

// One line: name, target, stage count and shape, total requests or duration, agent selection.
std::string PlanSummary(const Plan& plan);

// Helpers shared with the engine.
bool IsClosedStage(const Stage& stage);  // has concurrency
int64_t DurationToNs(const google::protobuf::Duration& d);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_PLAN_LOADER_H_
