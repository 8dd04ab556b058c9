// stampede runs: stored and running runs, newest first.
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/flag_specs.h"
#include "cli/run_source.h"

namespace stampede {
namespace {

std::string FormatTime(int64_t ns) {
  if (ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

int CmdRuns(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede runs",
      .usage = "stampede runs [--coordinator HOST:PORT | --db PATH]",
      .description = "Runs, newest first: id, plan, state, start, agents, requests and errors.",
      .flags = WithFlags({ReadDbFlag()}, RemoteFlags())};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto runs = LoadRuns(*flags);
  if (!runs.ok()) return Fail("runs", runs.status(), 3);
  if (runs->empty()) {
    std::cout << "no runs yet\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-24s %-16s %-26s %-20s %7s %10s %8s\n", "run", "plan", "state",
                               "started (UTC)", "agents", "requests", "errors");
  for (const auto& r : *runs) {
    std::cout << absl::StrFormat("%-24s %-16s %-26s %-20s %7d %10d %8d\n", r.run_id(),
                                 r.plan_name(), r.state(), FormatTime(r.started_ns()), r.agents(),
                                 r.requests(), r.errors());
  }
  return 0;
}

}  // namespace stampede
