// Cluster sizing for a model service on Kubernetes (`stampede size` and the saturate report).
// Pure arithmetic, no I/O: every result carries its intermediate values and the arithmetic
// written out, so that a person can check the recommendation by hand.
//
// The formulae (docs: /work/shared/reference/README.md, README "Sizing the cluster"):
//   required pods  = ceil(rps x latency_s / pod_concurrency)
//   required CPU   = pods x cpu_per_pod
//   pods per node  = min(floor((vm_cores - node_overhead) / cpu_per_pod),
//                        floor((vm_mem - node_mem_overhead) / mem_per_pod)   [memory given],
//                        max_pods_per_node                                   [given])
//   packing        = ceil(pods / pods per node): nodes enough to place every pod
//   available CPU  = (vm_cores - node_overhead) x nodes - cluster_overhead
//   capacity       = the smallest n with available CPU >= required CPU
//   nodes          = max(capacity, packing) + spare_nodes
// and, from a measured saturation of one pod:
//   pods           = ceil(target_rps / (operating_fraction x pod_saturation_rps))
//
// The cluster overhead (the serving front end) is taken from the cluster's total CPU, as the
// reference does, not placed as pods: its replica sizes are not inputs. So packing and capacity
// are each a lower bound, and their maximum is exact when the front end fits in the cores the
// model pods leave on their nodes. It does in the reference's example: 12 pods of 0.5 CPU on 3
// nodes leave 3.3 - 4 x 0.5 = 1.3 cores on each node, one front-end replica's worth.
//
// A pod that fits on no node (more CPU or memory than a node has for pods) is an error, never a
// count: the seed answered "10 pods on 20 nodes" for 6-CPU pods on 4-core VMs.
//
// Invalid inputs (<= 0, NaN, infinite, vm_cores <= node_overhead, ...) are InvalidArgument
// errors that name the `stampede size` flag carrying the value, since that is what the user typed.
#ifndef STAMPEDE_SATURATE_SIZING_H_
#define STAMPEDE_SATURATE_SIZING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace stampede {

// Defaults of the overheads, from the sizing notes the formulae come from.
// Per node: Kubernetes system pods plus the logging agent.
inline constexpr double kDefaultNodeOverheadCores = 0.7;
// Per cluster: the serving front end (3 replicas x 1.3 cores).
inline constexpr double kDefaultClusterOverheadCores = 3.9;
// Per node, memory kept by the system. The reference gives no figure (its model pods were
// CPU-bound); the per-node overhead it counts in cores also holds memory. 1 GiB is what AKS
// reserves on a node of up to 30 pods (kube-reserved 20 MB x 30 + 50 MB, eviction threshold
// 100 Mi: 0.75 GB) with room for the logging agent. Only used with --mem-per-pod.
inline constexpr double kDefaultNodeMemOverheadGib = 1.0;
// Run pods at this share of the throughput at which one saturates.
inline constexpr double kDefaultOperatingFraction = 0.7;

// The VMs of the cluster, and what Kubernetes and the cluster's own services take of them.
struct NodeParams {
  double vm_cores = 0;                                        // --vm-cores
  double node_overhead = kDefaultNodeOverheadCores;           // --node-overhead
  double cluster_overhead = kDefaultClusterOverheadCores;     // --cluster-overhead
  std::optional<double> vm_mem_gib{};                         // --vm-mem-gib
  double node_mem_overhead_gib = kDefaultNodeMemOverheadGib;  // --node-mem-overhead
  std::optional<int64_t> max_pods_per_node{};                 // --max-pods-per-node
  int64_t spare_nodes = 0;  // --spare-nodes: on top, e.g. 1 to survive a node failure (N+1)
};

// What one pod requests.
struct PodParams {
  double cpu = 0;                   // --cpu-per-pod, cores
  std::optional<double> mem_gib{};  // --mem-per-pod; needs NodeParams::vm_mem_gib, and back
};

// Sizing from the model's latency and per-pod concurrency.
struct SizingParams {
  double rps = 0;              // --rps: requests per second to serve
  double latency_ms = 0;       // --latency-ms: model latency per request
  double pod_concurrency = 0;  // --pod-concurrency: concurrent requests one pod serves
  PodParams pod;
  NodeParams nodes;
};

// What bounds the pods on one node.
enum class PodsPerNodeBound { kCpu, kMemory, kMaxPods };

// Nodes for a number of pods.
struct NodeSizing {
  int64_t pods = 0;
  PodParams pod;
  NodeParams params;
  double required_cpu = 0;           // pods x pod.cpu
  double usable_cores_per_node = 0;  // vm_cores - node_overhead
  // Pods on one node: by CPU, by memory (when given), and the smallest of them and the maximum.
  int64_t pods_per_node_by_cpu = 0;
  std::optional<int64_t> pods_per_node_by_mem;
  int64_t pods_per_node = 0;
  PodsPerNodeBound bound = PodsPerNodeBound::kCpu;
  int64_t packing_nodes = 0;   // ceil(pods / pods_per_node)
  int64_t capacity_nodes = 0;  // the smallest n whose available CPU covers required_cpu
  int64_t needed_nodes = 0;    // max(capacity, packing)
  int64_t nodes = 0;           // needed + spare: the recommendation
  double available_cpu = 0;    // at `nodes`
  double spare_cpu = 0;        // available - required
  std::string arithmetic;      // lines, each ending in '\n'
};

struct SizingResult {
  SizingParams params;
  double latency_s = 0;
  double concurrent_requests = 0;  // rps x latency_s (Little's law)
  int64_t pods = 0;
  NodeSizing nodes;
  std::string arithmetic;  // the whole derivation, lines ending in '\n'
};

absl::StatusOr<SizingResult> SizeCluster(const SizingParams& params);

// Nodes for `pods` pods of `pod`: packing, capacity and spares, as in the header comment.
absl::StatusOr<NodeSizing> SizeNodes(int64_t pods, const PodParams& pod, const NodeParams& params);

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
