// Cluster sizing (saturate/sizing.h), the `stampede size` command line (saturate/size_command.h)
// and the size command that ends a saturation report (saturate/saturation_output.h). Every
// expected figure is computed by hand in the comment beside it, not by the code under test.
#include "saturate/sizing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/flags.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "saturate/saturation_output.h"
#include "saturate/size_command.h"

namespace stampede {
namespace {

using ::testing::HasSubstr;

// `stampede size ARGS` in-process: the command's own spec, flag conversion and arithmetic.
absl::StatusOr<SizeAnswer> Size(const std::vector<std::string>& args) {
  auto flags = ParseCommandLine(SizeCommandSpec(), args);
  if (!flags.ok()) return flags.status();
  auto inputs = SizeInputsFromFlags(*flags);
  if (!inputs.ok()) return inputs.status();
  return AnswerSize(*inputs);
}

absl::StatusOr<SizeAnswer> Size(const std::string& line) {
  return Size(std::vector<std::string>(absl::StrSplit(line, ' ', absl::SkipEmpty())));
}

// ---------------------------------------------------------------------------------------------
// The table: command lines and their answers, computed by hand. Defaults: node overhead 0.7
// cores, cluster overhead 3.9 cores, node memory overhead 1 GiB, no spare nodes.

struct Case {
  const char* name = "";
  const char* args = "";
  // Expected when the case sizes; `error` set (substrings of the message) when it must fail.
  int64_t pods = 0;
  int64_t pods_per_node = 0;
  int64_t packing = 0;
  int64_t capacity = 0;
  int64_t nodes = 0;
  double available_cpu = 0;
  std::vector<const char*> error = {};
};

const std::vector<Case>& Table() {
  static const auto* table = new std::vector<Case>{
      // The seed's example. 24 req/s x 0.5 s = 12 in flight, one per pod -> 12 pods, x 0.5 =
      // 6 CPUs. Per node: floor((4 - 0.7) / 0.5) = floor(6.6) = 6 pods; packing ceil(12 / 6) =
      // 2. Capacity: 3.3 n - 3.9 >= 6 -> n >= 9.9 / 3.3 = 3 -> 3. Nodes max(3, 2) = 3;
      // available 3.3 x 3 - 3.9 = 6.0.
      {.name = "seed example",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4",
       .pods = 12,
       .pods_per_node = 6,
       .packing = 2,
       .capacity = 3,
       .nodes = 3,
       .available_cpu = 6.0},
      // 25 req/s x 0.5 s = 12.5 -> 13 pods, 6.5 CPUs. Per node 6; packing ceil(13 / 6) = 3.
      // Capacity: n >= (6.5 + 3.9) / 3.3 = 3.15 -> 4. Nodes 4; available 13.2 - 3.9 = 9.3.
      {.name = "pods round up",
       .args = "--rps 25 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4",
       .pods = 13,
       .pods_per_node = 6,
       .packing = 3,
       .capacity = 4,
       .nodes = 4,
       .available_cpu = 9.3},
      // The seed's example with one spare node: 3 needed + 1 = 4; available 3.3 x 4 - 3.9 = 9.3.
      {.name = "N+1",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4 "
               "--spare-nodes 1",
       .pods = 12,
       .pods_per_node = 6,
       .packing = 2,
       .capacity = 3,
       .nodes = 4,
       .available_cpu = 9.3},
      // Packing decides. 10 req/s x 1 s / 2 = 5 pods of 1.7 CPU = 8.5 CPUs. Per node
      // floor(3.3 / 1.7) = floor(1.94) = 1: packing 5. Capacity (8.5 + 3.9) / 3.3 = 3.76 -> 4.
      // Nodes max(4, 5) = 5 (the seed said 4: two such pods never share a node); available
      // 3.3 x 5 - 3.9 = 12.6.
      {.name = "packing decides",
       .args = "--rps 10 --latency-ms 1000 --pod-concurrency 2 --cpu-per-pod 1.7 "
               "--vm-cores 4",
       .pods = 5,
       .pods_per_node = 1,
       .packing = 5,
       .capacity = 4,
       .nodes = 5,
       .available_cpu = 12.6},
      // Memory decides. Seed example with 4 GiB pods on 16 GiB VMs: by memory floor((16 - 1) /
      // 4) = floor(3.75) = 3 < 6 by CPU -> 3 per node; packing ceil(12 / 3) = 4; capacity 3.
      // Nodes 4; available 9.3.
      {.name = "memory decides",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 "
               "--vm-cores 4 --mem-per-pod 4 --vm-mem-gib 16",
       .pods = 12,
       .pods_per_node = 3,
       .packing = 4,
       .capacity = 3,
       .nodes = 4,
       .available_cpu = 9.3},
      // --max-pods-per-node decides. 100 req/s x 0.2 s = 20 pods of 0.1 CPU = 2.0 CPUs. By CPU
      // floor((8 - 0.7) / 0.1) = 73, at most 5 -> 5 per node; packing ceil(20 / 5) = 4.
      // Capacity (2 + 3.9) / 7.3 = 0.81 -> 1. Nodes 4; available 7.3 x 4 - 3.9 = 25.3.
      {.name = "max pods decides",
       .args = "--rps 100 --latency-ms 200 --pod-concurrency 1 --cpu-per-pod 0.1 "
               "--vm-cores 8 --max-pods-per-node 5",
       .pods = 20,
       .pods_per_node = 5,
       .packing = 4,
       .capacity = 1,
       .nodes = 4,
       .available_cpu = 25.3},
      // A trickle still needs a pod: 0.001 x 0.5 = 0.0005 -> 1 pod, 0.5 CPU. Packing 1;
      // capacity (0.5 + 3.9) / 3.3 = 1.33 -> 2. Nodes 2; available 6.6 - 3.9 = 2.7.
      {.name = "trickle",
       .args = "--rps 0.001 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4",
       .pods = 1,
       .pods_per_node = 6,
       .packing = 1,
       .capacity = 2,
       .nodes = 2,
       .available_cpu = 2.7},
      // No overheads: per node floor(4 / 0.5) = 8; packing ceil(12 / 8) = 2; capacity 6 / 4 =
      // 1.5 -> 2. Nodes 2; available 4 x 2 = 8.
      {.name = "no overheads",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 "
               "--vm-cores 4 --node-overhead 0 --cluster-overhead 0",
       .pods = 12,
       .pods_per_node = 8,
       .packing = 2,
       .capacity = 2,
       .nodes = 2,
       .available_cpu = 8.0},
      // Exact fits survive floating point (3.3 / 0.55 is 5.999... in doubles). 12 x 1 / 2 = 6
      // pods of 0.55 = 3.3 CPUs. Per node floor(3.3 / 0.55) = 6; packing 1; capacity 3.3 / 3.3
      // = 1. Nodes 1; available 3.3, spare 0.
      {.name = "exact fit",
       .args = "--rps 12 --latency-ms 1000 --pod-concurrency 2 --cpu-per-pod 0.55 "
               "--vm-cores 4 --cluster-overhead 0",
       .pods = 6,
       .pods_per_node = 6,
       .packing = 1,
       .capacity = 1,
       .nodes = 1,
       .available_cpu = 3.3},
      // Concurrency per pod: 25 x 0.5 / 4 = 3.125 -> 4 pods, 2.0 CPUs. Per node 6; packing 1;
      // capacity (2 + 3.9) / 3.3 = 1.79 -> 2. Nodes 2; available 2.7.
      {.name = "pod concurrency",
       .args = "--rps 25 --latency-ms 500 --pod-concurrency 4 --cpu-per-pod 0.5 "
               "--vm-cores 4",
       .pods = 4,
       .pods_per_node = 6,
       .packing = 1,
       .capacity = 2,
       .nodes = 2,
       .available_cpu = 2.7},
      // A pod that takes a whole node: 2 x 1 = 2 pods of 3.3 CPU = 6.6. Per node floor(3.3 /
      // 3.3) = 1; packing 2; capacity (6.6 + 3.9) / 3.3 = 3.18 -> 4. Nodes 4; available 9.3.
      {.name = "pod the size of a node",
       .args = "--rps 2 --latency-ms 1000 --pod-concurrency 1 --cpu-per-pod 3.3 "
               "--vm-cores 4",
       .pods = 2,
       .pods_per_node = 1,
       .packing = 2,
       .capacity = 4,
       .nodes = 4,
       .available_cpu = 9.3},
      // Everything at once. 40 x 0.25 = 10 pods of 1 CPU and 3 GiB = 10 CPUs. By CPU floor(7.3 /
      // 1) = 7, by memory floor((32 - 1) / 3) = floor(10.33) = 10, at most 4 -> 4; packing
      // ceil(10 / 4) = 3. Capacity (10 + 3.9) / 7.3 = 1.9 -> 2. Needed 3 + 2 spare = 5;
      // available 7.3 x 5 - 3.9 = 32.6.
      {.name = "all bounds and spares",
       .args = "--rps 40 --latency-ms 250 --pod-concurrency 1 --cpu-per-pod 1 "
               "--mem-per-pod 3 --vm-cores 8 --vm-mem-gib 32 "
               "--max-pods-per-node 4 --spare-nodes 2",
       .pods = 10,
       .pods_per_node = 4,
       .packing = 3,
       .capacity = 2,
       .nodes = 5,
       .available_cpu = 32.6},
      // The second form. 0.7 x 120 = 84 req/s per pod; 1000 / 84 = 11.9 -> 12 pods of 0.5 CPU:
      // as the seed's example, 6 per node, packing 2, capacity 3 -> 3 nodes, available 6.0.
      {.name = "measured",
       .args = "--target-rps 1000 --pod-saturation-rps 120 --cpu-per-pod 0.5 --vm-cores 4",
       .pods = 12,
       .pods_per_node = 6,
       .packing = 2,
       .capacity = 3,
       .nodes = 3,
       .available_cpu = 6.0},
      // The second form with memory: 0.5 x 200 = 100 per pod; 950 / 100 = 9.5 -> 10 pods. By
      // CPU floor((16 - 0.7) / 2) = floor(7.65) = 7; by memory floor((64 - 4) / 16) = 3 -> 3;
      // packing ceil(10 / 3) = 4. Capacity (20 + 3.9) / 15.3 = 1.56 -> 2. Nodes 4 + 1 = 5;
      // available 15.3 x 5 - 3.9 = 72.6.
      {.name = "measured with memory",
       .args = "--target-rps 950 --pod-saturation-rps 200 --operating-fraction 0.5 "
               "--cpu-per-pod 2 --mem-per-pod 16 --vm-cores 16 --vm-mem-gib 64 "
               "--node-mem-overhead 4 --spare-nodes 1",
       .pods = 10,
       .pods_per_node = 3,
       .packing = 4,
       .capacity = 2,
       .nodes = 5,
       .available_cpu = 72.6},
      // Errors. The seed answered "10 pods on 20 nodes" here: 6 CPUs are more than the 3.3 a
      // 4-core node has for pods.
      {.name = "6 CPUs on 4-core VMs",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 6 "
               "--vm-cores 4",
       .error = {"a pod fits on no node", "--cpu-per-pod 6", "--vm-cores 4", "3.3 cores"}},
      // 3.31 > 3.3: just too big, in the second form too.
      {.name = "just too big",
       .args = "--target-rps 100 --pod-saturation-rps 50 --cpu-per-pod 3.31 --vm-cores 4",
       .error = {"a pod fits on no node", "--cpu-per-pod 3.31"}},
      // 16 GiB pods, 16 - 1 = 15 GiB per node for pods.
      {.name = "memory too big",
       .args = "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 "
               "--vm-cores 4 --mem-per-pod 16 --vm-mem-gib 16",
       .error = {"a pod fits on no node", "--mem-per-pod 16", "--vm-mem-gib 16", "15 GiB"}},
  };
  return *table;
}

TEST(SizingTable, EveryCaseAsComputedByHand) {
  ASSERT_GE(Table().size(), 10u);
  for (const Case& c : Table()) {
    SCOPED_TRACE(absl::StrCat(c.name, ": stampede size ", c.args));
    auto r = Size(c.args);
    if (!c.error.empty()) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      for (const char* part : c.error)
        EXPECT_THAT(std::string(r.status().message()), HasSubstr(part));
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->pods, c.pods);
    ASSERT_TRUE(r->nodes.has_value());
    EXPECT_EQ(r->nodes->pods_per_node, c.pods_per_node);
    EXPECT_EQ(r->nodes->packing_nodes, c.packing);
    EXPECT_EQ(r->nodes->capacity_nodes, c.capacity);
    EXPECT_EQ(r->nodes->nodes, c.nodes);
    EXPECT_NEAR(r->nodes->available_cpu, c.available_cpu, 1e-9);
    EXPECT_GE(r->nodes->available_cpu, r->nodes->required_cpu - 1e-9);
    EXPECT_THAT(SizeResultLine(*r), HasSubstr(absl::StrCat(c.pods, " pod")));
    EXPECT_THAT(SizeResultLine(*r), HasSubstr(absl::StrCat(" on ", c.nodes, " node")));
  }
}

// ---------------------------------------------------------------------------------------------
// The arithmetic shown, step by step.

TEST(Sizing, WorkedExampleArithmetic) {
  auto r = Size("--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->arithmetic,
            "required pods = ceil(rps x latency / pod concurrency)\n"
            "              = ceil(24 x 0.5 s / 1) = ceil(12) = 12 pods\n"
            "required CPU  = pods x CPU per pod = 12 x 0.5 = 6.0 CPUs\n"
            "pods per node = floor((VM cores - node overhead) / CPU per pod)\n"
            "              = floor((4 - 0.7) / 0.5) = floor(6.6) = 6\n"
            "packing       = ceil(pods / pods per node) = ceil(12 / 6) = 2 nodes\n"
            "available CPU = (VM cores - node overhead) x nodes - cluster overhead\n"
            "              = (4 - 0.7) x nodes - 3.9 = 3.3 x nodes - 3.9\n"
            "capacity      = smallest n with 3.3 x n - 3.9 >= 6.0: n >= (6.0 + 3.9) / 3.3 = 3 -> "
            "3 nodes\n"
            "nodes         = max(capacity 3, packing 2) = 3 nodes\n"
            "available CPU = 3.3 x 3 - 3.9 = 6.0 CPUs (spare 0.0)\n");
  EXPECT_EQ(SizeResultLine(*r),
            "12 pods on 3 nodes (4-core VMs), available CPU 6.0 for 6.0 required, up to 6 pods "
            "per node");
}

TEST(Sizing, EveryBoundAndTheSparesAreShown) {
  // The "all bounds and spares" case of the table.
  auto r = Size(
      "--rps 40 --latency-ms 250 --pod-concurrency 1 --cpu-per-pod 1 --mem-per-pod 3 --vm-cores 8 "
      "--vm-mem-gib 32 --max-pods-per-node 4 --spare-nodes 2");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nodes->bound, PodsPerNodeBound::kMaxPods);
  EXPECT_THAT(r->arithmetic, HasSubstr("per node, CPU = floor((VM cores - node overhead) / CPU "
                                       "per pod)\n              = floor((8 - 0.7) / 1) = "
                                       "floor(7.3) = 7\n"));
  EXPECT_THAT(r->arithmetic, HasSubstr("= floor((32 - 1) GiB / 3 GiB) = floor(10.333) = 10\n"));
  EXPECT_THAT(r->arithmetic,
              HasSubstr("pods per node = min(7 by CPU, 10 by memory, 4 by --max-pods-per-node) = "
                        "4\n"));
  EXPECT_THAT(r->arithmetic, HasSubstr("packing       = ceil(pods / pods per node) = ceil(10 / 4) "
                                       "= 3 nodes\n"));
  EXPECT_THAT(r->arithmetic, HasSubstr("nodes         = max(capacity 2, packing 3) = 3 nodes\n"
                                       "              + 2 spare nodes = 5 nodes\n"));
  EXPECT_THAT(r->arithmetic, HasSubstr("available CPU = 7.3 x 5 - 3.9 = 32.6 CPUs (spare 22.6)"));
  EXPECT_THAT(SizeResultLine(*r), HasSubstr("5 nodes (8-core VMs; 3 needed + 2 spare)"));

  // Memory the bound: named in the JSON.
  r = Size(
      "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4 "
      "--mem-per-pod 4 --vm-mem-gib 16");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->nodes->bound, PodsPerNodeBound::kMemory);
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(SizeAnswerJson(*r), &doc).ok());
  const auto& f = doc.fields();
  EXPECT_EQ(f.at("pods").number_value(), 12);
  EXPECT_EQ(f.at("nodes").number_value(), 4);
  EXPECT_EQ(f.at("podsPerNode").number_value(), 3);
  EXPECT_EQ(f.at("podsPerNodeBy").string_value(), "memory");
  EXPECT_EQ(f.at("podsPerNodeByCpu").number_value(), 6);
  EXPECT_EQ(f.at("podsPerNodeByMemory").number_value(), 3);
  EXPECT_EQ(f.at("packingNodes").number_value(), 4);
  EXPECT_EQ(f.at("capacityNodes").number_value(), 3);
  EXPECT_EQ(f.at("spareNodes").number_value(), 0);
  EXPECT_EQ(f.at("nodeMemOverheadGib").number_value(), 1);
  EXPECT_THAT(f.at("arithmetic").string_value(), HasSubstr("by memory"));
}

TEST(Sizing, InvalidInputsNameTheFlag) {
  const std::string seed =
      "--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4";
  struct Bad {
    std::string args;
    std::vector<std::string> flags;  // named in the message
  };
  const std::vector<Bad> cases = {
      {"--rps 0 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4", {"--rps"}},
      {"--rps nan --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4", {"--rps"}},
      {"--rps 24 --latency-ms -5 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4",
       {"--latency-ms"}},
      {"--rps 24 --latency-ms 500 --pod-concurrency 0 --cpu-per-pod 0.5 --vm-cores 4",
       {"--pod-concurrency"}},
      {"--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0 --vm-cores 4",
       {"--cpu-per-pod"}},
      {"--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 0",
       {"--vm-cores"}},
      {seed + " --node-overhead 4", {"--vm-cores", "--node-overhead"}},
      {seed + " --node-overhead -1", {"--node-overhead"}},
      {seed + " --cluster-overhead -0.5", {"--cluster-overhead"}},
      {seed + " --mem-per-pod 2", {"--mem-per-pod", "--vm-mem-gib"}},
      {seed + " --vm-mem-gib 16", {"--vm-mem-gib", "--mem-per-pod"}},
      {seed + " --mem-per-pod 0 --vm-mem-gib 16", {"--mem-per-pod"}},
      {seed + " --mem-per-pod 2 --vm-mem-gib 1", {"--vm-mem-gib", "--node-mem-overhead"}},
      {seed + " --max-pods-per-node 0", {"--max-pods-per-node"}},
      {seed + " --spare-nodes -1", {"--spare-nodes"}},
      {seed + " --spare-nodes 1.5", {"--spare-nodes"}},
      {"--latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4", {"--rps"}},
      {"--rps 24 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5", {"--vm-cores"}},
      // The two forms mixed.
      {seed + " --target-rps 100", {"--rps", "--target-rps"}},
      // Second form: nodes asked for (a spare node) without the pod and VM figures.
      {"--target-rps 100 --pod-saturation-rps 50 --spare-nodes 1", {"--cpu-per-pod"}},
      {"--target-rps 100 --pod-saturation-rps 50 --cpu-per-pod 1", {"--vm-cores"}},
      {"--target-rps 100 --pod-saturation-rps 50 --operating-fraction 1.5",
       {"--operating-fraction"}},
      {"--target-rps 100", {"--pod-saturation-rps"}},
  };
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.args);
    auto r = Size(c.args);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& flag : c.flags) {
      EXPECT_THAT(std::string(r.status().message()), HasSubstr(flag));
    }
  }
  // Absurd sizes are refused rather than overflowing.
  auto r = Size("--rps 1e300 --latency-ms 500 --pod-concurrency 1 --cpu-per-pod 0.5 --vm-cores 4");
  EXPECT_FALSE(r.ok());
}

TEST(Sizing, MeasuredFormSizesNodesOnlyWhenAsked) {
  // 0.7 x 120 = 84 req/s per pod; 1000 / 84 = 11.905 -> 12 pods.
  auto r = Size("--target-rps 1000 --pod-saturation-rps 120");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pods, 12);
  EXPECT_FALSE(r->nodes.has_value());
  EXPECT_EQ(SizeResultLine(*r), "12 pods");
  EXPECT_THAT(r->arithmetic, HasSubstr("0.7 x 120 req/s = 84 req/s"));
  EXPECT_THAT(r->arithmetic, HasSubstr("ceil(1000 / 84) = ceil(11.905) = 12 pods"));
  // With the pod and VM figures: the seed example's nodes (see the table).
  r = Size("--target-rps 1000 --pod-saturation-rps 120 --cpu-per-pod 0.5 --vm-cores 4");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->nodes.has_value());
  EXPECT_EQ(r->nodes->nodes, 3);
  EXPECT_THAT(r->arithmetic, HasSubstr("required CPU  = pods x CPU per pod = 12 x 0.5 = 6.0"));
}

TEST(Sizing, PodsFromMeasuredSaturation) {
  // One pod saturated at 120 req/s; at 70% it serves 84 req/s; 1000 / 84 = 11.9 -> 12 pods.
  MeasuredSizingParams p;
  p.target_rps = 1000;
  p.pod_saturation_rps = 120;
  auto r = PodsFromSaturation(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->per_pod_operating_rps, 84);
  EXPECT_EQ(r->pods, 12);

  // Exactly on the boundary is not rounded up by floating-point noise: 700 / (0.7 x 100) = 10.
  p.target_rps = 700;
  p.pod_saturation_rps = 100;
  r = PodsFromSaturation(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pods, 10);

  // 700 / (0.5 x 100) = 14.
  p.operating_fraction = 0.5;
  r = PodsFromSaturation(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pods, 14);

  for (double bad : {0.0, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    p.operating_fraction = bad;
    r = PodsFromSaturation(p);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("--operating-fraction"));
  }
  p.operating_fraction = 0.7;
  p.pod_saturation_rps = -1;
  r = PodsFromSaturation(p);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("--pod-saturation-rps"));
}

TEST(Sizing, NumbersInTheArithmeticAndOnTheCommandLine) {
  EXPECT_EQ(SizingNumber(12), "12");
  EXPECT_EQ(SizingNumber(3.3), "3.3");
  EXPECT_EQ(SizingNumber(0.125), "0.125");
  EXPECT_EQ(SizingNumber(6, 1), "6.0");
  EXPECT_EQ(SizingNumber(6.04, 1), "6.04");
  EXPECT_EQ(SizingNumber(3.0000000000000004), "3");
  EXPECT_EQ(SizingNumber(std::numeric_limits<double>::quiet_NaN()), "NaN");
  // Command-line values are exact: the shortest decimal that reads back as the same double.
  EXPECT_EQ(ExactNumber(1000), "1000");
  EXPECT_EQ(ExactNumber(0.7), "0.7");
  EXPECT_EQ(ExactNumber(411.5), "411.5");
  EXPECT_EQ(ExactNumber(1.0 / 3), "0.3333333333333333");
  for (double v : {0.1, 2.0 / 3, 123.456789, 1e-7, 98765.4321}) {
    double back = 0;
    ASSERT_TRUE(absl::SimpleAtod(ExactNumber(v), &back)) << ExactNumber(v);
    EXPECT_EQ(back, v) << ExactNumber(v);
  }
}

// Inputs -> args -> flags -> inputs gives the same answer, for both forms and every flag.
TEST(SizeCommand, ArgsParseBackToTheSameAnswer) {
  std::vector<SizeInputs> all;
  SizeInputs a;
  a.latency.rps = 24.5;
  a.latency.latency_ms = 1.0 / 3 * 1000;
  a.latency.pod_concurrency = 3;
  a.latency.pod.cpu = 0.45;
  a.latency.nodes.vm_cores = 4;
  all.push_back(a);
  a.latency.pod.mem_gib = 1.5;
  a.latency.nodes.vm_mem_gib = 7.75;
  a.latency.nodes.node_mem_overhead_gib = 0.5;
  a.latency.nodes.node_overhead = 0.25;
  a.latency.nodes.cluster_overhead = 1.1;
  a.latency.nodes.max_pods_per_node = 3;
  a.latency.nodes.spare_nodes = 1;
  all.push_back(a);
  SizeInputs m;
  m.measured = MeasuredSizingParams{
      .target_rps = 5000, .pod_saturation_rps = 411.5, .operating_fraction = 0.65};
  m.size_nodes = false;
  all.push_back(m);
  m.size_nodes = true;
  m.latency.pod = a.latency.pod;
  m.latency.nodes = a.latency.nodes;
  all.push_back(m);
  for (const SizeInputs& in : all) {
    const std::vector<std::string> args = SizeCommandArgs(in);
    SCOPED_TRACE(absl::StrJoin(args, " "));
    auto want = AnswerSize(in);
    ASSERT_TRUE(want.ok()) << want.status();
    auto got = Size(args);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->pods, want->pods);
    EXPECT_EQ(got->nodes.has_value(), want->nodes.has_value());
    if (got->nodes && want->nodes) {
      EXPECT_EQ(got->nodes->nodes, want->nodes->nodes);
    }
    EXPECT_EQ(SizeAnswerText(*got), SizeAnswerText(*want));
    EXPECT_EQ(SizeAnswerJson(*got), SizeAnswerJson(*want));
  }
  // Defaults are left out; what is left is what the user would type.
  EXPECT_EQ(absl::StrJoin(SizeCommandArgs(all[0]), " "),
            "--rps 24.5 --latency-ms 333.3333333333333 --pod-concurrency 3 --cpu-per-pod 0.45 "
            "--vm-cores 4");
}

// ---------------------------------------------------------------------------------------------
// The size command that ends a saturation report.

// A saturated result as the search leaves it: the median repeat's best step at `rps`, and the
// operating point at 70% of it.
SaturationResult Saturated(double rps, double operating_load, LoadModel model) {
  SaturationResult r;
  r.options = DefaultSaturationOptions(model);
  r.verdict = Verdict::kSaturated;
  r.median_repeat = 1;
  StepRecord best;
  best.request = {1, 5, StepPhase::kStep, 28};
  best.result.throughput_rps = rps;
  best.result.load = 28;
  best.result.run_id = "run-5";
  best.ok = true;
  r.steps = {best};
  RepeatResult repeat;
  repeat.verdict = Verdict::kSaturated;
  repeat.best = best;
  r.repeats = {repeat};
  r.min_rps = r.max_rps = r.median_rps = rps;
  r.saturation = best;
  r.operating_rps = 0.7 * rps;
  r.operating_load = operating_load;
  return r;
}

// The command line a report prints: the line after "size the cluster...:", without its indent.
std::string PrintedCommand(const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "  stampede size ")) return std::string(line.substr(2));
  }
  return "";
}

std::vector<std::string> ArgsOf(const std::string& command) {
  std::vector<std::string> words = absl::StrSplit(command, ' ', absl::SkipEmpty());
  EXPECT_GE(words.size(), 2u);
  EXPECT_EQ(words[0], "stampede");
  EXPECT_EQ(words[1], "size");
  return std::vector<std::string>(words.begin() + 2, words.end());
}

TEST(SaturationReport, EndsWithTheOperatingPointAndTheSizeCommand) {
  const SaturationResult r = Saturated(1000, 14, LoadModel::kClosed);
  const std::string text = FormatSaturationText(r);
  // The last lines: the operating point, the pod figure, the command with the unknown target
  // rate as R (and how to get nodes too).
  EXPECT_TRUE(absl::EndsWith(
      text,
      "operating point (70% of saturation): 700.0 req/s at load 14 virtual users\n"
      "per pod:         1000 req/s at saturation / 1 pod tested = 1000 req/s\n"
      "size the cluster (R: the requests/s to serve; add --cpu-per-pod P --vm-cores V for "
      "nodes):\n"
      "  stampede size --target-rps R --pod-saturation-rps 1000 --operating-fraction 0.7\n"))
      << text;
  // With R filled in, the line is a valid size command: 0.7 x 1000 = 700 per pod; 5000 / 700 =
  // 7.14 -> 8 pods.
  std::string command = PrintedCommand(text);
  command.replace(command.find(" R "), 3, " 5000 ");
  auto answer = Size(ArgsOf(command));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->pods, 8);

  // Not saturated: no operating point, no command.
  SaturationResult none = r;
  none.verdict = Verdict::kNotSaturated;
  none.saturation.reset();
  EXPECT_THAT(FormatSaturationText(none), Not(HasSubstr("stampede size")));
  EXPECT_FALSE(NextSizeInputs(none, {}).has_value());
}

TEST(SaturationReport, TargetRateCommandParsesBackToTheSameAnswer) {
  // 4 pods tested together sustained 1646.1 req/s: 411.525 per pod, to 4 digits 411.5.
  // 0.7 x 411.5 = 288.05 req/s per pod; 5000 / 288.05 = 17.36 -> 18 pods of 0.5 CPU = 9.0 CPUs.
  // Per node floor(3.3 / 0.5) = 6, packing ceil(18 / 6) = 3; capacity (9 + 3.9) / 3.3 = 3.9
  // -> 4; nodes 4 + 1 spare = 5.
  const SaturationResult r = Saturated(1646.1, 14, LoadModel::kClosed);
  SizingFollowUp next;
  next.pods_tested = 4;
  next.target_rps = 5000;
  next.pod = PodParams{.cpu = 0.5};
  next.nodes.vm_cores = 4;
  next.nodes.spare_nodes = 1;
  const std::string text = FormatSaturationText(r, next);
  const std::string command = PrintedCommand(text);
  EXPECT_EQ(command,
            "stampede size --target-rps 5000 --pod-saturation-rps 411.5 --operating-fraction 0.7 "
            "--cpu-per-pod 0.5 --vm-cores 4 --spare-nodes 1");
  EXPECT_THAT(text, HasSubstr("per pod:         1646.1 req/s at saturation / 4 pods tested = "
                              "411.5 req/s\n"));
  auto answer = Size(ArgsOf(command));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->pods, 18);
  ASSERT_TRUE(answer->nodes.has_value());
  EXPECT_EQ(answer->nodes->nodes, 5);
  // The report ends with what the command prints, word for word, indented.
  std::string indented;
  for (absl::string_view line : absl::StrSplit(SizeAnswerText(*answer), '\n')) {
    if (!line.empty()) absl::StrAppend(&indented, "  ", line);
    indented += "\n";
  }
  indented.pop_back();  // StrSplit saw an empty piece after the last newline
  EXPECT_TRUE(absl::EndsWith(text, "which prints:\n" + indented)) << text;
  EXPECT_TRUE(absl::EndsWith(text,
                             "\n  result: 18 pods on 5 nodes (4-core VMs; 4 needed + 1 "
                             "spare), available CPU 12.6 for 9.0 required, up to 6 pods per "
                             "node\n"))
      << text;

  // The JSON carries the same command, as args that parse back, and the answer.
  google::protobuf::Struct doc;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(FormatSaturationJson(r, nullptr, next), &doc)
          .ok());
  const auto& size = doc.fields().at("sizeCommand").struct_value().fields();
  EXPECT_EQ(size.at("line").string_value(), command);
  std::vector<std::string> args;
  for (const auto& v : size.at("args").list_value().values()) args.push_back(v.string_value());
  EXPECT_EQ(args, ArgsOf(command));
  EXPECT_EQ(size.at("podsTested").number_value(), 4);
  EXPECT_EQ(size.at("podSaturationRps").number_value(), 411.5);
  EXPECT_EQ(size.at("targetRps").number_value(), 5000);
  const auto& a = size.at("answer").struct_value().fields();
  EXPECT_EQ(a.at("pods").number_value(), 18);
  EXPECT_EQ(a.at("nodes").number_value(), 5);

  // A target without pod and VM figures: pods only, as the command without them prints.
  next.pod.reset();
  const std::string pods_only = FormatSaturationText(r, next);
  EXPECT_EQ(PrintedCommand(pods_only),
            "stampede size --target-rps 5000 --pod-saturation-rps 411.5 --operating-fraction 0.7");
  EXPECT_THAT(pods_only, HasSubstr("add --cpu-per-pod P --vm-cores V for nodes"));
  EXPECT_TRUE(absl::EndsWith(pods_only, "  result: 18 pods\n")) << pods_only;
}

TEST(SaturationReport, FiguresAreRoundedForPeople) {
  // Measured rates: the nearest, to at least 4 significant digits and at least one decimal.
  EXPECT_EQ(RoundedRate(197.867), 197.9);
  EXPECT_EQ(RoundedRate(197.84), 197.8);
  EXPECT_EQ(RoundedRate(3.14159), 3.142);
  EXPECT_EQ(RoundedRate(12345.67), 12345.7);
  EXPECT_EQ(RoundedRate(0.0123456), 0.01235);
  EXPECT_EQ(RoundedRate(1000), 1000);
  // The report's per-pod figure and the command agree with each other.
  const std::string text = FormatSaturationText(Saturated(197.867, 3, LoadModel::kClosed));
  EXPECT_THAT(text, HasSubstr("per pod:         197.9 req/s at saturation / 1 pod tested = "
                              "197.9 req/s\n"));
  EXPECT_EQ(PrintedCommand(text),
            "stampede size --target-rps R --pod-saturation-rps 197.9 --operating-fraction 0.7");

  // Closed loads are whole users already (the search rounds them up).
  EXPECT_EQ(RoundedOperatingLoad(14, LoadModel::kClosed), 14);
  // Open rates: down to 3 significant digits.
  EXPECT_DOUBLE_EQ(RoundedOperatingLoad(693.75, LoadModel::kOpen), 693);
  EXPECT_DOUBLE_EQ(RoundedOperatingLoad(12345.6, LoadModel::kOpen), 12300);
  EXPECT_DOUBLE_EQ(RoundedOperatingLoad(0.69375, LoadModel::kOpen), 0.693);
  EXPECT_DOUBLE_EQ(RoundedOperatingLoad(700, LoadModel::kOpen), 700);
  const SaturationResult r = Saturated(1000, 693.75, LoadModel::kOpen);
  EXPECT_THAT(FormatSaturationText(r),
              HasSubstr("operating point (70% of saturation): 700.0 req/s at load 693 "
                        "requests/s offered (693.75 interpolated)\n"));
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(FormatSaturationJson(r), &doc).ok());
  const auto& op = doc.fields().at("operatingPoint").struct_value().fields();
  EXPECT_DOUBLE_EQ(op.at("load").number_value(), 693.75);
  EXPECT_DOUBLE_EQ(op.at("loadRounded").number_value(), 693);
  EXPECT_TRUE(doc.fields().at("sizeCommand").struct_value().fields().at("answer").has_null_value());
}

}  // namespace
}  // namespace stampede
