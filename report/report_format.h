// A run's report for people and programs: text (terminal), JSON and CSV, all rendered from the
// one model of report/report_model.h.
#ifndef STAMPEDE_REPORT_REPORT_FORMAT_H_
#define STAMPEDE_REPORT_REPORT_FORMAT_H_

#include <string>

#include "control.pb.h"

namespace stampede {

// Multi-line summary: run, state, totals, latency percentiles, per region and per agent (with
// clock offset ± uncertainty and state: finished/lost) when there is more than one, per stage,
// status codes, errors, threshold results. Latencies that cannot be computed read "n/a".
std::string FormatReportText(const RunReport& report);

// JSON: {"runId", "plan", "state", "startedNs", "endedNs", "durationS", "totals": {requests,
// errors, errorRate, throughputRps, bytesSent, bytesReceived, late, dropped}, "latencyMs":
// {min, mean, p50, p90, p99, p999, max}, "serviceMs": {...}, "byStatus", "byError", "byRegion":
// {region: {agents, requests, errors, throughputRps, latencyMs}}, "byAgent": [{id, name, region,
// state, clockOffsetMs, clockUncertaintyMs, requests, errors, throughputRps, latencyMs}],
// "byStage": [{stage, name, load, requests, errors, throughputRps, latencyMs, serviceMs}],
// "timeline": [{second, requests, errors, throughputRps, p50Ms, p99Ms, byRegion: {...}}],
// "thresholds": [{metric, unit, limit, value, passed}], "thresholdFailures": [...], "passed"}
//
// Latencies are ms with 3 decimals, null where there are no records or the stored histogram does
// not decode. throughputRps is requests / (last end - first start), 0 when undefined; for a
// timeline point (one second wide) it is its request count. Map keys are sorted.
std::string FormatReportJson(const RunReport& report);

// CSV: one row per second x region (plus region "all"): second,region,requests,errors,
// throughput_rps,p50_ms,p90_ms,p99_ms,max_ms. Header row first; "all" then regions sorted;
// latencies "n/a" when unavailable (as in the text form).
std::string FormatReportCsv(const RunReport& report);

}  // namespace stampede

#endif  // STAMPEDE_REPORT_REPORT_FORMAT_H_
