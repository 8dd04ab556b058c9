// What a saturation search prints: the live view's line per step, the text report and the JSON
// form (`stampede saturate --json`).
#ifndef STAMPEDE_SATURATE_SATURATION_OUTPUT_H_
#define STAMPEDE_SATURATE_SATURATION_OUTPUT_H_

#include <functional>
#include <string>

#include "common/json_writer.h"
#include "saturate/search.h"

namespace stampede {

// The live view's line for a finished step: repeat, phase, load, rps, p99, errors, verdict.
std::string FormatStepLine(const StepRecord& step, int repeats);

// Text report: settings, the table of steps, the verdict, saturation, spread, operating point.
std::string FormatSaturationText(const SaturationResult& result);

// Writes the caller's own top-level members (key and value each) into the JSON form.
using ExtraJson = std::function<void(JsonWriter&)>;

// JSON: {"verdict", "inconsistent", "saturation": {throughputRps, load, p99Ms, p50Ms, repeat,
// runId} | null, "operatingPoint": {fraction, throughputRps, load} | null, "repeats": [rps |
// null per repeat], "spread": {minRps, maxRps, medianRps, relative, limit}, "repeatDetails":
// [...], "settings": {...}, extra..., "steps": [{repeat, index, phase, load, throughputRps,
// p50Ms, p99Ms, meanMs, requests, errors, status503, errorRate, verdict: "ok"|"fail", why, runId,
// stoppedEarly}]}
std::string FormatSaturationJson(const SaturationResult& result, const ExtraJson& extra = nullptr);

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_SATURATION_OUTPUT_H_
