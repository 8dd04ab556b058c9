// stampede-agent: generates load. `run` runs a plan locally (single-client mode).
#include <iostream>
#include <string>
#include <vector>

#include "agent/run_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << "stampede-agent " STAMPEDE_VERSION "\n"
                 "usage:\n"
                 "  stampede-agent run PLAN.json [--out records.csv] [--json] [--threads N] "
                 "[--quiet]\n"
                 "      run a plan on this machine alone and print a summary\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "stampede-agent " STAMPEDE_VERSION "\n";
    return 0;
  }
  if (args[0] == "run") {
    return stampede::RunLocalCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::cerr << "stampede-agent: unknown command \"" << args[0] << "\" (try --help)\n";
  return 2;
}
