// A running coordinator: the store, the run manager and the gRPC server with both services.
// Used by `stampede serve` and, in-process on loopback, by embedded runs.
#ifndef STAMPEDE_COORDINATOR_SERVER_H_
#define STAMPEDE_COORDINATOR_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/grpc_tls.h"
#include "coordinator/listen_address.h"
#include "coordinator/run_manager.h"
#include "coordinator/services.h"
#include "coordinator/store.h"
#include "coordinator/store_lock.h"

namespace stampede {

struct ServerOptions {
  // host:port; port 0 lets the kernel pick (see CoordinatorServer::address()).
  std::string listen = "127.0.0.1:7700";
  std::string db_path = "stampede.db";
  // cert + key: TLS; plus ca: mutual TLS (clients need a certificate from that CA, and agents
  // register under a name their certificate carries).
  TlsFiles tls;
  // Without TLS the links are plaintext: the token and the plan's bearer key cross them in the
  // clear. Refused on anything but a loopback address unless this is set.
  bool insecure_plaintext = false;
  // A coordinator service owns its store (an exclusive lock; it resumes the runs a crash left
  // running); an embedded one shares it (and finalizes as interrupted what a crashed embedded
  // run left behind, when it finds itself alone).
  bool embedded = false;
  RunManagerOptions manager;
};

class CoordinatorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(ServerOptions options);
  ~CoordinatorServer();  // Shutdown()

  // The address clients and agents dial, with the real port.
  const std::string& address() const { return address_; }
  RunManager& manager() { return *manager_; }
  Store& store() { return *store_; }
  // Stops accepting, ends streams, flushes the store.
  void Shutdown();
  // Blocks until Shutdown() (from another thread or a signal handler thread).
  void Wait();

 private:
  CoordinatorServer() = default;
  std::unique_ptr<StoreLock> lock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RunManager> manager_;
  std::unique_ptr<AgentLinkService> agent_link_;
  std::unique_ptr<CoordinatorService> coordinator_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_SERVER_H_
