// The `stampede size` command line: its flags, what they ask (SizeInputs), the answer and how it
// is printed. Here rather than in cli/ so that `stampede saturate` can print the exact size
// command to run next, and a test can parse that line back in-process and get the same answer.
#ifndef STAMPEDE_SATURATE_SIZE_COMMAND_H_
#define STAMPEDE_SATURATE_SIZE_COMMAND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flags.h"
#include "saturate/sizing.h"

namespace stampede {

// The flags of `stampede size` (its --help comes from this too).
CommandSpec SizeCommandSpec();

// The pod and node flags of `stampede size` (--cpu-per-pod, --vm-cores, ... --spare-nodes), for
// another command that sizes nodes too (`stampede saturate --target-rps`).
std::vector<FlagSpec> PodAndNodeFlagSpecs();
struct PodAndNode {
  PodParams pod;
  NodeParams nodes;
};
// Their values when any of them is given (then --cpu-per-pod and --vm-cores are required, as in
// `stampede size`); nullopt when none is.
absl::StatusOr<std::optional<PodAndNode>> PodAndNodeFromFlags(const ParsedFlags& flags);

// What a `stampede size` command line asks, in either of its two forms.
struct SizeInputs {
  // Set: the second form (--target-rps, --pod-saturation-rps): pods from a measured saturation.
  std::optional<MeasuredSizingParams> measured;
  // The first form uses all of it. The second uses only `pod` and `nodes`, and only when
  // `size_nodes`: its command line gave pod or node figures.
  SizingParams latency;
  bool size_nodes = true;
};

// The flags as inputs. Errors name the flag: a missing one ("--rps is required"), one that is
// not a number, one that belongs to the other form.
absl::StatusOr<SizeInputs> SizeInputsFromFlags(const ParsedFlags& flags);

// The arguments (after `stampede size`) that SizeInputsFromFlags turns back into `inputs`:
// every value exactly (the shortest decimal that parses to the same double), the overheads only
// when they differ from their defaults.
std::vector<std::string> SizeCommandArgs(const SizeInputs& inputs);

// The answer: pods, and nodes when the inputs size them, with the whole arithmetic.
struct SizeAnswer {
  SizeInputs inputs;
  int64_t pods = 0;
  std::optional<SizingResult> latency;           // the first form
  std::optional<MeasuredSizingResult> measured;  // the second form
  std::optional<NodeSizing> nodes;
  std::string arithmetic;  // lines ending in '\n'
};

absl::StatusOr<SizeAnswer> AnswerSize(const SizeInputs& inputs);

// "12 pods on 3 nodes (4-core VMs), available CPU 6.0 for 6.0 required, up to 6 pods per node"
// ("(4-core VMs; 3 needed + 1 spare)" with spares), or "12 pods" when nodes are not sized.
std::string SizeResultLine(const SizeAnswer& answer);
// What `stampede size` prints: the arithmetic, a blank line, "result: " and the result line.
std::string SizeAnswerText(const SizeAnswer& answer);
// What `stampede size --json` prints.
std::string SizeAnswerJson(const SizeAnswer& answer);

// A number as a command-line value: the shortest fixed-point decimal that parses back to the
// same double ("0.7", "123.4", "1000"), so that a printed command line gives the same answer.
std::string ExactNumber(double value);

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_SIZE_COMMAND_H_
