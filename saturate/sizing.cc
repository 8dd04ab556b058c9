#include "saturate/sizing.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stampede {
namespace {

// Counts beyond this are a typo in the inputs, not a cluster; it also keeps int64 safe.
constexpr double kMaxCount = 1e12;

// ceil() that forgives floating-point noise: 9.9 / 3.3 is 3.0000000000000004 in doubles, and a
// worked example that is exactly 3 nodes on paper must not come out as 4.
double TolerantCeil(double x) { return std::ceil(x - 1e-9 * std::max(1.0, std::fabs(x))); }

absl::Status CheckPositive(double value, const char* flag) {
  if (std::isfinite(value) && value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " must be a positive number, got ", SizingNumber(value)));
}

absl::Status CheckNonNegative(double value, const char* flag) {
  if (std::isfinite(value) && value >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " must be a number >= 0, got ", SizingNumber(value)));
}

absl::Status CheckNodeParams(const NodeParams& p) {
  if (auto s = CheckPositive(p.vm_cores, "--vm-cores"); !s.ok()) return s;
  if (auto s = CheckNonNegative(p.node_overhead, "--node-overhead"); !s.ok()) return s;
  if (auto s = CheckNonNegative(p.cluster_overhead, "--cluster-overhead"); !s.ok()) return s;
  if (p.vm_cores <= p.node_overhead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vm-cores (", SizingNumber(p.vm_cores), ") must be larger than --node-overhead (",
        SizingNumber(p.node_overhead), "): a node would have no cores left for pods"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SizingNumber(double value, int min_decimals) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string s = absl::StrFormat("%.3f", value);
  // Drop trailing zeros down to `min_decimals` decimals (and the point when none remain).
  const size_t point = s.find('.');
  size_t keep = s.size();
  while (keep > point + 1 + static_cast<size_t>(min_decimals) && s[keep - 1] == '0') --keep;
  if (keep == point + 1) --keep;
  s.resize(keep);
  if (s == "-0" || s == "-0.0") s.erase(0, 1);
  return s;
}

absl::StatusOr<NodeSizing> SizeNodes(double required_cpu, const NodeParams& params) {
  if (auto s = CheckNodeParams(params); !s.ok()) return s;
  if (auto s = CheckPositive(required_cpu, "--cpu-per-pod"); !s.ok()) return s;
  NodeSizing out;
  out.required_cpu = required_cpu;
  out.vm_cores = params.vm_cores;
  out.node_overhead = params.node_overhead;
  out.cluster_overhead = params.cluster_overhead;
  out.usable_cores_per_node = params.vm_cores - params.node_overhead;
  const double exact = (required_cpu + params.cluster_overhead) / out.usable_cores_per_node;
  if (!(exact <= kMaxCount)) {
    return absl::OutOfRangeError(absl::StrCat("the cluster would need more than ",
                                              SizingNumber(kMaxCount),
                                              " nodes; check --vm-cores and the load figures"));
  }
  double n = std::max(1.0, TolerantCeil(exact));
  // TolerantCeil may round down a hair too far; the definition is the inequality, so honour it.
  auto available = [&](double nodes) {
    return out.usable_cores_per_node * nodes - params.cluster_overhead;
  };
  while (available(n) < required_cpu - 1e-9 * std::max(1.0, required_cpu)) n += 1;
  out.nodes = static_cast<int64_t>(n);
  out.available_cpu = available(n);
  out.spare_cpu = out.available_cpu - required_cpu;

  const std::string usable = SizingNumber(out.usable_cores_per_node);
  const std::string overhead = SizingNumber(params.cluster_overhead);
  const std::string required = SizingNumber(required_cpu, 1);
  out.arithmetic = absl::StrCat(
      "available CPU = (VM cores - node overhead) x nodes - cluster overhead\n",
      "              = (", SizingNumber(params.vm_cores), " - ", SizingNumber(params.node_overhead),
      ") x nodes - ", overhead, " = ", usable, " x nodes - ", overhead, "\n",
      "nodes         = smallest n with ", usable, " x n - ", overhead, " >= ", required, ": n >= (",
      required, " + ", overhead, ") / ", usable, " = ", SizingNumber(exact), " -> ", out.nodes,
      out.nodes == 1 ? " node\n" : " nodes\n", "available CPU = ", usable, " x ", out.nodes, " - ",
      overhead, " = ", SizingNumber(out.available_cpu, 1), " CPUs (spare ",
      SizingNumber(out.spare_cpu, 1), ")\n");
  return out;
}

absl::StatusOr<SizingResult> SizeCluster(const SizingParams& params) {
  if (auto s = CheckPositive(params.rps, "--rps"); !s.ok()) return s;
  if (auto s = CheckPositive(params.latency_ms, "--latency-ms"); !s.ok()) return s;
  if (auto s = CheckPositive(params.pod_concurrency, "--pod-concurrency"); !s.ok()) return s;
  if (auto s = CheckPositive(params.cpu_per_pod, "--cpu-per-pod"); !s.ok()) return s;
  if (auto s = CheckNodeParams(params.nodes); !s.ok()) return s;
  SizingResult out;
  out.params = params;
  out.latency_s = params.latency_ms / 1000.0;
  out.concurrent_requests = params.rps * out.latency_s;
  const double exact_pods = out.concurrent_requests / params.pod_concurrency;
  if (!(exact_pods <= kMaxCount)) {
    return absl::OutOfRangeError(absl::StrCat("the load would need more than ",
                                              SizingNumber(kMaxCount),
                                              " pods; check --rps and --latency-ms"));
  }
  // Even a trickle of traffic needs one pod to serve it.
  out.pods = static_cast<int64_t>(std::max(1.0, TolerantCeil(exact_pods)));
  out.required_cpu = static_cast<double>(out.pods) * params.cpu_per_pod;
  auto nodes = SizeNodes(out.required_cpu, params.nodes);
  if (!nodes.ok()) return nodes.status();
  out.nodes = *std::move(nodes);
  out.arithmetic = absl::StrCat(
      "required pods = ceil(rps x latency / pod concurrency)\n", "              = ceil(",
      SizingNumber(params.rps), " x ", SizingNumber(out.latency_s), " s / ",
      SizingNumber(params.pod_concurrency), ") = ceil(", SizingNumber(exact_pods), ") = ", out.pods,
      out.pods == 1 ? " pod\n" : " pods\n", "required CPU  = pods x CPU per pod = ", out.pods,
      " x ", SizingNumber(params.cpu_per_pod), " = ", SizingNumber(out.required_cpu, 1), " CPUs\n",
      out.nodes.arithmetic);
  return out;
}

absl::StatusOr<MeasuredSizingResult> PodsFromSaturation(const MeasuredSizingParams& params) {
  if (auto s = CheckPositive(params.target_rps, "--target-rps"); !s.ok()) return s;
  if (auto s = CheckPositive(params.pod_saturation_rps, "--pod-saturation-rps"); !s.ok()) {
    return s;
  }
  if (!(std::isfinite(params.operating_fraction) && params.operating_fraction > 0 &&
        params.operating_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--operating-fraction must be in (0, 1], got ",
                                                   SizingNumber(params.operating_fraction)));
  }
  MeasuredSizingResult out;
  out.params = params;
  out.per_pod_operating_rps = params.operating_fraction * params.pod_saturation_rps;
  const double exact = params.target_rps / out.per_pod_operating_rps;
  if (!(exact <= kMaxCount)) {
    return absl::OutOfRangeError(absl::StrCat(
        "the target would need more than ", SizingNumber(kMaxCount), " pods; check --target-rps"));
  }
  out.pods = static_cast<int64_t>(std::max(1.0, TolerantCeil(exact)));
  out.arithmetic = absl::StrCat(
      "per-pod rate  = operating fraction x pod saturation = ",
      SizingNumber(params.operating_fraction), " x ", SizingNumber(params.pod_saturation_rps),
      " req/s = ", SizingNumber(out.per_pod_operating_rps), " req/s\n",
      "required pods = ceil(target rate / per-pod rate) = ceil(", SizingNumber(params.target_rps),
      " / ", SizingNumber(out.per_pod_operating_rps), ") = ceil(", SizingNumber(exact),
      ") = ", out.pods, out.pods == 1 ? " pod\n" : " pods\n");
  return out;
}

}  // namespace stampede
