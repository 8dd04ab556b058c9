// `stampede run --url URL ...`: a plan from flags, for the habits of hey, wrk and vegeta users.
// The flags become a plan's JSON, which then goes through the same loader as a plan file (so
// the same checks, the same messages, and the payload and key read the same way).
#ifndef STAMPEDE_CLI_ADHOC_PLAN_H_
#define STAMPEDE_CLI_ADHOC_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "plan.pb.h"

namespace stampede {

// --url, -m/--method, --body, -H/--header (repeatable), --bearer-env, -c/--concurrency,
// --rate, -d/--duration, -n/--requests, --timeout.
std::vector<FlagSpec> AdhocFlags();

// True when any ad-hoc flag was given.
bool HasAdhocFlags(const ParsedFlags& flags);

// The plan the flags describe; errors name the flag ("-c or --rate: give one of them").
absl::StatusOr<Plan> AdhocPlan(const ParsedFlags& flags);

}  // namespace stampede

#endif  // STAMPEDE_CLI_ADHOC_PLAN_H_
