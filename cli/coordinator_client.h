// CLI side of the Coordinator service: dialling the coordinator with a clear error when it is
// not there, and the token every call carries.
#ifndef STAMPEDE_CLI_COORDINATOR_CLIENT_H_
#define STAMPEDE_CLI_COORDINATOR_CLIENT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "common/grpc_tls.h"
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

// The coordinator a run or saturate goes to: --coordinator, else $STAMPEDE_COORDINATOR; nullopt
// when neither is given (the run is embedded).
std::optional<std::string> RemoteAddress(const ParsedFlags& flags);

// The TLS files of --tls-ca/--tls-cert/--tls-key, each defaulting to its $STAMPEDE_TLS_ variable.
TlsFiles TlsFilesFromFlags(const ParsedFlags& flags);

// Waits up to 5 s for a connection; Unavailable("cannot reach the coordinator at ...") if none.
// `tls` empty: plaintext (an embedded coordinator, whatever the environment says).
absl::StatusOr<CoordinatorClient> DialCoordinator(const std::string& address,
                                                  const std::string& token, const TlsFiles& tls);

// Dials `address` with the token and TLS files of a command's RemoteFlags().
absl::StatusOr<CoordinatorClient> DialFromFlags(const ParsedFlags& flags,
                                                const std::string& address);

}  // namespace stampede

#endif  // STAMPEDE_CLI_COORDINATOR_CLIENT_H_
