#include "cli/command_util.h"

#include <iostream>

namespace stampede {

int Fail(const std::string& command, const absl::Status& status, int code) {
  std::cerr << "stampede " << command << ": " << status.message() << "\n";
  return code;
}

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
}

}  // namespace stampede
