#include "cli/embedded_cluster.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace stampede {

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    const EmbeddedOptions& options) {
  auto cluster = std::unique_ptr<EmbeddedCluster>(new EmbeddedCluster());
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.db_path = options.db_path;
  server_options.embedded = true;
  // Local agents share this machine: split its cores between them.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  server_options.manager.agent_threads = std::max(1, cores / std::max(1, options.agents));
  auto server = CoordinatorServer::Start(server_options);
  if (!server.ok()) return server.status();
  cluster->server_ = std::move(*server);
  for (int i = 0; i < options.agents; ++i) {
    LinkOptions link;
    link.coordinator = cluster->server_->address();
    link.region = options.regions.empty() ? "local" : options.regions[i % options.regions.size()];
    link.name = absl::StrCat("local-", i + 1, "-", link.region);
    cluster->links_.push_back(std::make_unique<CoordinatorLink>(link));
  }
  for (auto& link : cluster->links_) {
    CoordinatorLink* raw = link.get();
    cluster->threads_.emplace_back([raw] { (void)raw->Run(); });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    const auto agents = cluster->server_->manager().ListAgents();
    if (static_cast<int>(agents.size()) == options.agents) break;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "only ", agents.size(), " of ", options.agents, " local agents registered within 10 s"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return cluster;
}

EmbeddedCluster::~EmbeddedCluster() {
  for (auto& link : links_) link->Shutdown();
  for (auto& t : threads_) t.join();
  links_.clear();
  server_.reset();
}

EmbeddedOptions EmbeddedOptionsForPlan(int local_agents, const std::string& db_path,
                                       const std::optional<std::string>& regions, Plan* plan) {
  EmbeddedOptions options;
  options.agents = local_agents;
  options.db_path = db_path;
  if (regions.has_value()) {
    options.regions = absl::StrSplit(*regions, ',', absl::SkipEmpty());
  } else {
    options.regions.assign(plan->agents().regions().begin(), plan->agents().regions().end());
  }
  if (plan->agents().count() > local_agents) {
    std::cerr << "note: the plan asks for " << plan->agents().count() << " agents; running on "
              << local_agents << " local agents (--local-agents)\n";
    plan->mutable_agents()->set_count(local_agents);
  }
  return options;
}

}  // namespace stampede
