// stampede runs: stored and running runs, newest first.
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/run_source.h"

namespace stampede {
namespace {

std::string FormatTime(int64_t ns) {
  if (ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

int CmdRuns(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token", "--db"}, {});
  if (!flags.ok()) return Fail("runs", flags.status(), 2);
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
