// stampede watch RUN: follow a run started elsewhere, then print its report.
#include <iostream>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/flag_specs.h"
#include "cli/follow.h"

namespace stampede {

int CmdWatch(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede watch",
      .description = "Follow a run started elsewhere with live progress, then print its report.",
      .positionals = {{.name = "RUN", .help = "the run id (`stampede runs` lists them)"}},
      .flags = {CoordinatorFlag(), TokenFlag(), TokenFileFlag(),
                JsonFlag("stdout carries only the report, as JSON; progress goes to stderr")}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto token = ResolveToken(*flags);
  if (!token.ok()) return Fail("watch", token.status(), 2);
  auto client = DialCoordinator(flags->String("--coordinator"), *token);
  if (!client.ok()) return Fail("watch", client.status(), 3);
  OutputMode mode{flags->Bool("--json"), false};
  if (auto s = FollowRun(*client, flags->positional()[0], mode); !s.ok()) {
    return Fail("watch", s, 3);
  }
  return PrintReport(*client, flags->positional()[0], mode, "watch");
}

}  // namespace stampede
