// stampede: the coordinator service and the command-line tool.
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "stampede " STAMPEDE_VERSION
    " - distributed load tests for model-serving endpoints\n"
    "\n"
    "usage: stampede COMMAND [flags]\n"
    "  demo                          simulated model service + 3 local agents: a whole run\n"
    "  validate PLAN.json            check a plan; prints ok and a summary, exit 2 if invalid\n"
    "  run PLAN.json                 run a plan: embedded (--local-agents N, default 2) or on a\n"
    "                                coordinator (--coordinator HOST:PORT); --json for the report\n"
    "  serve                         the coordinator service (--listen 127.0.0.1:7700 --db PATH)\n"
    "  agents                        agents connected to the coordinator\n"
    "  runs                          runs, newest first (--coordinator ADDR or --db PATH)\n"
    "  watch RUN                     follow a run live\n"
    "  abort RUN                     stop a run\n"
    "  report RUN                    merged report: --format text|json|csv [-o FILE]\n"
    "  saturate PLAN.json            saturation search: step the load up until the service\n"
    "                                fails (503, errors, p99 SLO), bisect, repeat; saturation\n"
    "                                throughput and the 70% operating point (--single-client,\n"
    "                                --local-agents N or --coordinator ADDR, --json)\n"
    "  size                          pods and nodes with the arithmetic: --rps --latency-ms\n"
    "                                --pod-concurrency --cpu-per-pod --vm-cores (or\n"
    "                                --target-rps --pod-saturation-rps); --json\n"
    "\n"
    "Remote commands take --coordinator HOST:PORT (default $STAMPEDE_COORDINATOR or\n"
    "127.0.0.1:7700) and --token T (default $STAMPEDE_TOKEN).\n"
    "`stampede COMMAND --help` lists every flag of a command; `stampede --version` the version.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << "stampede " STAMPEDE_VERSION "\n";
    return 0;
  }
  const std::map<std::string, int (*)(const stampede::Args&)> commands = {
      {"validate", stampede::CmdValidate}, {"serve", stampede::CmdServe},
      {"agents", stampede::CmdAgents},     {"run", stampede::CmdRun},
      {"runs", stampede::CmdRuns},         {"watch", stampede::CmdWatch},
      {"abort", stampede::CmdAbort},       {"report", stampede::CmdReport},
      {"demo", stampede::CmdDemo},         {"saturate", stampede::CmdSaturate},
      {"size", stampede::CmdSize}};
  auto it = commands.find(args[0]);
  if (it == commands.end()) {
    std::cerr << "stampede: unknown command \"" << args[0] << "\"\n\n" << kUsage;
    return 2;
  }
  return it->second(stampede::Args(args.begin() + 1, args.end()));
}
