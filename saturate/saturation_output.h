// What a saturation search prints: the live view's line per step, the text report and the JSON
// form (`stampede saturate --json`).
#ifndef STAMPEDE_SATURATE_SATURATION_OUTPUT_H_
#define STAMPEDE_SATURATE_SATURATION_OUTPUT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/json_writer.h"
#include "saturate/search.h"
#include "saturate/size_command.h"
#include "saturate/sizing.h"

namespace stampede {

// The live view's line for a finished step: repeat, phase, load, rps, p99, errors, verdict.
std::string FormatStepLine(const StepRecord& step, int repeats);

// What `stampede saturate` knows besides the search, for the `stampede size` command that ends
// its report.
struct SizingFollowUp {
  int64_t pods_tested = 1;           // --pods-tested: pods behind the service under test
  std::optional<double> target_rps;  // --target-rps: the rate to size for
  // The pod and node figures, when the caller has them (`stampede size`'s flags): the command
  // then sizes nodes too. Without them it sizes pods only.
  std::optional<PodParams> pod;
  NodeParams nodes;
};

// The `stampede size` inputs a saturated result leads to: --pod-saturation-rps is the saturation
// throughput / pods_tested (RoundedRate), --operating-fraction the search's. Without a target
// rate the inputs carry target_rps 0, which SizeCommandWords shows as the placeholder R. nullopt
// unless the result has a saturation.
std::optional<SizeInputs> NextSizeInputs(const SaturationResult& result,
                                         const SizingFollowUp& next);

// The arguments of that command (SizeCommandArgs), with "R" for a target rate of 0 (not known
// yet), and the whole line: "stampede size --target-rps 5000 --pod-saturation-rps 1000
// --operating-fraction 0.7".
std::vector<std::string> SizeCommandWords(const SizeInputs& inputs);
std::string SizeCommandText(const SizeInputs& inputs);

// A measured rate as the size command takes it: to at least 4 significant digits and at least
// one decimal, the nearest (197.867 -> 197.9, 411.525 -> 411.5, 3.14159 -> 3.142, 12345.67 ->
// 12345.7). Measurement noise is far above the rounding.
double RoundedRate(double rps);

// The operating point's load as a person would set it: closed loads are whole users already;
// open rates are rounded down to 3 significant digits (693.75 -> 693, 12345 -> 12300), down so
// that running at it stays at or under the operating point.
double RoundedOperatingLoad(double load, LoadModel model);

// Text report: settings, the table of steps, the verdict, saturation, spread, and at the end the
// operating point and the `stampede size` command to run next (with its answer when `next` has
// a target rate).
std::string FormatSaturationText(const SaturationResult& result, const SizingFollowUp& next = {});

// Writes the caller's own top-level members (key and value each) into the JSON form.
using ExtraJson = std::function<void(JsonWriter&)>;

// JSON: {"verdict", "inconsistent", "endedBy" (the rule(s) that bounded the saturation: "503",
// "errors", "slo", "throughput-knee", "p99-knee", joined by "+"), "saturation": {throughputRps,
// load, p99Ms, p50Ms, repeat, runId} | null, "operatingPoint": {fraction, throughputRps, load, loadRounded} | null,
// "sizeCommand": {line, args, podsTested, podSaturationRps, targetRps | null, answer: {pods,
// nodes | null} | {error} | null (no target rate)} | null, "repeats": [rps |
// null per repeat], "spread": {minRps, maxRps, medianRps, relative, limit}, "repeatDetails":
// [...], "settings": {...}, extra..., "steps": [{repeat, index, phase, load, throughputRps,
// p50Ms, p99Ms, meanMs, requests, errors, status503, errorRate, verdict: "ok"|"fail", why, rule,
// successes, runId, stoppedEarly}]}
std::string FormatSaturationJson(const SaturationResult& result, const ExtraJson& extra = nullptr,
                                 const SizingFollowUp& next = {});

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_SATURATION_OUTPUT_H_
