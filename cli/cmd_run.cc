// stampede run PLAN.json: on a coordinator, or embedded (an in-process coordinator and local
// agents) when no coordinator is given.
#include <iostream>

#include "cli/adhoc_plan.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/embedded_cluster.h"
#include "cli/flag_specs.h"
#include "cli/follow.h"
#include "common/plan_loader.h"

namespace stampede {

int RunPlanCommand(const Args& args, std::string* run_id_out) {
  const CommandSpec spec = {
      .command = "stampede run",
      .usage =
          "stampede run PLAN.json [--coordinator HOST:PORT | --local-agents N] [--json]\n"
          "       stampede run --url URL [-m POST] [--body FILE] [-H 'K: V']... [--bearer-env "
          "VAR]\n"
          "                    (-c N | --rate R) (-d 10s | -n 1000) [--local-agents N | "
          "--coordinator ADDR]",
      .description =
          "Run a plan on a coordinator's agents, or embedded: an in-process "
          "coordinator and local agents. Live progress, then the merged report. Exit "
          "1 when a plan threshold failed or the run did not finish.",
      .positionals = {{.name = "PLAN.json",
                       .help = "the plan (`stampede validate` checks it); or the ad-hoc flags",
                       .optional = true}},
      .flags = WithFlags(
          {LocalAgentsFlag(""),
           EmbeddedDbFlag(),
           RegionsFlag(),
           JsonFlag("stdout carries only the report, as JSON; progress goes to stderr"),
           {.name = "--quiet", .help = "no live progress"},
           {.name = "--detach",
            .help = "start the run on the coordinator, print its id and return (`stampede "
                    "watch RUN` follows it)"}},
          WithFlags(EmbeddedOrRemoteFlags(), AdhocFlags()))};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto local_agents = flags->Int("--local-agents", 1, 64);
  if (!local_agents.ok()) return Fail("run", local_agents.status(), 2);
  // The plan is loaded here, on the client: payload and key are read locally and travel to the
  // agents over the link, never through a file on the coordinator.
  const bool adhoc = HasAdhocFlags(*flags);
  if (adhoc == !flags->positional().empty()) {
    return Fail("run",
                absl::InvalidArgumentError(adhoc ? "a plan file or the ad-hoc flags (--url ...), "
                                                   "not both"
                                                 : "give a plan file, or --url and the ad-hoc "
                                                   "flags (`stampede run --help`)"),
                2);
  }
  auto plan = adhoc ? AdhocPlan(*flags) : LoadPlan(flags->positional()[0]);
  if (!plan.ok()) return Fail("run", plan.status(), 2);
  OutputMode mode{flags->Bool("--json"), flags->Bool("--quiet"), flags->Bool("--detach")};

  // With --json or --detach, stdout carries only the report or the run id.
  std::ostream& say = mode.json || mode.detach ? std::cerr : std::cout;
  if (auto address = RemoteAddress(*flags)) {
    say << "coordinator " << *address << std::endl;
    auto client = DialFromFlags(*flags, *address);
    if (!client.ok()) return Fail("run", client.status(), ExitCodeFor(client.status()));
    return StartAndFollow(*client, *plan, mode, run_id_out);
  }
  const EmbeddedOptions options =
      EmbeddedOptionsForPlan(*local_agents, flags->String("--db"), flags->Get("--regions"), &*plan);
  if (mode.detach) {
    return Fail("run",
                absl::InvalidArgumentError("--detach needs a coordinator (--coordinator or "
                                           "$STAMPEDE_COORDINATOR): an embedded run ends with "
                                           "this process"),
                2);
  }
  say << "embedded: " << options.agents << " local agent" << (options.agents == 1 ? "" : "s")
      << std::endl;
  auto cluster = EmbeddedCluster::Start(options);
  if (!cluster.ok()) return Fail("run", cluster.status(), 3);
  auto client = DialCoordinator((*cluster)->address(), "", TlsFiles{});
  if (!client.ok()) return Fail("run", client.status(), 3);
  const int code = StartAndFollow(*client, *plan, mode, run_id_out);
  if (!mode.json) std::cout << "store: " << options.db_path << "\n";
  return code;
}

int CmdRun(const Args& args) { return RunPlanCommand(args, nullptr); }

}  // namespace stampede
