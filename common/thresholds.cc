#include "common/thresholds.h"

#include "absl/strings/str_format.h"

namespace stampede {

std::string ThresholdCheck::FailureText() const {
  if (unit == "ms") return absl::StrFormat("%s %.3fms > %gms", metric, measured, limit);
  return absl::StrFormat("%s %.4f > %g", metric, measured, limit);
}

std::vector<ThresholdCheck> CheckThresholds(const Thresholds& th, uint64_t requests,
                                            uint64_t errors, const Histogram& latency) {
  std::vector<ThresholdCheck> checks;
  auto latency_check = [&](bool set, double limit, double q, const char* name) {
    if (!set) return;
    ThresholdCheck c{name, "ms", limit};
    if (requests > 0) {
      c.evaluated = true;
      c.measured = latency.Percentile(q) / 1000.0;
      c.passed = c.measured <= limit;
    }
    checks.push_back(c);
  };
  latency_check(th.has_p50_ms(), th.p50_ms(), 50, "p50");
  latency_check(th.has_p90_ms(), th.p90_ms(), 90, "p90");
  latency_check(th.has_p99_ms(), th.p99_ms(), 99, "p99");
  if (th.has_error_rate()) {
    ThresholdCheck c{"error rate", "", th.error_rate()};
    if (requests > 0) {
      c.evaluated = true;
      c.measured = static_cast<double>(errors) / static_cast<double>(requests);
      c.passed = c.measured <= th.error_rate();
    }
    checks.push_back(c);
  }
  return checks;
}

std::vector<std::string> ThresholdFailures(const std::vector<ThresholdCheck>& checks) {
  std::vector<std::string> failures;
  for (const ThresholdCheck& c : checks) {
    if (c.evaluated && !c.passed) failures.push_back(c.FailureText());
  }
  return failures;
}

}  // namespace stampede
