// gRPC edge of the coordinator: the AgentLink stream handler and the CLI-facing Coordinator
// service. Both translate to RunManager calls; grpc::Status appears only here.
#ifndef STAMPEDE_COORDINATOR_SERVICES_H_
#define STAMPEDE_COORDINATOR_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include "control.grpc.pb.h"
#include "coordinator/run_manager.h"

namespace stampede {

class AgentLinkService final : public AgentLink::Service {
 public:
  explicit AgentLinkService(RunManager* manager) : manager_(manager) {}
  grpc::Status Connect(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* stream) override;

 private:
  RunManager* const manager_;
};

class CoordinatorService final : public Coordinator::Service {
 public:
  explicit CoordinatorService(RunManager* manager) : manager_(manager) {}
  grpc::Status ListAgents(grpc::ServerContext*, const ListAgentsRequest* request,
                          ListAgentsResponse* response) override;
  grpc::Status StartRun(grpc::ServerContext*, const StartRunRequest* request,
                        StartRunResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const RunRef* request,
                     grpc::ServerWriter<Progress>* writer) override;
  grpc::Status Abort(grpc::ServerContext*, const RunRef* request, RunSummary* response) override;
  grpc::Status ListRuns(grpc::ServerContext*, const ListRunsRequest* request,
                        ListRunsResponse* response) override;
  grpc::Status GetReport(grpc::ServerContext*, const RunRef* request, RunReport* response) override;

 private:
  RunManager* const manager_;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_SERVICES_H_
