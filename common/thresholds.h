// A plan's thresholds judged against a run's merged figures: the one place that decides whether
// a run passed them. The coordinator uses it to mark a finished run; reports use it to print each
// limit next to its measured value.
#ifndef STAMPEDE_COMMON_THRESHOLDS_H_
#define STAMPEDE_COMMON_THRESHOLDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "plan.pb.h"

namespace stampede {

struct ThresholdCheck {
  std::string metric;  // "p50", "p90", "p99", "error rate"
  std::string unit;    // "ms" for latencies, "" for the error rate (a fraction)
  double limit = 0;
  double measured = 0;  // in `unit`
  // False when there was nothing to judge (no requests): such a check neither passes nor fails.
  bool evaluated = false;
  bool passed = true;

  // "p99 412.000ms > 250ms", "error rate 0.0312 > 0.01": the wording stored in reports.
  std::string FailureText() const;
};

// One check per threshold set in `thresholds`, in a fixed order (p50, p90, p99, error rate).
// `latency` is the run's merged latency histogram (µs).
std::vector<ThresholdCheck> CheckThresholds(const Thresholds& thresholds, uint64_t requests,
                                            uint64_t errors, const Histogram& latency);

// The failure texts of the checks that failed, in order.
std::vector<std::string> ThresholdFailures(const std::vector<ThresholdCheck>& checks);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_THRESHOLDS_H_
