// stampede-target as a child process, started from the binary next to this one (the demo's
// simulated model service). Stopped (SIGTERM, then reaped) when the object goes.
#ifndef STAMPEDE_CLI_TARGET_PROCESS_H_
#define STAMPEDE_CLI_TARGET_PROCESS_H_

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stampede {

class TargetProcess {
 public:
  TargetProcess() = default;
  ~TargetProcess();
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;

  // Starts `stampede-target --port 0 FLAGS...` and returns the port it listens on.
  absl::StatusOr<int> Start(const std::vector<std::string>& flags);

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

}  // namespace stampede

#endif  // STAMPEDE_CLI_TARGET_PROCESS_H_
