// What every `stampede` subcommand does with an error: print it once, prefixed with the command,
// and map it to the documented exit code.
#ifndef STAMPEDE_CLI_COMMAND_UTIL_H_
#define STAMPEDE_CLI_COMMAND_UTIL_H_

#include <string>

#include "absl/status/status.h"

namespace stampede {

// Prints "stampede COMMAND: MESSAGE" on stderr and returns `code`.
int Fail(const std::string& command, const absl::Status& status, int code);

// Exit code for a failed call: 2 for bad input (InvalidArgument), 4 when the coordinator refused
// the credentials (a bad token: PermissionDenied, Unauthenticated), 3 for "the coordinator or
// agents could not do it" (unreachable, everything else).
int ExitCodeFor(const absl::Status& status);

}  // namespace stampede

#endif  // STAMPEDE_CLI_COMMAND_UTIL_H_
