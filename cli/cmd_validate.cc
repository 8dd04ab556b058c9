// stampede validate PLAN.json: parse, check and summarise a plan without running it.
#include <iostream>

#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "common/plan_loader.h"

namespace stampede {

int CmdValidate(const Args& args) {
  auto flags = CliFlags::Parse(args, {}, {});
  if (!flags.ok()) return Fail("validate", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede validate PLAN.json\n";
    return 2;
  }
  auto plan = LoadPlan(flags->positional()[0]);
  if (!plan.ok()) {
    std::cout << "invalid: " << plan.status().message() << "\n";
    return 2;
  }
  std::cout << "ok: " << PlanSummary(*plan) << "\n";
  return 0;
}

}  // namespace stampede
