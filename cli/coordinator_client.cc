#include "cli/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/grpc_tls.h"
#include "common/secret_file.h"

namespace stampede {

std::string DefaultCoordinatorAddress() {
  const char* env = std::getenv("STAMPEDE_COORDINATOR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7700";
}

absl::StatusOr<std::string> ResolveToken(const ParsedFlags& flags) {
  if (flags.Has("--token-file")) {
    if (flags.Has("--token")) {
      return absl::InvalidArgumentError("--token and --token-file: give one of them");
    }
    return ReadSecretFile(flags.String("--token-file"), "--token-file");
  }
  if (flags.Has("--token")) return flags.String("--token");
  const char* env = std::getenv("STAMPEDE_TOKEN");
  return std::string(env != nullptr ? env : "");
}

absl::StatusOr<CoordinatorClient> DialCoordinator(const std::string& address,
                                                  const std::string& token) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  // TLS from $STAMPEDE_TLS_CA (and _CERT/_KEY for mutual TLS), like the token and address.
  auto credentials = MakeChannelCredentials(TlsFilesFromEnv(), "STAMPEDE_TLS_");
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateCustomChannel(address, *credentials, args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the coordinator at ", address,
        " (is `stampede serve` running there? use --coordinator HOST:PORT, or leave it out to run "
        "embedded; a coordinator with TLS needs STAMPEDE_TLS_CA)"));
  }
  CoordinatorClient client;
  client.address = address;
  client.token = token;
  client.stub = Coordinator::NewStub(channel);
  return client;
}

}  // namespace stampede
