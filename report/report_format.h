// Renders a merged RunReport for people and programs: text (terminal), JSON, CSV.
#ifndef STAMPEDE_REPORT_REPORT_FORMAT_H_
#define STAMPEDE_REPORT_REPORT_FORMAT_H_

#include <string>

#include "control.pb.h"

namespace stampede {

// Multi-line summary: run, state, totals, latency percentiles, per region, per agent (with
// clock offset ± uncertainty and state: finished/lost), per stage, status codes, errors,
// threshold results. Latencies that cannot be computed read "n/a".
std::string FormatReportText(const RunReport& report);

// JSON: {"runId", "plan", "state", "startedNs", "endedNs", "totals": {requests, errors,
// errorRate, throughputRps}, "latencyMs": {min, mean, p50, p90, p99, p999, max}, "byStatus",
// "byError", "byRegion": {region: {requests, errors, throughputRps, latencyMs}}, "byAgent": [{id,
// name, region, state, clockOffsetMs, clockUncertaintyMs, requests, errors, throughputRps,
// latencyMs}], "byStage": [...], "timeline": [{second, requests, errors, throughputRps, p50Ms,
// p99Ms, byRegion: {...}}], "thresholdFailures": [...], "passed": bool}
//
// Latencies are ms with 3 decimals, null where there are no records or the stored histogram does
// not decode. throughputRps is requests / (last_end_ns - first_start_ns), 0 when undefined;
// for a timeline point (one second wide) it is its request count. Map keys are sorted; byStage
// entries are {stage, name, requests, errors, throughputRps, latencyMs}, name from report.plan.
std::string FormatReportJson(const RunReport& report);

// CSV: one row per second x region (plus region "all"): second,region,requests,errors,
// throughput_rps,p50_ms,p90_ms,p99_ms,max_ms. Header row first; "all" then regions sorted;
// latencies "n/a" when unavailable (as in the text form).
std::string FormatReportCsv(const RunReport& report);

}  // namespace stampede

#endif  // STAMPEDE_REPORT_REPORT_FORMAT_H_
