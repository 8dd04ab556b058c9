// CLI side of the Coordinator service: dialling the coordinator with a clear error when it is
// not there, and the token every call carries.
#ifndef STAMPEDE_CLI_COORDINATOR_CLIENT_H_
#define STAMPEDE_CLI_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "control.grpc.pb.h"

namespace stampede {

struct CoordinatorClient {
  std::string address;
  std::string token;
  std::unique_ptr<Coordinator::Stub> stub;
};

// The default address: $STAMPEDE_COORDINATOR, else 127.0.0.1:7700.
std::string DefaultCoordinatorAddress();
// The token of a command's --token / --token-file flags (TokenFlag, TokenFileFlag): --token-file
// read (cli flags never echo it), else --token, else $STAMPEDE_TOKEN, else empty. Both flags at
// once is an error, as is an unreadable file.
absl::StatusOr<std::string> ResolveToken(const ParsedFlags& flags);

// Waits up to 5 s for a connection; Unavailable("cannot reach the coordinator at ...") if none.
absl::StatusOr<CoordinatorClient> DialCoordinator(const std::string& address,
                                                  const std::string& token);

}  // namespace stampede

#endif  // STAMPEDE_CLI_COORDINATOR_CLIENT_H_
