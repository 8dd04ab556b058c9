#include "cli/command_util.h"

#include <iostream>

namespace stampede {

int Fail(const std::string& command, const absl::Status& status, int code) {
  std::cerr << "stampede " << command << ": " << status.message() << "\n";
  return code;
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 2;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 4;
    default:
      return 3;
  }
}

}  // namespace stampede
