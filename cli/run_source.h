// Where `runs` and `report` read from: a store file (--db PATH) when given, else a coordinator
// (--coordinator ADDR, default $STAMPEDE_COORDINATOR or 127.0.0.1:7700, with --token).
#ifndef STAMPEDE_CLI_RUN_SOURCE_H_
#define STAMPEDE_CLI_RUN_SOURCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "control.pb.h"

namespace stampede {

absl::StatusOr<std::vector<RunSummary>> LoadRuns(const ParsedFlags& flags);
absl::StatusOr<RunReport> LoadReport(const ParsedFlags& flags, const std::string& run_id);

}  // namespace stampede

#endif  // STAMPEDE_CLI_RUN_SOURCE_H_
