#include "saturate/size_command.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_writer.h"
#include "common/status_macros.h"

namespace stampede {
namespace {

// Flags of each form, and the pod and node flags both share.
constexpr const char* kLatencyFlags[] = {"--rps", "--latency-ms", "--pod-concurrency"};
constexpr const char* kMeasuredFlags[] = {"--target-rps", "--pod-saturation-rps",
                                          "--operating-fraction"};
constexpr const char* kPodAndNodeFlags[] = {
    "--cpu-per-pod",       "--mem-per-pod",       "--vm-cores",
    "--vm-mem-gib",        "--node-overhead",     "--cluster-overhead",
    "--node-mem-overhead", "--max-pods-per-node", "--spare-nodes"};

// Counts on the command line: far above any real cluster, far below overflow.
constexpr int64_t kMaxFlagCount = 1'000'000;

// A number flag: the value given, else its declared default; absent without a default is an
// error ("--rps is required"), and so is a value that is not a finite number. Ranges are the
// sizing functions' to check (their errors name the flag too).
absl::StatusOr<double> Number(const ParsedFlags& flags, const std::string& name) {
  constexpr double kAny = std::numeric_limits<double>::infinity();
  return flags.Double(name, -kAny, kAny);
}

absl::StatusOr<std::optional<double>> OptionalNumber(const ParsedFlags& flags,
                                                     const std::string& name) {
  if (!flags.Has(name)) return std::optional<double>();
  ASSIGN_OR_RETURN(double v, Number(flags, name));
  return std::optional<double>(v);
}

absl::StatusOr<PodParams> PodFlags(const ParsedFlags& flags) {
  PodParams pod;
  ASSIGN_OR_RETURN(pod.cpu, Number(flags, "--cpu-per-pod"));
  ASSIGN_OR_RETURN(pod.mem_gib, OptionalNumber(flags, "--mem-per-pod"));
  return pod;
}

absl::StatusOr<NodeParams> NodeFlags(const ParsedFlags& flags) {
  NodeParams p;
  ASSIGN_OR_RETURN(p.vm_cores, Number(flags, "--vm-cores"));
  ASSIGN_OR_RETURN(p.node_overhead, Number(flags, "--node-overhead"));
  ASSIGN_OR_RETURN(p.cluster_overhead, Number(flags, "--cluster-overhead"));
  ASSIGN_OR_RETURN(p.vm_mem_gib, OptionalNumber(flags, "--vm-mem-gib"));
  ASSIGN_OR_RETURN(p.node_mem_overhead_gib, Number(flags, "--node-mem-overhead"));
  if (flags.Has("--max-pods-per-node")) {
    ASSIGN_OR_RETURN(p.max_pods_per_node, flags.Int("--max-pods-per-node", 1, kMaxFlagCount));
  }
  ASSIGN_OR_RETURN(p.spare_nodes, flags.Int("--spare-nodes", 0, kMaxFlagCount));
  return p;
}

const char* BoundName(PodsPerNodeBound bound) {
  switch (bound) {
    case PodsPerNodeBound::kCpu:
      return "cpu";
    case PodsPerNodeBound::kMemory:
      return "memory";
    case PodsPerNodeBound::kMaxPods:
      return "maxPodsPerNode";
  }
  return "cpu";
}

// The node figures as members of the JSON object being written.
void WriteNodes(JsonWriter& w, const NodeSizing& n) {
  w.Key("nodes");
  w.Int(n.nodes);
  w.Key("neededNodes");
  w.Int(n.needed_nodes);
  w.Key("spareNodes");
  w.Int(n.params.spare_nodes);
  w.Key("capacityNodes");
  w.Int(n.capacity_nodes);
  w.Key("packingNodes");
  w.Int(n.packing_nodes);
  w.Key("podsPerNode");
  w.Int(n.pods_per_node);
  w.Key("podsPerNodeBy");
  w.String(BoundName(n.bound));
  w.Key("podsPerNodeByCpu");
  w.Int(n.pods_per_node_by_cpu);
  w.Key("podsPerNodeByMemory");
  if (n.pods_per_node_by_mem.has_value()) {
    w.Int(*n.pods_per_node_by_mem);
  } else {
    w.Null();
  }
  w.Key("availableCpu");
  w.Number(n.available_cpu);
  w.Key("requiredCpu");
  w.Number(n.required_cpu);
  w.Key("spareCpu");
  w.Number(n.spare_cpu);
  w.Key("cpuPerPod");
  w.Number(n.pod.cpu);
  w.Key("memPerPodGib");
  w.OptionalNumber(n.pod.mem_gib);
  w.Key("vmCores");
  w.Number(n.params.vm_cores);
  w.Key("vmMemGib");
  w.OptionalNumber(n.params.vm_mem_gib);
  w.Key("nodeOverhead");
  w.Number(n.params.node_overhead);
  w.Key("nodeMemOverheadGib");
  w.Number(n.params.node_mem_overhead_gib);
  w.Key("clusterOverhead");
  w.Number(n.params.cluster_overhead);
  w.Key("maxPodsPerNode");
  if (n.params.max_pods_per_node.has_value()) {
    w.Int(*n.params.max_pods_per_node);
  } else {
    w.Null();
  }
  w.Key("usableCoresPerNode");
  w.Number(n.usable_cores_per_node);
}

void Append(std::vector<std::string>& args, const char* flag, double value) {
  args.push_back(flag);
  args.push_back(ExactNumber(value));
}

}  // namespace

std::vector<FlagSpec> PodAndNodeFlagSpecs() {
  return {{.name = "--cpu-per-pod", .value = "P", .help = "CPUs one pod requests"},
          {.name = "--mem-per-pod",
           .value = "GIB",
           .help = "memory one pod requests, GiB (with --vm-mem-gib)"},
          {.name = "--vm-cores", .value = "V", .help = "cores of one node VM"},
          {.name = "--vm-mem-gib",
           .value = "GIB",
           .help = "memory of one node VM, GiB (with --mem-per-pod)"},
          {.name = "--node-overhead",
           .value = "CORES",
           .default_value = absl::StrCat(kDefaultNodeOverheadCores),
           .help = "cores per node kept by Kubernetes and the logging agent"},
          {.name = "--node-mem-overhead",
           .value = "GIB",
           .default_value = absl::StrCat(kDefaultNodeMemOverheadGib),
           .help = "memory per node kept by Kubernetes and the logging agent, GiB"},
          {.name = "--cluster-overhead",
           .value = "CORES",
           .default_value = absl::StrCat(kDefaultClusterOverheadCores),
           .help = "cores of the cluster's own services (the serving front end)"},
          {.name = "--max-pods-per-node",
           .value = "N",
           .default_help = "no limit",
           .help = "model pods one node may run (Kubernetes' limit is 110 pods, AKS's often 30, "
                   "system pods included)"},
          {.name = "--spare-nodes",
           .value = "N",
           .default_value = "0",
           .help = "nodes on top of the need: 1 keeps the capacity when a node fails (N+1)"}};
}

absl::StatusOr<std::optional<PodAndNode>> PodAndNodeFromFlags(const ParsedFlags& flags) {
  bool any = false;
  for (const char* name : kPodAndNodeFlags) any = any || flags.Has(name);
  if (!any) return std::optional<PodAndNode>();
  PodAndNode out;
  ASSIGN_OR_RETURN(out.pod, PodFlags(flags));
  ASSIGN_OR_RETURN(out.nodes, NodeFlags(flags));
  return std::optional<PodAndNode>(out);
}

CommandSpec SizeCommandSpec() {
  CommandSpec spec = {
      .command = "stampede size",
      .usage =
          "stampede size --rps R --latency-ms L --pod-concurrency C --cpu-per-pod P "
          "--vm-cores V [pod and node flags] [--json]\n"
          "stampede size --target-rps R --pod-saturation-rps S [--operating-fraction 0.7] "
          "[--cpu-per-pod P --vm-cores V [pod and node flags]] [--json]",
      .description =
          "Pods and nodes for a model service, with the arithmetic shown. Pods from latency and "
          "concurrency (the first form), or from the measured saturation throughput of one pod "
          "at the operating fraction (the second form: `stampede saturate` prints this command "
          "with its figures). Nodes: enough to place every pod (pods per node, by CPU, by "
          "memory and at most --max-pods-per-node) and to give the pods their CPU after the "
          "overheads, plus --spare-nodes.",
      .flags = {
          {.name = "--rps", .value = "R", .help = "requests per second to serve"},
          {.name = "--latency-ms", .value = "L", .help = "latency of one request, in ms"},
          {.name = "--pod-concurrency", .value = "C", .help = "requests one pod serves at once"},
          {.name = "--target-rps",
           .value = "R",
           .help = "requests per second to serve (second form)"},
          {.name = "--pod-saturation-rps",
           .value = "S",
           .help = "measured saturation throughput of one pod (second form)"},
          {.name = "--operating-fraction",
           .value = "F",
           .default_value = absl::StrCat(kDefaultOperatingFraction),
           .help = "run each pod at this fraction of its saturation throughput (second form)"},
          {.name = "--json", .help = "print the result as JSON"}}};
  // The pod and node flags, before --json (as --help lists them).
  const std::vector<FlagSpec> pod_and_node = PodAndNodeFlagSpecs();
  spec.flags.insert(spec.flags.end() - 1, pod_and_node.begin(), pod_and_node.end());
  return spec;
}

std::string ExactNumber(double value) {
  if (!std::isfinite(value)) return SizingNumber(value);
  for (int decimals = 0; decimals <= 17; ++decimals) {
    std::string s = absl::StrFormat("%.*f", decimals, value);
    double back = 0;
    if (absl::SimpleAtod(s, &back) && back == value) return s == "-0" ? "0" : s;
  }
  return absl::StrFormat("%.17g", value);  // tiny magnitudes: exponent form, still exact
}

absl::StatusOr<SizeInputs> SizeInputsFromFlags(const ParsedFlags& flags) {
  auto any_of = [&](const auto& names) {
    for (const char* name : names) {
      if (flags.Has(name)) return std::optional<std::string>(name);
    }
    return std::optional<std::string>();
  };
  const std::optional<std::string> latency_flag = any_of(kLatencyFlags);
  const std::optional<std::string> measured_flag = any_of(kMeasuredFlags);
  if (latency_flag && measured_flag) {
    return absl::InvalidArgumentError(
        absl::StrCat(*latency_flag, " and ", *measured_flag,
                     " belong to different forms: size from latency (--rps, --latency-ms, "
                     "--pod-concurrency) or from a measured saturation (--target-rps, "
                     "--pod-saturation-rps), not both"));
  }
  SizeInputs in;
  if (measured_flag) {
    MeasuredSizingParams m;
    ASSIGN_OR_RETURN(m.target_rps, Number(flags, "--target-rps"));
    ASSIGN_OR_RETURN(m.pod_saturation_rps, Number(flags, "--pod-saturation-rps"));
    ASSIGN_OR_RETURN(m.operating_fraction, Number(flags, "--operating-fraction"));
    in.measured = m;
    // Nodes only when asked for; then the pod and VM figures are required like in the first
    // form, so that a --spare-nodes or --mem-per-pod is never silently ignored.
    in.size_nodes = any_of(kPodAndNodeFlags).has_value();
  } else {
    ASSIGN_OR_RETURN(in.latency.rps, Number(flags, "--rps"));
    ASSIGN_OR_RETURN(in.latency.latency_ms, Number(flags, "--latency-ms"));
    ASSIGN_OR_RETURN(in.latency.pod_concurrency, Number(flags, "--pod-concurrency"));
  }
  if (in.size_nodes) {
    ASSIGN_OR_RETURN(in.latency.pod, PodFlags(flags));
    ASSIGN_OR_RETURN(in.latency.nodes, NodeFlags(flags));
  }
  return in;
}

std::vector<std::string> SizeCommandArgs(const SizeInputs& in) {
  std::vector<std::string> args;
  if (in.measured.has_value()) {
    Append(args, "--target-rps", in.measured->target_rps);
    Append(args, "--pod-saturation-rps", in.measured->pod_saturation_rps);
    Append(args, "--operating-fraction", in.measured->operating_fraction);
  } else {
    Append(args, "--rps", in.latency.rps);
    Append(args, "--latency-ms", in.latency.latency_ms);
    Append(args, "--pod-concurrency", in.latency.pod_concurrency);
  }
  if (!in.size_nodes) return args;
  const PodParams& pod = in.latency.pod;
  const NodeParams& n = in.latency.nodes;
  Append(args, "--cpu-per-pod", pod.cpu);
  if (pod.mem_gib.has_value()) Append(args, "--mem-per-pod", *pod.mem_gib);
  Append(args, "--vm-cores", n.vm_cores);
  if (n.vm_mem_gib.has_value()) Append(args, "--vm-mem-gib", *n.vm_mem_gib);
  if (n.node_overhead != kDefaultNodeOverheadCores) {
    Append(args, "--node-overhead", n.node_overhead);
  }
  if (n.node_mem_overhead_gib != kDefaultNodeMemOverheadGib) {
    Append(args, "--node-mem-overhead", n.node_mem_overhead_gib);
  }
  if (n.cluster_overhead != kDefaultClusterOverheadCores) {
    Append(args, "--cluster-overhead", n.cluster_overhead);
  }
  if (n.max_pods_per_node.has_value()) {
    args.push_back("--max-pods-per-node");
    args.push_back(absl::StrCat(*n.max_pods_per_node));
  }
  if (n.spare_nodes != 0) {
    args.push_back("--spare-nodes");
    args.push_back(absl::StrCat(n.spare_nodes));
  }
  return args;
}

absl::StatusOr<SizeAnswer> AnswerSize(const SizeInputs& in) {
  SizeAnswer a;
  a.inputs = in;
  if (!in.measured.has_value()) {
    ASSIGN_OR_RETURN(SizingResult r, SizeCluster(in.latency));
    a.pods = r.pods;
    a.nodes = r.nodes;
    a.arithmetic = r.arithmetic;
    a.latency = std::move(r);
    return a;
  }
  ASSIGN_OR_RETURN(MeasuredSizingResult r, PodsFromSaturation(*in.measured));
  a.pods = r.pods;
  a.arithmetic = r.arithmetic;
  a.measured = std::move(r);
  if (in.size_nodes) {
    ASSIGN_OR_RETURN(NodeSizing n, SizeNodes(a.pods, in.latency.pod, in.latency.nodes));
    a.arithmetic += n.arithmetic;
    a.nodes = std::move(n);
  }
  return a;
}

std::string SizeResultLine(const SizeAnswer& a) {
  std::string line = absl::StrCat(a.pods, a.pods == 1 ? " pod" : " pods");
  if (!a.nodes.has_value()) return line;
  const NodeSizing& n = *a.nodes;
  const std::string spares =
      n.params.spare_nodes > 0
          ? absl::StrCat("; ", n.needed_nodes, " needed + ", n.params.spare_nodes, " spare")
          : "";
  absl::StrAppend(&line, " on ", n.nodes, n.nodes == 1 ? " node" : " nodes", " (",
                  SizingNumber(n.params.vm_cores), "-core VMs", spares, "), available CPU ",
                  SizingNumber(n.available_cpu, 1), " for ", SizingNumber(n.required_cpu, 1),
                  " required, up to ", n.pods_per_node, n.pods_per_node == 1 ? " pod" : " pods",
                  " per node");
  return line;
}

std::string SizeAnswerText(const SizeAnswer& a) {
  return absl::StrCat(a.arithmetic, "\nresult: ", SizeResultLine(a), "\n");
}

std::string SizeAnswerJson(const SizeAnswer& a) {
  JsonWriter w;
  w.BeginObject();
  w.Key("pods");
  w.Int(a.pods);
  if (a.nodes.has_value()) WriteNodes(w, *a.nodes);
  if (a.latency.has_value()) {
    const SizingParams& p = a.latency->params;
    w.Key("rps");
    w.Number(p.rps);
    w.Key("latencyMs");
    w.Number(p.latency_ms);
    w.Key("podConcurrency");
    w.Number(p.pod_concurrency);
    w.Key("concurrentRequests");
    w.Number(a.latency->concurrent_requests);
  }
  if (a.measured.has_value()) {
    const MeasuredSizingParams& p = a.measured->params;
    w.Key("targetRps");
    w.Number(p.target_rps);
    w.Key("podSaturationRps");
    w.Number(p.pod_saturation_rps);
    w.Key("operatingFraction");
    w.Number(p.operating_fraction);
    w.Key("perPodOperatingRps");
    w.Number(a.measured->per_pod_operating_rps);
  }
  w.Key("arithmetic");
  w.String(a.arithmetic);
  w.EndObject();
  return w.Take();
}

}  // namespace stampede
