// stampede agents: the agents connected to a coordinator.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/flag_specs.h"
#include "common/grpc_status.h"
#include "common/json_writer.h"

namespace stampede {

int CmdAgents(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede agents",
      .description =
          "The agents connected to a coordinator: name, region, labels, state, cores "
          "and clock offset.",
      .flags = WithFlags(RemoteFlags(), {JsonFlag("print them as a JSON array")})};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto client = DialFromFlags(*flags, flags->String("--coordinator"));
  if (!client.ok()) return Fail("agents", client.status(), ExitCodeFor(client.status()));
  ListAgentsRequest request;
  request.set_token(client->token);
  ListAgentsResponse response;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->ListAgents(&ctx, request, &response)); !s.ok()) {
    return Fail("agents", s, ExitCodeFor(s));
  }
  if (flags->Bool("--json")) {
    JsonWriter w;
    w.BeginArray();
    for (const auto& a : response.agents()) {
      w.BeginObject(/*one_line=*/true);
      w.Key("id");
      w.String(a.id());
      w.Key("name");
      w.String(a.name());
      w.Key("region");
      w.String(a.region());
      w.Key("state");
      w.String(a.state());
      w.Key("cores");
      w.Int(a.cores());
      w.Key("clockOffsetMs");
      w.Fixed(static_cast<double>(a.clock_offset_ns()) / 1e6, 3);
      w.Key("clockUncertaintyMs");
      w.Fixed(static_cast<double>(a.clock_uncertainty_ns()) / 1e6, 3);
      w.EndObject();
    }
    w.EndArray();
    std::cout << w.Take();
    return 0;
  }
  if (response.agents_size() == 0) {
    std::cout << "no agents connected to " << client->address << "\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-20s %-16s %-24s %-22s %5s %s\n", "name", "region", "labels",
                               "state", "cores", "clock offset");
  for (const auto& a : response.agents()) {
    std::vector<std::string> labels;
    for (const auto& [k, v] : a.labels()) labels.push_back(absl::StrCat(k, "=", v));
    std::sort(labels.begin(), labels.end());
    std::cout << absl::StrFormat("%-20s %-16s %-24s %-22s %5d %+.3fms ± %.3fms\n", a.name(),
                                 a.region(), absl::StrJoin(labels, ","), a.state(), a.cores(),
                                 a.clock_offset_ns() / 1e6, a.clock_uncertainty_ns() / 1e6);
  }
  return 0;
}

}  // namespace stampede
