// stampede abort RUN: stop a run on every agent; it ends as "aborted" and is stored as usual.
#include <iostream>

#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "common/grpc_status.h"

namespace stampede {

int CmdAbort(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token"}, {});
  if (!flags.ok()) return Fail("abort", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede abort RUN [--coordinator ADDR]\n";
    return 2;
  }
  auto client = DialCoordinator(flags->GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags->GetOr("--token", "")));
  if (!client.ok()) return Fail("abort", client.status(), 3);
  RunRef ref;
  ref.set_token(client->token);
  ref.set_run_id(flags->positional()[0]);
  RunSummary summary;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->Abort(&ctx, ref, &summary)); !s.ok()) {
    return Fail("abort", s, 3);
  }
  std::cout << "run " << summary.run_id() << ": " << summary.state() << "\n";
  return 0;
}

}  // namespace stampede
