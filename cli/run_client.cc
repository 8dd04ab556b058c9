#include "cli/run_client.h"

#include <grpcpp/grpcpp.h>

#include "common/grpc_status.h"

namespace stampede {

absl::StatusOr<StartRunResponse> StartRunOn(CoordinatorClient& client, const Plan& plan) {
  StartRunRequest request;
  request.set_token(client.token);
  *request.mutable_plan() = plan;
  StartRunResponse response;
  grpc::ClientContext ctx;
  if (absl::Status s = FromGrpc(client.stub->StartRun(&ctx, request, &response)); !s.ok()) {
    return s;
  }
  return response;
}

absl::Status WaitForRun(CoordinatorClient& client, const std::string& run_id,
                        const ProgressCallback& on_progress) {
  RunRef ref;
  ref.set_token(client.token);
  ref.set_run_id(run_id);
  grpc::ClientContext ctx;
  auto reader = client.stub->Watch(&ctx, ref);
  Progress progress;
  bool done = false;
  while (reader->Read(&progress)) {
    if (on_progress) on_progress(progress);
    done = progress.done();
  }
  absl::Status s = FromGrpc(reader->Finish());
  if (!s.ok()) return s;
  if (!done) return absl::UnavailableError("lost the coordinator before the run finished");
  return absl::OkStatus();
}

absl::StatusOr<RunReport> FetchReport(CoordinatorClient& client, const std::string& run_id) {
  RunRef ref;
  ref.set_token(client.token);
  ref.set_run_id(run_id);
  RunReport report;
  grpc::ClientContext ctx;
  if (absl::Status s = FromGrpc(client.stub->GetReport(&ctx, ref, &report)); !s.ok()) return s;
  return report;
}

absl::Status AbortRun(CoordinatorClient& client, const std::string& run_id) {
  RunRef ref;
  ref.set_token(client.token);
  ref.set_run_id(run_id);
  RunSummary summary;
  grpc::ClientContext ctx;
  return FromGrpc(client.stub->Abort(&ctx, ref, &summary));
}

absl::StatusOr<RunReport> RunToReport(CoordinatorClient& client, const Plan& plan,
                                      const ProgressCallback& on_progress,
                                      StartRunResponse* started) {
  absl::StatusOr<StartRunResponse> response = StartRunOn(client, plan);
  if (!response.ok()) return response.status();
  if (started != nullptr) *started = *response;
  if (absl::Status s = WaitForRun(client, response->run_id(), on_progress); !s.ok()) return s;
  return FetchReport(client, response->run_id());
}

}  // namespace stampede
