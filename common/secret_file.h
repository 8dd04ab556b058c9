// Secrets read from a file (a token given as --token-file), so that they stay out of the
// process table (/proc/PID/cmdline is readable by every user of the machine).
#ifndef STAMPEDE_COMMON_SECRET_FILE_H_
#define STAMPEDE_COMMON_SECRET_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace stampede {

// The file's content without a trailing newline (\n or \r\n). Errors name `flag` and the file:
// unreadable, not a regular file, empty, over 4 KiB, or several lines.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, const std::string& flag);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_SECRET_FILE_H_
