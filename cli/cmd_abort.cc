// stampede abort RUN: stop a run on every agent; it ends as "aborted" and is stored as usual.
#include <iostream>

#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/flag_specs.h"
#include "common/grpc_status.h"

namespace stampede {

int CmdAbort(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede abort",
      .description = "Stop a run on every agent; it ends as \"aborted\" and is stored as usual.",
      .positionals = {{.name = "RUN", .help = "the run id (`stampede runs` lists them)"}},
      .flags = {CoordinatorFlag(), TokenFlag(), TokenFileFlag()}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto token = ResolveToken(*flags);
  if (!token.ok()) return Fail("abort", token.status(), 2);
  auto client = DialCoordinator(flags->String("--coordinator"), *token);
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
