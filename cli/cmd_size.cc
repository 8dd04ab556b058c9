// stampede size: pods and nodes for a model service, with the arithmetic shown.
#include <cmath>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/cli_flags.h"
#include "common/json_writer.h"
#include "cli/commands.h"
#include "saturate/sizing.h"

namespace stampede {
namespace {

constexpr char kUsage[] =
    "usage: stampede size --rps R --latency-ms L --pod-concurrency C --cpu-per-pod P "
    "--vm-cores V\n"
    "                     [--node-overhead 0.7] [--cluster-overhead 3.9] [--json]\n"
    "   or: stampede size --target-rps R --pod-saturation-rps S [--operating-fraction 0.7]\n"
    "                     [--cpu-per-pod P --vm-cores V [--node-overhead 0.7] "
    "[--cluster-overhead 3.9]] [--json]\n";

int Fail(const absl::Status& status) {
  std::cerr << "stampede size: " << status.message() << "\n";
  return 2;
}

// A number flag: absent gives `fallback`; a value that is not a number is an error naming the
// flag (NaN and infinities parse, and the sizing functions reject them by flag name).
absl::StatusOr<std::optional<double>> NumberFlag(const CliFlags& flags, const std::string& name) {
  auto value = flags.Get(name);
  if (!value.has_value()) return std::nullopt;
  double v = 0;
  if (!absl::SimpleAtod(*value, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected a number, got \"", *value, "\""));
  }
  return v;
}

absl::StatusOr<double> Required(const CliFlags& flags, const std::string& name) {
  auto v = NumberFlag(flags, name);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return absl::InvalidArgumentError(absl::StrCat(name, " is required"));
  return **v;
}

absl::StatusOr<double> Optional(const CliFlags& flags, const std::string& name, double fallback) {
  auto v = NumberFlag(flags, name);
  if (!v.ok()) return v.status();
  return v->value_or(fallback);
}

absl::StatusOr<NodeParams> NodeFlags(const CliFlags& flags) {
  NodeParams p;
  auto vm = Required(flags, "--vm-cores");
  if (!vm.ok()) return vm.status();
  p.vm_cores = *vm;
  auto node = Optional(flags, "--node-overhead", kDefaultNodeOverheadCores);
  if (!node.ok()) return node.status();
  p.node_overhead = *node;
  auto cluster = Optional(flags, "--cluster-overhead", kDefaultClusterOverheadCores);
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
int SizeFromLatency(const CliFlags& flags, bool json) {
  SizingParams p;
  for (const auto& [name, field] :
       std::vector<std::pair<std::string, double*>>{{"--rps", &p.rps},
                                                    {"--latency-ms", &p.latency_ms},
                                                    {"--pod-concurrency", &p.pod_concurrency},
                                                    {"--cpu-per-pod", &p.cpu_per_pod}}) {
    auto v = Required(flags, name);
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
int SizeFromSaturation(const CliFlags& flags, bool json) {
  MeasuredSizingParams p;
  auto target = Required(flags, "--target-rps");
  if (!target.ok()) return Fail(target.status());
  p.target_rps = *target;
  auto pod = Required(flags, "--pod-saturation-rps");
  if (!pod.ok()) return Fail(pod.status());
  p.pod_saturation_rps = *pod;
  auto fraction = Optional(flags, "--operating-fraction", kDefaultOperatingFraction);
  if (!fraction.ok()) return Fail(fraction.status());
  p.operating_fraction = *fraction;
  auto r = PodsFromSaturation(p);
  if (!r.ok()) return Fail(r.status());
  std::optional<NodeSizing> nodes;
  if (flags.Has("--cpu-per-pod") || flags.Has("--vm-cores")) {
    auto cpu = Required(flags, "--cpu-per-pod");
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
  auto flags = CliFlags::Parse(args,
                               {"--rps", "--latency-ms", "--pod-concurrency", "--cpu-per-pod",
                                "--vm-cores", "--node-overhead", "--cluster-overhead",
                                "--target-rps", "--pod-saturation-rps", "--operating-fraction"},
                               {"--json"});
  if (!flags.ok()) return Fail(flags.status());
  if (!flags->positional().empty() || args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const bool json = flags->Has("--json");
  if (flags->Has("--target-rps") || flags->Has("--pod-saturation-rps")) {
    return SizeFromSaturation(*flags, json);
  }
  return SizeFromLatency(*flags, json);
}

}  // namespace stampede
