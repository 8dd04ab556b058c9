// stampede run PLAN.json: on a coordinator, or embedded (an in-process coordinator and local
// agents) when no coordinator is given.
#include <iostream>

#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/embedded_cluster.h"
#include "cli/follow.h"
#include "common/plan_loader.h"

namespace stampede {

int RunPlanCommand(const Args& args, std::string* run_id_out) {
  auto flags =
      CliFlags::Parse(args, {"--coordinator", "--token", "--local-agents", "--db", "--regions"},
                      {"--json", "--quiet"});
  if (!flags.ok()) return Fail("run", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede run PLAN.json [--coordinator HOST:PORT] [--local-agents N] "
                 "[--json]\n";
    return 2;
  }
  auto local_agents = flags->GetInt("--local-agents", 2, 1, 64);
  if (!local_agents.ok()) return Fail("run", local_agents.status(), 2);
  // The plan is loaded here, on the client: payload and key are read locally and travel to the
  // agents over the link, never through a file on the coordinator.
  auto plan = LoadPlan(flags->positional()[0]);
  if (!plan.ok()) return Fail("run", plan.status(), 2);
  OutputMode mode{flags->Has("--json"), flags->Has("--quiet")};

  if (auto address = flags->Get("--coordinator")) {
    auto client = DialCoordinator(*address, TokenOr(flags->GetOr("--token", "")));
    if (!client.ok()) return Fail("run", client.status(), 3);
    return StartAndFollow(*client, *plan, mode, run_id_out);
  }
  const EmbeddedOptions options = EmbeddedOptionsForPlan(
      *local_agents, flags->GetOr("--db", "stampede.db"), flags->Get("--regions"), &*plan);
  auto cluster = EmbeddedCluster::Start(options);
  if (!cluster.ok()) return Fail("run", cluster.status(), 3);
  auto client = DialCoordinator((*cluster)->address(), "");
  if (!client.ok()) return Fail("run", client.status(), 3);
  const int code = StartAndFollow(*client, *plan, mode, run_id_out);
  if (!mode.json) std::cout << "store: " << options.db_path << "\n";
  return code;
}

int CmdRun(const Args& args) { return RunPlanCommand(args, nullptr); }

}  // namespace stampede
