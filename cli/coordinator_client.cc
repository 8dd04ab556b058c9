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

std::optional<std::string> RemoteAddress(const ParsedFlags& flags) {
  if (auto address = flags.Get("--coordinator")) return address;
  const char* env = std::getenv("STAMPEDE_COORDINATOR");
  if (env != nullptr && *env != '\0') return std::string(env);
  return std::nullopt;
}

TlsFiles TlsFilesFromFlags(const ParsedFlags& flags) {
  const TlsFiles env = TlsFilesFromEnv();
  return TlsFiles{flags.Get("--tls-ca").value_or(env.ca),
                  flags.Get("--tls-cert").value_or(env.cert),
                  flags.Get("--tls-key").value_or(env.key)};
}

absl::StatusOr<CoordinatorClient> DialFromFlags(const ParsedFlags& flags,
                                                const std::string& address) {
  auto token = ResolveToken(flags);
  if (!token.ok()) return token.status();
  return DialCoordinator(address, *token, TlsFilesFromFlags(flags));
}

absl::StatusOr<CoordinatorClient> DialCoordinator(const std::string& address,
                                                  const std::string& token, const TlsFiles& tls) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  auto credentials = MakeChannelCredentials(tls, "--tls-");
  if (!credentials.ok()) return credentials.status();
  auto channel = grpc::CreateCustomChannel(address, *credentials, args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the coordinator at ", address,
        " (is `stampede serve` running there? use --coordinator HOST:PORT, or leave it out to run "
        "embedded; a coordinator with TLS needs --tls-ca or $STAMPEDE_TLS_CA)"));
  }
  CoordinatorClient client;
  client.address = address;
  client.token = token;
  client.stub = Coordinator::NewStub(channel);
  return client;
}

}  // namespace stampede
