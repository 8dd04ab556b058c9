// An in-process coordinator on a loopback port plus N local agents connected to it over gRPC:
// the same code paths as a distributed run, in one process (`stampede run` without
// --coordinator, and `stampede demo`).
#ifndef STAMPEDE_CLI_EMBEDDED_CLUSTER_H_
#define STAMPEDE_CLI_EMBEDDED_CLUSTER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/coordinator_link.h"
#include "coordinator/server.h"
#include "plan.pb.h"

namespace stampede {

struct EmbeddedOptions {
  int agents = 2;
  // Agent i gets regions[i % size]; "local" when empty.
  std::vector<std::string> regions;
  std::string db_path = "stampede.db";
};

class EmbeddedCluster {
 public:
  // Returns once every agent has registered (or fails after 10 s).
  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(const EmbeddedOptions& options);
  ~EmbeddedCluster();

  const std::string& address() const { return server_->address(); }

 private:
  EmbeddedCluster() = default;
  std::unique_ptr<CoordinatorServer> server_;
  std::vector<std::unique_ptr<CoordinatorLink>> links_;
  std::vector<std::thread> threads_;
};

// Options of an embedded cluster of `local_agents` agents for `plan`: agent regions from
// `regions` (comma-separated, the --regions flag) or else the plan's regions. The plan's
// agents.count is capped at `local_agents` (the embedded cluster has no others), with a note on
// stderr, since a larger count could never be met.
EmbeddedOptions EmbeddedOptionsForPlan(int local_agents, const std::string& db_path,
                                       const std::optional<std::string>& regions, Plan* plan);

}  // namespace stampede

#endif  // STAMPEDE_CLI_EMBEDDED_CLUSTER_H_
