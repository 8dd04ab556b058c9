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

namespace stampede {

int CmdAgents(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede agents",
      .description =
          "The agents connected to a coordinator: name, region, labels, state, cores "
          "and clock offset.",
      .flags = {CoordinatorFlag(), TokenFlag(), JsonFlag("print them as a JSON array")}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto client = DialCoordinator(flags->String("--coordinator"), TokenOr(flags->String("--token")));
  if (!client.ok()) return Fail("agents", client.status(), 3);
  ListAgentsRequest request;
  request.set_token(client->token);
  ListAgentsResponse response;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->ListAgents(&ctx, request, &response)); !s.ok()) {
    return Fail("agents", s, 3);
  }
  if (flags->Bool("--json")) {
    std::vector<std::string> rows;
    for (const auto& a : response.agents()) {
      rows.push_back(absl::StrFormat(
          "{\"id\": \"%s\", \"name\": \"%s\", \"region\": \"%s\", \"state\": \"%s\", "
          "\"cores\": %d, \"clockOffsetMs\": %.3f, \"clockUncertaintyMs\": %.3f}",
          a.id(), a.name(), a.region(), a.state(), a.cores(), a.clock_offset_ns() / 1e6,
          a.clock_uncertainty_ns() / 1e6));
    }
    std::cout << "[" << absl::StrJoin(rows, ",\n ") << "]\n";
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
