#include "common/thresholds.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stampede {
namespace {

constexpr int64_t kDefaultAbortWindowSeconds = 10;

// A percentile as a metric name: 99.9 -> "p99.9".
std::string PercentileName(double q) { return absl::StrCat("p", absl::StrFormat("%g", q)); }

// The latency percentiles set, ascending by percentile (stable for equal ones), with names.
struct PercentileLimit {
  double q;
  std::string name;
  double limit;
};
std::vector<PercentileLimit> PercentileLimits(const Thresholds& th) {
  std::vector<PercentileLimit> out;
  if (th.has_p50_ms()) out.push_back({50, "p50", th.p50_ms()});
  if (th.has_p90_ms()) out.push_back({90, "p90", th.p90_ms()});
  if (th.has_p95_ms()) out.push_back({95, "p95", th.p95_ms()});
  if (th.has_p99_ms()) out.push_back({99, "p99", th.p99_ms()});
  if (th.has_p999_ms()) out.push_back({99.9, "p99.9", th.p999_ms()});
  std::vector<PercentileLimit> general;
  for (const auto& [key, limit] : th.latency()) {
    // Validation refuses bad keys; a report written by another version may still hold one.
    if (std::optional<double> q = PercentileOfKey(key)) {
      general.push_back({*q, PercentileName(*q), limit});
    }
  }
  // Protobuf maps have no order: sort so that reports are stable.
  std::sort(general.begin(), general.end(),
            [](const PercentileLimit& a, const PercentileLimit& b) { return a.q < b.q; });
  out.insert(out.end(), general.begin(), general.end());
  return out;
}

// Every check of one slice. `suffix` names the region (" in westeurope") or is empty.
void CheckSlice(const Thresholds& th, const MeasuredSlice& s, const std::string& suffix,
                bool with_throughput, std::vector<ThresholdCheck>* checks) {
  const bool any = s.requests > 0;
  auto add = [&](std::string metric, const char* unit, double limit, double measured,
                 bool evaluated, bool minimum = false) {
    ThresholdCheck c{std::move(metric) + suffix, unit, limit};
    c.minimum = minimum;
    if (evaluated) {
      c.evaluated = true;
      c.measured = measured;
      c.passed = minimum ? measured >= limit : measured <= limit;
    }
    checks->push_back(std::move(c));
  };
  for (const PercentileLimit& p : PercentileLimits(th)) {
    add(p.name, "ms", p.limit, any ? s.latency.Percentile(p.q) / 1000.0 : 0, any);
  }
  if (th.has_max_ms()) add("max", "ms", th.max_ms(), s.latency.max() / 1000.0, any);
  if (th.has_mean_ms()) add("mean", "ms", th.mean_ms(), s.latency.mean() / 1000.0, any);
  if (with_throughput && th.has_min_throughput_rps()) {
    const bool judged = any && s.seconds > 0;
    const double ok = static_cast<double>(s.requests - std::min(s.errors + s.aborted, s.requests));
    add("throughput", "rps", th.min_throughput_rps(), judged ? ok / s.seconds : 0, judged,
        /*minimum=*/true);
  }
  const bool has_error_rate = th.has_max_error_rate() || th.has_error_rate();
  if (has_error_rate) {
    const double limit = th.has_max_error_rate() ? th.max_error_rate() : th.error_rate();
    add("error rate", "", limit,
        any ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0, any);
  }
}

}  // namespace

std::string ThresholdCheck::FailureText() const {
  if (unit == "ms")
    return absl::StrFormat("%s %.3fms %s %gms", metric, measured, Relation(), limit);
  if (unit == "rps") {
    return absl::StrFormat("%s %.1frps %s %grps", metric, measured, Relation(), limit);
  }
  return absl::StrFormat("%s %.4f %s %g", metric, measured, Relation(), limit);
}

std::string ThresholdCheck::Relation() const {
  const bool failed = evaluated && !passed;
  if (minimum) return failed ? "<" : ">=";
  return failed ? ">" : "<=";
}

MeasuredSlice SliceOf(const Aggregate& a) {
  MeasuredSlice s;
  s.requests = a.requests();
  s.errors = a.errors();
  if (auto it = a.by_error().find("aborted"); it != a.by_error().end()) s.aborted = it->second;
  if (absl::StatusOr<Histogram> h = Histogram::FromProto(a.latency()); h.ok()) {
    s.latency = std::move(*h);
  }
  if (a.requests() > 0 && a.last_end_ns() > a.first_start_ns()) {
    s.seconds = static_cast<double>(a.last_end_ns() - a.first_start_ns()) / 1e9;
  }
  return s;
}

std::vector<ThresholdCheck> CheckThresholds(const Thresholds& th, const MeasuredSlice& all,
                                            const std::map<std::string, MeasuredSlice>& regions) {
  std::vector<ThresholdCheck> checks;
  CheckSlice(th, all, "", /*with_throughput=*/true, &checks);
  if (th.per_region()) {
    for (const auto& [region, slice] : regions) {
      // A region's share of the load is the plan's business, so throughput is run-wide only.
      CheckSlice(th, slice, absl::StrCat(" in ", region.empty() ? "(no region)" : region),
                 /*with_throughput=*/false, &checks);
    }
  }
  return checks;
}

std::vector<ThresholdCheck> CheckThresholds(const Thresholds& th, const RunReport& report) {
  std::map<std::string, MeasuredSlice> regions;
  if (th.per_region()) {
    for (const auto& [name, aggregate] : report.by_region()) regions[name] = SliceOf(aggregate);
  }
  return CheckThresholds(th, SliceOf(report.totals()), regions);
}

std::vector<ThresholdCheck> CheckThresholds(const Thresholds& th, uint64_t requests,
                                            uint64_t errors, const Histogram& latency) {
  MeasuredSlice all{requests, errors, latency, 0};
  return CheckThresholds(th, all, {});
}

std::vector<std::string> ThresholdFailures(const std::vector<ThresholdCheck>& checks) {
  std::vector<std::string> failures;
  for (const ThresholdCheck& c : checks) {
    if (c.evaluated && !c.passed) failures.push_back(c.FailureText());
  }
  return failures;
}

std::optional<double> PercentileOfKey(absl::string_view key) {
  if (key.size() < 2 || (key[0] != 'p' && key[0] != 'P')) return std::nullopt;
  absl::string_view number = key.substr(1);
  double q = 0;
  if (!absl::SimpleAtod(number, &q) || !std::isfinite(q)) return std::nullopt;
  const bool digits_only = std::all_of(number.begin(), number.end(), absl::ascii_isdigit);
  // "p999" is how people write the 99.9th: digits after the first two are decimals.
  if (q > 100 && digits_only && number.size() > 2) {
    if (!absl::SimpleAtod(absl::StrCat(number.substr(0, 2), ".", number.substr(2)), &q)) {
      return std::nullopt;
    }
  }
  if (!(q > 0 && q <= 100)) return std::nullopt;
  return q;
}

int64_t AbortWindowSeconds(const Thresholds& th) {
  if (!th.has_abort_window()) return kDefaultAbortWindowSeconds;
  const int64_t s = th.abort_window().seconds() + (th.abort_window().nanos() > 0 ? 1 : 0);
  return std::max<int64_t>(s, 1);
}

}  // namespace stampede
