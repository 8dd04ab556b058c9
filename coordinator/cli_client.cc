#include "coordinator/cli_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace stampede {

std::string DefaultCoordinatorAddress() {
  const char* env = std::getenv("STAMPEDE_COORDINATOR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:7700";
}

std::string TokenOr(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const char* env = std::getenv("STAMPEDE_TOKEN");
  return env != nullptr ? env : "";
}

absl::StatusOr<CoordinatorClient> DialCoordinator(const std::string& address,
                                                  const std::string& token) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the coordinator at ", address,
        " (is `stampede serve` running there? use --coordinator HOST:PORT, or leave it out to run "
        "embedded)"));
  }
  CoordinatorClient client;
  client.address = address;
  client.token = token;
  client.stub = Coordinator::NewStub(channel);
  return client;
}

}  // namespace stampede
