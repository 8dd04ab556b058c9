// The `stampede` subcommands. Each takes the arguments after the subcommand name and returns
// the process exit code: 0 success, 1 a plan threshold failed (run) or the run did not finish,
// 2 bad input (flags, plan), 3 the coordinator or agents could not do it (unreachable, no
// matching agents, unknown run).
#ifndef STAMPEDE_CLI_COMMANDS_H_
#define STAMPEDE_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace stampede {

using Args = std::vector<std::string>;

int CmdValidate(const Args& args);
int CmdServe(const Args& args);
int CmdAgents(const Args& args);
int CmdRun(const Args& args);
// `stampede run` that also tells the caller (the demo) which run it started.
int RunPlanCommand(const Args& args, std::string* run_id_out);
int CmdRuns(const Args& args);
int CmdWatch(const Args& args);
int CmdAbort(const Args& args);
int CmdReport(const Args& args);
int CmdDemo(const Args& args);
// Exit codes: 0 saturated and the repeats agree; 1 another verdict (overloaded-at-start,
// not-saturated) or inconsistent repeats; 2 bad plan or flags; 3 the coordinator or agents could
// not run a step.
int CmdSaturate(const Args& args);
// Exit codes: 0 sized; 2 missing or invalid inputs (the message names the flag).
int CmdSize(const Args& args);

}  // namespace stampede

#endif  // STAMPEDE_CLI_COMMANDS_H_
