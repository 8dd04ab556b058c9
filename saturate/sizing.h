// Cluster sizing for a model service on Kubernetes (`stampede size` and the saturate report).
// Pure arithmetic, no I/O: every result carries its intermediate values and the arithmetic
// written out, so that a person can check the recommendation by hand.
//
// The formulae (docs: /work/shared/reference/README.md, README "Saturation and sizing"):
//   required pods  = ceil(rps x latency_s / pod_concurrency)
//   required CPU   = pods x cpu_per_pod
//   available CPU  = (vm_cores - node_overhead) x nodes - cluster_overhead
//   nodes          = the smallest n with available CPU >= required CPU
// and, from a measured saturation of one pod:
//   pods           = ceil(target_rps / (operating_fraction x pod_saturation_rps))
//
// Invalid inputs (<= 0, NaN, infinite, vm_cores <= node_overhead, ...) are InvalidArgument
// errors that name the `stampede size` flag carrying the value, since that is what the user typed.
#ifndef STAMPEDE_SATURATE_SIZING_H_
#define STAMPEDE_SATURATE_SIZING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace stampede {

// Defaults of the overheads, from the sizing notes the formulae come from.
// Per node: Kubernetes system pods plus the logging agent.
inline constexpr double kDefaultNodeOverheadCores = 0.7;
// Per cluster: the serving front end (3 replicas x 1.3 cores).
inline constexpr double kDefaultClusterOverheadCores = 3.9;
// Run pods at this share of the throughput at which one saturates.
inline constexpr double kDefaultOperatingFraction = 0.7;

// Cores a cluster of VMs offers to model pods.
struct NodeParams {
  double vm_cores = 0;                                     // --vm-cores
  double node_overhead = kDefaultNodeOverheadCores;        // --node-overhead
  double cluster_overhead = kDefaultClusterOverheadCores;  // --cluster-overhead
};

// Sizing from the model's latency and per-pod concurrency.
struct SizingParams {
  double rps = 0;              // --rps: requests per second to serve
  double latency_ms = 0;       // --latency-ms: model latency per request
  double pod_concurrency = 0;  // --pod-concurrency: concurrent requests one pod serves
  double cpu_per_pod = 0;      // --cpu-per-pod: CPU request of one pod (cores)
  NodeParams nodes;
};

// Nodes needed for an amount of CPU.
struct NodeSizing {
  double required_cpu = 0;
  double vm_cores = 0;
  double node_overhead = 0;
  double cluster_overhead = 0;
  double usable_cores_per_node = 0;  // vm_cores - node_overhead
  int64_t nodes = 0;
  double available_cpu = 0;  // at `nodes`
  double spare_cpu = 0;      // available - required
  std::string arithmetic;    // lines, each ending in '\n'
};

struct SizingResult {
  SizingParams params;
  double latency_s = 0;
  double concurrent_requests = 0;  // rps x latency_s (Little's law)
  int64_t pods = 0;
  double required_cpu = 0;
  NodeSizing nodes;
  std::string arithmetic;  // the whole derivation, lines ending in '\n'
};

absl::StatusOr<SizingResult> SizeCluster(const SizingParams& params);

// The smallest node count n with (vm_cores - node_overhead) x n - cluster_overhead >= required.
absl::StatusOr<NodeSizing> SizeNodes(double required_cpu, const NodeParams& params);

// Sizing from a measured saturation: one pod sustained `pod_saturation_rps` before failing.
struct MeasuredSizingParams {
  double target_rps = 0;                                  // --target-rps
  double pod_saturation_rps = 0;                          // --pod-saturation-rps
  double operating_fraction = kDefaultOperatingFraction;  // --operating-fraction, (0, 1]
};

struct MeasuredSizingResult {
  MeasuredSizingParams params;
  double per_pod_operating_rps = 0;  // operating_fraction x pod_saturation_rps
  int64_t pods = 0;
  std::string arithmetic;
};

absl::StatusOr<MeasuredSizingResult> PodsFromSaturation(const MeasuredSizingParams& params);

// A number for the arithmetic text: up to 3 decimals, trailing zeros dropped ("3.3", "12",
// "0.125"). With `min_decimals` 1, whole numbers keep one decimal ("6.0"), as CPU amounts do.
std::string SizingNumber(double value, int min_decimals = 0);

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_SIZING_H_
