#include "cli/run_source.h"

#include "cli/coordinator_client.h"
#include "cli/run_client.h"
#include "common/grpc_status.h"
#include "coordinator/store.h"

namespace stampede {

absl::StatusOr<std::vector<RunSummary>> LoadRuns(const ParsedFlags& flags) {
  if (auto db = flags.Get("--db")) {
    auto store = Store::Open(*db);
    if (!store.ok()) return store.status();
    return (*store)->ListRuns();
  }
  auto client = DialFromFlags(flags, flags.String("--coordinator"));
  if (!client.ok()) return client.status();
  ListRunsRequest request;
  request.set_token(client->token);
  ListRunsResponse response;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->ListRuns(&ctx, request, &response)); !s.ok()) return s;
  return std::vector<RunSummary>(response.runs().begin(), response.runs().end());
}

absl::StatusOr<RunReport> LoadReport(const ParsedFlags& flags, const std::string& run_id) {
  if (auto db = flags.Get("--db")) {
    auto store = Store::Open(*db);
    if (!store.ok()) return store.status();
    return (*store)->GetReport(run_id);
  }
  auto client = DialFromFlags(flags, flags.String("--coordinator"));
  if (!client.ok()) return client.status();
  return FetchReport(*client, run_id);
}

}  // namespace stampede
