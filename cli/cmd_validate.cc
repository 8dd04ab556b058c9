// stampede validate PLAN.json: parse, check and summarise a plan without running it.
#include <iostream>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "common/flags.h"
#include "common/plan_loader.h"

namespace stampede {

int CmdValidate(const Args& args) {
  const CommandSpec spec = {.command = "stampede validate",
                            .description =
                                "Check a plan without running it: prints \"ok\" and a summary, or "
                                "\"invalid\" and the field at fault (exit 2).",
                            .positionals = {{.name = "PLAN.json", .help = "the plan to check"}}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto plan = LoadPlan(flags->positional()[0]);
  if (!plan.ok()) {
    std::cout << "invalid: " << plan.status().message() << "\n";
    return 2;
  }
  std::cout << "ok: " << PlanSummary(*plan) << "\n";
  return 0;
}

}  // namespace stampede
