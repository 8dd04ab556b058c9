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
      .flags = RemoteFlags()};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto client = DialFromFlags(*flags, flags->String("--coordinator"));
  if (!client.ok()) return Fail("abort", client.status(), ExitCodeFor(client.status()));
  RunRef ref;
  ref.set_token(client->token);
  ref.set_run_id(flags->positional()[0]);
  RunSummary summary;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->Abort(&ctx, ref, &summary)); !s.ok()) {
    return Fail("abort", s, ExitCodeFor(s));
  }
  std::cout << "run " << summary.run_id() << ": " << summary.state() << "\n";
  return 0;
}

}  // namespace stampede
