#include "saturate/sizing.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace stampede {
namespace {

// Counts beyond this are a typo in the inputs, not a cluster; it also keeps int64 safe.
constexpr double kMaxCount = 1e12;

// ceil() and floor() that forgive floating-point noise: 9.9 / 3.3 is 3.0000000000000004 in
// doubles, and a worked example that is exactly 3 nodes on paper must not come out as 4 (nor
// 3.3 / 0.55 = 5.999999999999999 pods per node as 5).
double TolerantCeil(double x) { return std::ceil(x - 1e-9 * std::max(1.0, std::fabs(x))); }
double TolerantFloor(double x) { return std::floor(x + 1e-9 * std::max(1.0, std::fabs(x))); }

std::string Plural(int64_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

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
  RETURN_IF_ERROR(CheckPositive(p.vm_cores, "--vm-cores"));
  RETURN_IF_ERROR(CheckNonNegative(p.node_overhead, "--node-overhead"));
  RETURN_IF_ERROR(CheckNonNegative(p.cluster_overhead, "--cluster-overhead"));
  if (p.vm_cores <= p.node_overhead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vm-cores (", SizingNumber(p.vm_cores), ") must be larger than --node-overhead (",
        SizingNumber(p.node_overhead), "): a node would have no cores left for pods"));
  }
  if (p.vm_mem_gib.has_value()) {
    RETURN_IF_ERROR(CheckPositive(*p.vm_mem_gib, "--vm-mem-gib"));
    RETURN_IF_ERROR(CheckNonNegative(p.node_mem_overhead_gib, "--node-mem-overhead"));
    if (*p.vm_mem_gib <= p.node_mem_overhead_gib) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--vm-mem-gib (", SizingNumber(*p.vm_mem_gib),
          ") must be larger than --node-mem-overhead (", SizingNumber(p.node_mem_overhead_gib),
          "): a node would have no memory left for pods"));
    }
  }
  if (p.max_pods_per_node.has_value() && *p.max_pods_per_node < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-pods-per-node must be at least 1, got ", *p.max_pods_per_node));
  }
  if (p.spare_nodes < 0 || static_cast<double>(p.spare_nodes) > kMaxCount) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--spare-nodes must be from 0 to ", SizingNumber(kMaxCount), ", got ", p.spare_nodes));
  }
  return absl::OkStatus();
}

absl::Status CheckPodParams(const PodParams& pod, const NodeParams& nodes) {
  RETURN_IF_ERROR(CheckPositive(pod.cpu, "--cpu-per-pod"));
  if (pod.mem_gib.has_value()) RETURN_IF_ERROR(CheckPositive(*pod.mem_gib, "--mem-per-pod"));
  // Memory bounds the pods on a node only with both figures; one alone is a forgotten flag.
  if (pod.mem_gib.has_value() != nodes.vm_mem_gib.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(pod.mem_gib.has_value() ? "--mem-per-pod needs --vm-mem-gib"
                                             : "--vm-mem-gib needs --mem-per-pod",
                     ": memory limits the pods per node only when both are given"));
  }
  return absl::OkStatus();
}

// floor(usable / per_pod), at most kMaxCount (a vanishingly small pod is not a reason to
// overflow: the count is only ever compared and divided by).
int64_t FitCount(double usable, double per_pod) {
  return static_cast<int64_t>(std::min(kMaxCount, TolerantFloor(usable / per_pod)));
}

// The lines that show how many pods fit on one node.
std::string PodsPerNodeArithmetic(const NodeSizing& out) {
  const NodeParams& p = out.params;
  const std::string by_cpu =
      absl::StrCat("floor((VM cores - node overhead) / CPU per pod)\n", "              = floor((",
                   SizingNumber(p.vm_cores), " - ", SizingNumber(p.node_overhead), ") / ",
                   SizingNumber(out.pod.cpu), ") = floor(",
                   SizingNumber(out.usable_cores_per_node / out.pod.cpu),
                   ") = ", out.pods_per_node_by_cpu, "\n");
  const bool one_bound = !out.pods_per_node_by_mem && !p.max_pods_per_node;
  if (one_bound) return absl::StrCat("pods per node = ", by_cpu);
  std::string text = absl::StrCat("per node, CPU = ", by_cpu);
  std::vector<std::string> terms = {absl::StrCat(out.pods_per_node_by_cpu, " by CPU")};
  if (out.pods_per_node_by_mem.has_value()) {
    const double usable_mem = *p.vm_mem_gib - p.node_mem_overhead_gib;
    absl::StrAppend(
        &text, "per node, mem = floor((VM memory - node memory overhead) / memory per pod)\n",
        "              = floor((", SizingNumber(*p.vm_mem_gib), " - ",
        SizingNumber(p.node_mem_overhead_gib), ") GiB / ", SizingNumber(*out.pod.mem_gib),
        " GiB) = floor(", SizingNumber(usable_mem / *out.pod.mem_gib),
        ") = ", *out.pods_per_node_by_mem, "\n");
    terms.push_back(absl::StrCat(*out.pods_per_node_by_mem, " by memory"));
  }
  if (p.max_pods_per_node.has_value()) {
    terms.push_back(absl::StrCat(*p.max_pods_per_node, " by --max-pods-per-node"));
  }
  absl::StrAppend(&text, "pods per node = min(", absl::StrJoin(terms, ", "),
                  ") = ", out.pods_per_node, "\n");
  return text;
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

absl::StatusOr<NodeSizing> SizeNodes(int64_t pods, const PodParams& pod, const NodeParams& params) {
  RETURN_IF_ERROR(CheckNodeParams(params));
  RETURN_IF_ERROR(CheckPodParams(pod, params));
  if (pods < 1 || static_cast<double>(pods) > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("pods must be from 1 to ", SizingNumber(kMaxCount), ", got ", pods));
  }
  NodeSizing out;
  out.pods = pods;
  out.pod = pod;
  out.params = params;
  out.required_cpu = static_cast<double>(pods) * pod.cpu;
  out.usable_cores_per_node = params.vm_cores - params.node_overhead;

  // Packing: a pod must fit on a node, by CPU and by memory.
  out.pods_per_node_by_cpu = FitCount(out.usable_cores_per_node, pod.cpu);
  if (out.pods_per_node_by_cpu < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a pod fits on no node: --cpu-per-pod ", SizingNumber(pod.cpu), " is more than the ",
        SizingNumber(out.usable_cores_per_node), " cores a node has for pods (--vm-cores ",
        SizingNumber(params.vm_cores), " - --node-overhead ", SizingNumber(params.node_overhead),
        "); use larger VMs or smaller pods"));
  }
  out.pods_per_node = out.pods_per_node_by_cpu;
  if (pod.mem_gib.has_value()) {
    const double usable_mem = *params.vm_mem_gib - params.node_mem_overhead_gib;
    out.pods_per_node_by_mem = FitCount(usable_mem, *pod.mem_gib);
    if (*out.pods_per_node_by_mem < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("a pod fits on no node: --mem-per-pod ", SizingNumber(*pod.mem_gib),
                       " GiB is more than the ", SizingNumber(usable_mem),
                       " GiB a node has for pods (--vm-mem-gib ", SizingNumber(*params.vm_mem_gib),
                       " - --node-mem-overhead ", SizingNumber(params.node_mem_overhead_gib),
                       "); use larger VMs or smaller pods"));
    }
    if (*out.pods_per_node_by_mem < out.pods_per_node) {
      out.pods_per_node = *out.pods_per_node_by_mem;
      out.bound = PodsPerNodeBound::kMemory;
    }
  }
  if (params.max_pods_per_node.has_value() && *params.max_pods_per_node < out.pods_per_node) {
    out.pods_per_node = *params.max_pods_per_node;
    out.bound = PodsPerNodeBound::kMaxPods;
  }
  out.packing_nodes = (pods + out.pods_per_node - 1) / out.pods_per_node;

  // Capacity: the cores of the nodes, less the cluster's own services, cover the pods' CPU.
  const double exact = (out.required_cpu + params.cluster_overhead) / out.usable_cores_per_node;
  if (!(exact <= kMaxCount)) {
    return absl::OutOfRangeError(absl::StrCat("the cluster would need more than ",
                                              SizingNumber(kMaxCount),
                                              " nodes; check --vm-cores and the load figures"));
  }
  auto available = [&](double nodes) {
    return out.usable_cores_per_node * nodes - params.cluster_overhead;
  };
  double n = std::max(1.0, TolerantCeil(exact));
  // TolerantCeil may round down a hair too far; the definition is the inequality, so honour it.
  while (available(n) < out.required_cpu - 1e-9 * std::max(1.0, out.required_cpu)) n += 1;
  out.capacity_nodes = static_cast<int64_t>(n);

  out.needed_nodes = std::max(out.capacity_nodes, out.packing_nodes);
  out.nodes = out.needed_nodes + params.spare_nodes;
  out.available_cpu = available(static_cast<double>(out.nodes));
  out.spare_cpu = out.available_cpu - out.required_cpu;

  const std::string usable = SizingNumber(out.usable_cores_per_node);
  const std::string overhead = SizingNumber(params.cluster_overhead);
  const std::string required = SizingNumber(out.required_cpu, 1);
  out.arithmetic = absl::StrCat(
      "required CPU  = pods x CPU per pod = ", pods, " x ", SizingNumber(pod.cpu), " = ", required,
      " CPUs\n", PodsPerNodeArithmetic(out), "packing       = ceil(pods / pods per node) = ceil(",
      pods, " / ", out.pods_per_node, ") = ", Plural(out.packing_nodes, "node", "nodes"), "\n",
      "available CPU = (VM cores - node overhead) x nodes - cluster overhead\n",
      "              = (", SizingNumber(params.vm_cores), " - ", SizingNumber(params.node_overhead),
      ") x nodes - ", overhead, " = ", usable, " x nodes - ", overhead, "\n",
      "capacity      = smallest n with ", usable, " x n - ", overhead, " >= ", required, ": n >= (",
      required, " + ", overhead, ") / ", usable, " = ", SizingNumber(exact), " -> ",
      Plural(out.capacity_nodes, "node", "nodes"), "\n", "nodes         = max(capacity ",
      out.capacity_nodes, ", packing ", out.packing_nodes,
      ") = ", Plural(out.needed_nodes, "node", "nodes"), "\n");
  if (params.spare_nodes > 0) {
    absl::StrAppend(&out.arithmetic, "              + ",
                    Plural(params.spare_nodes, "spare node", "spare nodes"), " = ",
                    Plural(out.nodes, "node", "nodes"), "\n");
  }
  absl::StrAppend(&out.arithmetic, "available CPU = ", usable, " x ", out.nodes, " - ", overhead,
                  " = ", SizingNumber(out.available_cpu, 1), " CPUs (spare ",
                  SizingNumber(out.spare_cpu, 1), ")\n");
  return out;
}

absl::StatusOr<SizingResult> SizeCluster(const SizingParams& params) {
  RETURN_IF_ERROR(CheckPositive(params.rps, "--rps"));
  RETURN_IF_ERROR(CheckPositive(params.latency_ms, "--latency-ms"));
  RETURN_IF_ERROR(CheckPositive(params.pod_concurrency, "--pod-concurrency"));
  RETURN_IF_ERROR(CheckPodParams(params.pod, params.nodes));
  RETURN_IF_ERROR(CheckNodeParams(params.nodes));
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
  ASSIGN_OR_RETURN(out.nodes, SizeNodes(out.pods, params.pod, params.nodes));
  out.arithmetic = absl::StrCat(
      "required pods = ceil(rps x latency / pod concurrency)\n", "              = ceil(",
      SizingNumber(params.rps), " x ", SizingNumber(out.latency_s), " s / ",
      SizingNumber(params.pod_concurrency), ") = ceil(", SizingNumber(exact_pods),
      ") = ", Plural(out.pods, "pod", "pods"), "\n", out.nodes.arithmetic);
  return out;
}

absl::StatusOr<MeasuredSizingResult> PodsFromSaturation(const MeasuredSizingParams& params) {
  RETURN_IF_ERROR(CheckPositive(params.target_rps, "--target-rps"));
  RETURN_IF_ERROR(CheckPositive(params.pod_saturation_rps, "--pod-saturation-rps"));
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
      ") = ", Plural(out.pods, "pod", "pods"), "\n");
  return out;
}

}  // namespace stampede
