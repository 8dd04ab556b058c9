// stampede size: pods and nodes for a model service, with the arithmetic shown. The flags, the
// arithmetic and the output are saturate/size_command.h's, shared with `stampede saturate`.
#include <iostream>

#include "cli/commands.h"
#include "common/flags.h"
#include "saturate/size_command.h"

namespace stampede {

int CmdSize(const Args& args) {
  const CommandSpec spec = SizeCommandSpec();
  if (args.empty()) {
    std::cerr << CommandHelp(spec);
    return 2;
  }
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  absl::StatusOr<SizeAnswer> answer = [&]() -> absl::StatusOr<SizeAnswer> {
    auto inputs = SizeInputsFromFlags(*flags);
    if (!inputs.ok()) return inputs.status();
    return AnswerSize(*inputs);
  }();
  if (!answer.ok()) {
    std::cerr << "stampede size: " << answer.status().message() << "\n";
    return 2;
  }
  std::cout << (flags->Bool("--json") ? SizeAnswerJson(*answer) : SizeAnswerText(*answer));
  return 0;
}

}  // namespace stampede
