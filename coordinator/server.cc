#include "coordinator/server.h"

#include "absl/strings/str_cat.h"
#include "coordinator/listen_address.h"

namespace stampede {

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(ServerOptions options) {
  auto server = std::unique_ptr<CoordinatorServer>(new CoordinatorServer());
  if (absl::Status s = CheckListenAddress(options.listen); !s.ok()) return s;
  if (std::optional<std::string> why = ListenProblem(options.listen)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen, ": ", *why));
  }
  if (options.tls.empty() && !options.insecure_plaintext && !IsLoopbackAddress(options.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.listen,
        " is not a loopback address and there is no TLS: the token and the plans' bearer keys "
        "would cross the network in the clear. Give --tls-cert and --tls-key (and "
        "--tls-client-ca for mutual TLS), or --insecure-plaintext if that is really meant"));
  }
  auto credentials = MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  bool alone = true;
  absl::StatusOr<std::unique_ptr<StoreLock>> lock = options.embedded
                                                        ? StoreLock::Shared(options.db_path, &alone)
                                                        : StoreLock::Exclusive(options.db_path);
  if (!lock.ok()) return lock.status();
  server->lock_ = std::move(*lock);
  auto store = Store::Open(options.db_path);
  if (!store.ok()) return store.status();
  server->store_ = std::move(*store);
  options.manager.bind_names_to_certificates = !options.tls.ca.empty();
  server->manager_ =
      std::make_unique<RunManager>(server->store_.get(), &RealClock::Get(), options.manager);
  // Before anyone is served: runs a crash left "running" are resumed (a service) or finalized
  // as interrupted (an embedded coordinator alone with the store; not while another one runs).
  if (!options.embedded || alone) {
    if (absl::Status s = server->manager_->Recover(options.embedded ? RecoveryMode::kInterrupt
                                                                    : RecoveryMode::kResume);
        !s.ok()) {
      return s;
    }
  }
  server->agent_link_ = std::make_unique<AgentLinkService>(server->manager_.get());
  server->coordinator_ = std::make_unique<CoordinatorService>(server->manager_.get());

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.RegisterService(server->agent_link_.get());
  builder.RegisterService(server->coordinator_.get());
  // Record batches are ~100 KiB; leave room for large ones.
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  // Notice dead agents without waiting for TCP timeouts.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC sets SO_REUSEPORT by default: a second coordinator on the same port would start and
  // silently share the connections with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen, ": ",
        ListenProblem(options.listen).value_or("gRPC could not start a server there")));
  }
  const size_t colon = options.listen.rfind(':');
  server->address_ = absl::StrCat(options.listen.substr(0, colon), ":", port);
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

void CoordinatorServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Start() may have failed halfway (store or port unavailable): stop only what exists.
  if (server_ != nullptr) {
    // Give streams a moment to end cleanly, then cancel them.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  manager_.reset();
  if (store_ != nullptr) (void)store_->Flush();
}

void CoordinatorServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace stampede
