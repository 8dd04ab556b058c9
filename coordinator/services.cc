#include "coordinator/services.h"

#include "absl/time/time.h"
#include "common/grpc_status.h"

namespace stampede {
namespace {

class StreamWriter final : public MessageWriter {
 public:
  explicit StreamWriter(grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* stream)
      : stream_(stream) {}
  bool Write(const CoordinatorMessage& message) override { return stream_->Write(message); }

 private:
  grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* const stream_;
};

constexpr absl::Duration kWatchInterval = absl::Milliseconds(500);

}  // namespace

grpc::Status AgentLinkService::Connect(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<CoordinatorMessage, AgentMessage>* stream) {
  AgentMessage message;
  if (!stream->Read(&message)) return grpc::Status::OK;
  if (!message.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message on the agent link must be a Register");
  }
  StreamWriter writer(stream);
  auto session = manager_->RegisterAgent(message.register_(), &writer);
  if (!session.ok()) {
    CoordinatorMessage rejected;
    rejected.set_rejected(std::string(session.status().message()));
    stream->Write(rejected);
    return ToGrpc(session.status());
  }
  CoordinatorMessage accepted;
  accepted.set_accepted_agent_id((*session)->id());
  (*session)->Send(std::move(accepted));
  while (stream->Read(&message)) {
    manager_->OnAgentMessage(**session, message);
    if ((*session)->closed()) break;  // replaced by a newer connection of the same agent
  }
  (*session)->Close();
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListAgents(grpc::ServerContext*, const ListAgentsRequest* request,
                                            ListAgentsResponse* response) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  for (AgentInfo& a : manager_->ListAgents()) *response->add_agents() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::StartRun(grpc::ServerContext*, const StartRunRequest* request,
                                          StartRunResponse* response) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  auto started = manager_->StartRun(request->plan());
  if (!started.ok()) return ToGrpc(started.status());
  *response = std::move(*started);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Watch(grpc::ServerContext* context, const RunRef* request,
                                       grpc::ServerWriter<Progress>* writer) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  while (!context->IsCancelled()) {
    auto progress = manager_->GetProgress(request->run_id());
    if (!progress.ok()) return ToGrpc(progress.status());
    if (!writer->Write(*progress) || progress->done()) break;
    manager_->WaitDone(request->run_id(), kWatchInterval);
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Abort(grpc::ServerContext*, const RunRef* request,
                                       RunSummary* response) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  auto summary = manager_->Abort(request->run_id());
  if (!summary.ok()) return ToGrpc(summary.status());
  *response = std::move(*summary);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListRuns(grpc::ServerContext*, const ListRunsRequest* request,
                                          ListRunsResponse* response) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  auto runs = manager_->ListRuns();
  if (!runs.ok()) return ToGrpc(runs.status());
  for (RunSummary& r : *runs) *response->add_runs() = std::move(r);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetReport(grpc::ServerContext*, const RunRef* request,
                                           RunReport* response) {
  if (auto s = manager_->CheckToken(request->token()); !s.ok()) return ToGrpc(s);
  auto report = manager_->GetReport(request->run_id());
  if (!report.ok()) return ToGrpc(report.status());
  *response = std::move(*report);
  return grpc::Status::OK;
}

}  // namespace stampede
