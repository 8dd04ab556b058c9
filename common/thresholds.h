// A plan's thresholds judged against a run's merged figures: the one place that decides whether
// a run passed them. The coordinator uses it to mark a finished run and to watch a run live
// (abortOnFail); reports use it to print each limit next to its measured value.
#ifndef STAMPEDE_COMMON_THRESHOLDS_H_
#define STAMPEDE_COMMON_THRESHOLDS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/histogram.h"
#include "control.pb.h"
#include "plan.pb.h"

namespace stampede {

struct ThresholdCheck {
  // "p50", "p99.9", "max", "mean", "throughput", "error rate"; per region "p99 in westeurope".
  std::string metric;
  std::string unit;  // "ms" for latencies, "rps" for throughput, "" for the error rate (a fraction)
  double limit = 0;
  double measured = 0;  // in `unit`
  // False when there was nothing to judge (no requests): such a check neither passes nor fails.
  bool evaluated = false;
  bool passed = true;
  // The limit is a floor (throughput): passes when measured >= limit. Otherwise a ceiling.
  bool minimum = false;

  // "p99 412.000ms > 250ms", "error rate 0.0312 > 0.01", "throughput 80.0rps < 100rps": the
  // wording stored in reports.
  std::string FailureText() const;
  // The relation between measured and limit as it turned out: "<=" or ">" (">=" or "<" for a
  // floor). "<=" / ">=" when not evaluated.
  std::string Relation() const;
};

// What one slice of a run measured: the whole run, one region, or a window of seconds.
struct MeasuredSlice {
  uint64_t requests = 0;
  uint64_t errors = 0;
  Histogram latency;  // µs, from the intended send
  // Seconds the slice spans, for throughput; 0 leaves a throughput limit not evaluated.
  double seconds = 0;
  // Requests Stampede cut off itself (a stopped run): in `requests`, not in `errors`, and not
  // successes either, so throughput leaves them out.
  uint64_t aborted = 0;
};

// The slice of a merged aggregate: its span from first start to last end gives `seconds`.
MeasuredSlice SliceOf(const Aggregate& aggregate);

// One check per threshold set, in a fixed order: p50, p90, p95, p99, p99.9, the `latency` map's
// percentiles (ascending), max, mean, throughput, error rate; then, with per_region, the same
// (throughput excepted) for each region of `regions` in name order.
std::vector<ThresholdCheck> CheckThresholds(const Thresholds& thresholds, const MeasuredSlice& all,
                                            const std::map<std::string, MeasuredSlice>& regions);
// The whole run of a merged report (totals and by_region).
std::vector<ThresholdCheck> CheckThresholds(const Thresholds& thresholds, const RunReport& report);
// Only run-wide figures, throughput not evaluated. `latency` is the merged histogram (µs).
std::vector<ThresholdCheck> CheckThresholds(const Thresholds& thresholds, uint64_t requests,
                                            uint64_t errors, const Histogram& latency);

// The failure texts of the checks that failed, in order.
std::vector<std::string> ThresholdFailures(const std::vector<ThresholdCheck>& checks);

// The percentile a key of Thresholds.latency names: "p95" -> 95, "p99.9" and "p999" -> 99.9;
// nullopt unless it is in (0, 100].
std::optional<double> PercentileOfKey(absl::string_view key);

// Thresholds.abort_window, or its 10 s default.
int64_t AbortWindowSeconds(const Thresholds& thresholds);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_THRESHOLDS_H_
