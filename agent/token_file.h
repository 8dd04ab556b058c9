// The agent's token read from a file (--token-file), so that it is not in the process table as a
// command-line argument would be.
#ifndef STAMPEDE_AGENT_TOKEN_FILE_H_
#define STAMPEDE_AGENT_TOKEN_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace stampede {

// The file's content without its trailing line ending(s). InvalidArgument, naming the file, when
// it cannot be read, is empty, is larger than 64 KiB (a token is short; this is the wrong file),
// or holds more than one line.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_TOKEN_FILE_H_
