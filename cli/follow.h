// Following a run on a coordinator to its end with the live view, then printing its report:
// shared by `run`, `watch` and `demo`.
#ifndef STAMPEDE_CLI_FOLLOW_H_
#define STAMPEDE_CLI_FOLLOW_H_

#include <string>

#include "absl/status/status.h"
#include "cli/run_client.h"
#include "plan.pb.h"

namespace stampede {

struct OutputMode {
  bool json = false;    // stdout carries only the JSON report; progress goes to stderr
  bool quiet = false;   // no live view
  bool detach = false;  // start the run, print its id, return (the run goes on)
  // stdout carries one JSON progress object per second (one line each), then the JSON report
  // (`watch --json`).
  bool json_stream = false;
};

// Follows a run to its end with live progress; Unavailable when the stream broke first.
absl::Status FollowRun(CoordinatorClient& client, const std::string& run_id,
                       const OutputMode& mode);

// Prints the final report; returns the exit code: 0 passed, 1 a threshold failed or the run did
// not finish, 3 the report could not be fetched. `command` prefixes error messages.
int PrintReport(CoordinatorClient& client, const std::string& run_id, const OutputMode& mode,
                const std::string& command);

// Starts `plan`, says where it runs, follows it and prints the report; the exit code as above,
// 2 for a rejected plan. `run_id_out` (optional) receives the run id once started. Ctrl-C while
// following aborts the run and prints the partial report (exit 130); a second one detaches.
int StartAndFollow(CoordinatorClient& client, const Plan& plan, const OutputMode& mode,
                   std::string* run_id_out);

}  // namespace stampede

#endif  // STAMPEDE_CLI_FOLLOW_H_
