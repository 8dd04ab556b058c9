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
      .description =
          "Follow a run started elsewhere with live progress, then print its report. With --json, "
          "stdout carries one JSON object per second (one line each), then the JSON report.",
      .positionals = {{.name = "RUN", .help = "the run id (`stampede runs` lists them)"}},
      .flags = WithFlags(RemoteFlags(), {JsonFlag("progress as one JSON object per second, then "
                                                  "the report as JSON")})};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto client = DialFromFlags(*flags, flags->String("--coordinator"));
  if (!client.ok()) return Fail("watch", client.status(), ExitCodeFor(client.status()));
  OutputMode mode;
  mode.json = flags->Bool("--json");
  mode.json_stream = mode.json;
  if (auto s = FollowRun(*client, flags->positional()[0], mode); !s.ok()) {
    return Fail("watch", s, ExitCodeFor(s));
  }
  return PrintReport(*client, flags->positional()[0], mode, "watch");
}

}  // namespace stampede
