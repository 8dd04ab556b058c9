// stampede size: pods and nodes for a model service, with the arithmetic shown.
#include <cmath>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "common/flags.h"
#include "common/json_writer.h"
#include "saturate/sizing.h"

namespace stampede {
namespace {

CommandSpec SizeSpec() {
  return {
      .command = "stampede size",
      .usage =
          "stampede size --rps R --latency-ms L --pod-concurrency C --cpu-per-pod P "
          "--vm-cores V [--node-overhead 0.7] [--cluster-overhead 3.9] [--json]\n"
          "stampede size --target-rps R --pod-saturation-rps S [--operating-fraction 0.7] "
          "[--cpu-per-pod P --vm-cores V [--node-overhead 0.7] [--cluster-overhead 3.9]] "
          "[--json]",
      .description =
          "Pods and nodes for a model service, with the arithmetic shown. From latency and "
          "concurrency (the first form), or from the measured saturation throughput of one pod "
          "at the operating fraction (the second form, e.g. from `stampede saturate`).",
      .flags = {
          {.name = "--rps", .value = "R", .help = "requests per second to serve"},
          {.name = "--latency-ms", .value = "L", .help = "latency of one request, in ms"},
          {.name = "--pod-concurrency", .value = "C", .help = "requests one pod serves at once"},
          {.name = "--cpu-per-pod", .value = "P", .help = "CPUs one pod requests"},
          {.name = "--vm-cores", .value = "V", .help = "cores of one node VM"},
          {.name = "--node-overhead",
           .value = "CORES",
           .default_value = absl::StrCat(kDefaultNodeOverheadCores),
           .help = "cores per node kept by the system"},
          {.name = "--cluster-overhead",
           .value = "CORES",
           .default_value = absl::StrCat(kDefaultClusterOverheadCores),
           .help = "cores of the cluster's own services"},
          {.name = "--target-rps",
           .value = "R",
           .help = "requests per second to serve (second form)"},
          {.name = "--pod-saturation-rps",
           .value = "S",
           .help = "measured saturation throughput of one pod"},
          {.name = "--operating-fraction",
           .value = "F",
           .default_value = absl::StrCat(kDefaultOperatingFraction),
           .help = "run each pod at this fraction of its saturation throughput"},
          {.name = "--json", .help = "print the result as JSON"}}};
}

int Fail(const absl::Status& status) {
  std::cerr << "stampede size: " << status.message() << "\n";
  return 2;
}

// A number flag: the value given, else its declared default; absent without a default is an error
// ("--rps is required"), and so is a value that is not a finite number. Ranges are the sizing
// functions' to check (their errors name the flag too).
absl::StatusOr<double> Number(const ParsedFlags& flags, const std::string& name) {
  constexpr double kAny = std::numeric_limits<double>::infinity();
  return flags.Double(name, -kAny, kAny);
}

absl::StatusOr<NodeParams> NodeFlags(const ParsedFlags& flags) {
  NodeParams p;
  auto vm = Number(flags, "--vm-cores");
  if (!vm.ok()) return vm.status();
  p.vm_cores = *vm;
  auto node = Number(flags, "--node-overhead");
  if (!node.ok()) return node.status();
  p.node_overhead = *node;
  auto cluster = Number(flags, "--cluster-overhead");
  if (!cluster.ok()) return cluster.status();
  p.cluster_overhead = *cluster;
  return p;
}

// The node figures as members of the JSON object being written.
void WriteNodes(JsonWriter& w, const NodeSizing& n) {
  w.Key("nodes");
  w.Int(n.nodes);
  w.Key("availableCpu");
  w.Number(n.available_cpu);
  w.Key("requiredCpu");
  w.Number(n.required_cpu);
  w.Key("spareCpu");
  w.Number(n.spare_cpu);
  w.Key("vmCores");
  w.Number(n.vm_cores);
  w.Key("nodeOverhead");
  w.Number(n.node_overhead);
  w.Key("clusterOverhead");
  w.Number(n.cluster_overhead);
  w.Key("usableCoresPerNode");
  w.Number(n.usable_cores_per_node);
}

std::string NodesLine(const NodeSizing& n) {
  return absl::StrCat(n.nodes, n.nodes == 1 ? " node" : " nodes", " (", SizingNumber(n.vm_cores),
                      "-core VMs), available CPU ", SizingNumber(n.available_cpu, 1), " for ",
                      SizingNumber(n.required_cpu, 1), " required");
}

// From latency and concurrency: the formulae of saturate/sizing.h.
int SizeFromLatency(const ParsedFlags& flags, bool json) {
  SizingParams p;
  for (const auto& [name, field] :
       std::vector<std::pair<std::string, double*>>{{"--rps", &p.rps},
                                                    {"--latency-ms", &p.latency_ms},
                                                    {"--pod-concurrency", &p.pod_concurrency},
                                                    {"--cpu-per-pod", &p.cpu_per_pod}}) {
    auto v = Number(flags, name);
    if (!v.ok()) return Fail(v.status());
    *field = *v;
  }
  auto nodes = NodeFlags(flags);
  if (!nodes.ok()) return Fail(nodes.status());
  p.nodes = *nodes;
  auto r = SizeCluster(p);
  if (!r.ok()) return Fail(r.status());
  if (json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("pods");
    w.Int(r->pods);
    WriteNodes(w, r->nodes);
    w.Key("rps");
    w.Number(p.rps);
    w.Key("latencyMs");
    w.Number(p.latency_ms);
    w.Key("podConcurrency");
    w.Number(p.pod_concurrency);
    w.Key("cpuPerPod");
    w.Number(p.cpu_per_pod);
    w.Key("concurrentRequests");
    w.Number(r->concurrent_requests);
    w.Key("arithmetic");
    w.String(r->arithmetic);
    w.EndObject();
    std::cout << w.Take();
    return 0;
  }
  std::cout << r->arithmetic << "\nresult: " << r->pods << (r->pods == 1 ? " pod" : " pods")
            << " on " << NodesLine(r->nodes) << "\n";
  return 0;
}

// From a measured saturation of one pod, at the operating fraction; nodes too when the VM and
// pod CPU figures are given.
int SizeFromSaturation(const ParsedFlags& flags, bool json) {
  MeasuredSizingParams p;
  auto target = Number(flags, "--target-rps");
  if (!target.ok()) return Fail(target.status());
  p.target_rps = *target;
  auto pod = Number(flags, "--pod-saturation-rps");
  if (!pod.ok()) return Fail(pod.status());
  p.pod_saturation_rps = *pod;
  auto fraction = Number(flags, "--operating-fraction");
  if (!fraction.ok()) return Fail(fraction.status());
  p.operating_fraction = *fraction;
  auto r = PodsFromSaturation(p);
  if (!r.ok()) return Fail(r.status());
  std::optional<NodeSizing> nodes;
  if (flags.Has("--cpu-per-pod") || flags.Has("--vm-cores")) {
    auto cpu = Number(flags, "--cpu-per-pod");
    if (!cpu.ok()) return Fail(cpu.status());
    auto node_params = NodeFlags(flags);
    if (!node_params.ok()) return Fail(node_params.status());
    if (!(std::isfinite(*cpu) && *cpu > 0)) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--cpu-per-pod must be a positive number, got ", SizingNumber(*cpu))));
    }
    auto n = SizeNodes(static_cast<double>(r->pods) * *cpu, *node_params);
    if (!n.ok()) return Fail(n.status());
    nodes = *n;
  }
  if (json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("pods");
    w.Int(r->pods);
    w.Key("targetRps");
    w.Number(p.target_rps);
    w.Key("podSaturationRps");
    w.Number(p.pod_saturation_rps);
    w.Key("operatingFraction");
    w.Number(p.operating_fraction);
    w.Key("perPodOperatingRps");
    w.Number(r->per_pod_operating_rps);
    if (nodes.has_value()) WriteNodes(w, *nodes);
    w.Key("arithmetic");
    w.String(r->arithmetic + (nodes ? nodes->arithmetic : ""));
    w.EndObject();
    std::cout << w.Take();
    return 0;
  }
  std::cout << r->arithmetic;
  if (nodes.has_value()) {
    std::cout << "required CPU  = " << r->pods << " pods x "
              << SizingNumber(nodes->required_cpu / static_cast<double>(r->pods)) << " = "
              << SizingNumber(nodes->required_cpu, 1) << " CPUs\n"
              << nodes->arithmetic;
  }
  std::cout << "\nresult: " << r->pods << (r->pods == 1 ? " pod" : " pods");
  if (nodes.has_value()) std::cout << " on " << NodesLine(*nodes);
  std::cout << "\n";
  return 0;
}

}  // namespace

int CmdSize(const Args& args) {
  if (args.empty()) {
    std::cerr << CommandHelp(SizeSpec());
    return 2;
  }
  int parse_code = 0;
  auto flags = ParseOrExit(SizeSpec(), args, &parse_code);
  if (!flags) return parse_code;
  const bool json = flags->Bool("--json");
  if (flags->Has("--target-rps") || flags->Has("--pod-saturation-rps")) {
    return SizeFromSaturation(*flags, json);
  }
  return SizeFromLatency(*flags, json);
}

}  // namespace stampede
