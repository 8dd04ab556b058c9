// stampede watch RUN: follow a run started elsewhere, then print its report.
#include <iostream>

#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/follow.h"

namespace stampede {

int CmdWatch(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token"}, {"--json"});
  if (!flags.ok()) return Fail("watch", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede watch RUN [--coordinator HOST:PORT] [--json]\n";
    return 2;
  }
  auto client = DialCoordinator(flags->GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags->GetOr("--token", "")));
  if (!client.ok()) return Fail("watch", client.status(), 3);
  OutputMode mode{flags->Has("--json"), false};
  if (auto s = FollowRun(*client, flags->positional()[0], mode); !s.ok()) {
    return Fail("watch", s, 3);
  }
  return PrintReport(*client, flags->positional()[0], mode, "watch");
}

}  // namespace stampede
