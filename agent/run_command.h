// `stampede-agent run PLAN.json [--out records.csv] [--json] [--threads N] [--quiet]`:
// runs a plan on this machine alone (the single-client test), with live progress on a terminal
// and a summary at the end.
#ifndef STAMPEDE_AGENT_RUN_COMMAND_H_
#define STAMPEDE_AGENT_RUN_COMMAND_H_

#include <string>
#include <vector>

namespace stampede {

// Returns the process exit code: 0 done, 1 a plan threshold failed, 2 bad input, 130 interrupted.
int RunLocalCommand(const std::vector<std::string>& args);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_RUN_COMMAND_H_
