// `stampede saturate` end to end: the real CLI (embedded coordinator and local agents) against
// `stampede-target` services of known capacity, replicas x concurrency / service time. The found
// saturation throughput must lie within 15% of that capacity, the search must end in bounded
// time, and the repeats must agree. Plus the verdicts that are not a number, and `stampede size`.
//
// The targets' queues are short, so 503s start just above capacity: a closed load of users fills
// replicas x (concurrency + queue) before the first 503, and every load from replicas x
// concurrency up to that keeps every slot busy, so the plateau the search lands on is the
// capacity itself.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using testing::BinPath;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using testing::RunCommand;

// A scratch folder for one test. Removed when the test passes (a search's store holds every
// request of every step, tens of MB), kept for inspection when it fails.
class TempDir {
 public:
  TempDir()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("stampede-sat-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ignored;
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_, ignored);
  }
  operator const std::filesystem::path&() const { return dir_; }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }

 private:
  std::filesystem::path dir_;
};

// A plan with no stages: the search brings its own.
std::string WritePlan(const std::filesystem::path& dir, int port, const std::string& saturation,
                      const std::string& agents = R"({})") {
  std::ofstream(dir / "payload.json") << R"({"inputs": [[0.1, 0.2, 0.3]]})";
  const std::string path = (dir / "plan.json").string();
  std::ofstream(path) << absl::StrCat(
      R"({"name": "sat", "target": {"url": "http://127.0.0.1:)", port,
      R"(/score", "headers": {"Content-Type": "application/json"}, "payloadFile": "payload.json",)",
      R"( "timeout": "5s"}, "agents": )", agents, R"(, "saturation": )", saturation, "}");
  return path;
}

struct Outcome {
  int exit_code = -1;
  double seconds = 0;
  std::string output;
  Struct json;
};

// Runs `stampede saturate PLAN --json` embedded and parses the JSON on its stdout (stderr, merged
// into the same pipe, holds at most "note:" lines before it).
Outcome Saturate(const std::filesystem::path& dir, const std::string& plan,
                 const std::vector<std::string>& flags, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {
      BinPath("stampede"), "saturate", plan, "--json", "--db", (dir / "stampede.db").string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Outcome out;
  const auto start = std::chrono::steady_clock::now();
  auto run = RunCommand(argv, {}, timeout);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!run.ok()) {
    ADD_FAILURE() << run.status();
    return out;
  }
  out.exit_code = run->exit_code;
  out.output = run->output;
  size_t brace = 0;
  if (out.output.empty() || out.output[0] != '{') {
    const size_t at = out.output.find("\n{");
    brace = at == std::string::npos ? 0 : at + 1;
  }
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(out.output.substr(brace), &out.json);
  EXPECT_TRUE(parsed.ok()) << parsed.message() << "\n" << out.output;
  return out;
}

const Value& Field(const Struct& s, const std::string& key) {
  static const Value kNull;
  auto it = s.fields().find(key);
  if (it == s.fields().end()) {
    ADD_FAILURE() << "no \"" << key << "\"";
    return kNull;
  }
  return it->second;
}

// Checks a saturated, consistent result within 15% of `capacity` and returns the saturation
// throughput. Prints the figures for the record.
double ExpectSaturatedNear(const Outcome& out, double capacity, const std::string& label) {
  const Struct& j = out.json;
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(Field(j, "verdict").string_value(), "saturated") << out.output;
  EXPECT_FALSE(Field(j, "inconsistent").bool_value()) << out.output;
  const Struct& sat = Field(j, "saturation").struct_value();
  const double rps = Field(sat, "throughputRps").number_value();
  EXPECT_NEAR(rps, capacity, 0.15 * capacity) << label << "\n" << out.output;
  EXPECT_GT(Field(sat, "load").number_value(), 0);
  EXPECT_GT(Field(sat, "p99Ms").number_value(), 0);
  // Every repeat found the capacity, and they agree with each other.
  std::vector<double> repeats;
  for (const Value& v : Field(j, "repeats").list_value().values()) {
    repeats.push_back(v.number_value());
    EXPECT_NEAR(v.number_value(), capacity, 0.15 * capacity) << label;
  }
  EXPECT_EQ(repeats.size(), 2u);
  EXPECT_LE(Field(Field(j, "spread").struct_value(), "relative").number_value(), 0.15);
  // The operating point is 70% of saturation, at a load below the saturation load.
  const Struct& op = Field(j, "operatingPoint").struct_value();
  EXPECT_NEAR(Field(op, "throughputRps").number_value(), 0.7 * rps, 0.01 * rps);
  EXPECT_GT(Field(op, "load").number_value(), 0);
  EXPECT_LE(Field(op, "load").number_value(), Field(sat, "load").number_value());
  // Bounded: each repeat within the step limit.
  for (const Value& v : Field(j, "repeatDetails").list_value().values()) {
    EXPECT_LE(Field(v.struct_value(), "steps").number_value(),
              Field(Field(j, "settings").struct_value(), "maxStepsPerRepeat").number_value());
  }
  std::string figures;
  for (double r : repeats) absl::StrAppend(&figures, " ", static_cast<int>(std::lround(r)));
  std::cout << "[ figures  ] " << label << ": analytic capacity " << capacity
            << " req/s; saturation " << rps << " req/s at load "
            << Field(sat, "load").number_value() << " (" << 100 * (rps - capacity) / capacity
            << "%); repeats" << figures << "; " << Field(j, "steps").list_value().values_size()
            << " steps in " << out.seconds << " s\n";
  return rps;
}

TEST(SaturateE2E, Capacity200SingleClient) {
  // 2 replicas x 2 concurrent / 20 ms = 200 req/s; 503s above 2 x (2 + 1) = 6 users.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "2", "--queue", "1", "--service-ms", "20"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 2, "stepDuration": "1s", "repeats": 2})");
  const Outcome out = Saturate(dir, plan, {"--single-client"}, std::chrono::seconds(90));
  ExpectSaturatedNear(out, 200, "capacity 200, single-client, closed");
  EXPECT_LT(out.seconds, 60);
  EXPECT_EQ(Field(out.json, "mode").string_value(), "single-client");
  EXPECT_EQ(Field(out.json, "agentsPerStep").number_value(), 1);
  // Capacity is reached at 4 users and 503s start above 6: the throughput knee (no growth over
  // 4 users) or the 503 rule bounds the search there, whichever comes first.
  for (const Value& v : Field(out.json, "repeatDetails").list_value().values()) {
    EXPECT_GE(Field(v.struct_value(), "maxGoodLoad").number_value(), 4);
    EXPECT_LE(Field(v.struct_value(), "maxGoodLoad").number_value(), 6);
    EXPECT_LE(Field(v.struct_value(), "firstFailLoad").number_value(), 7);
  }
  // Every step is a normal run: its report can be pulled from the store.
  const auto& steps = Field(out.json, "steps").list_value();
  ASSERT_GT(steps.values_size(), 0);
  const std::string run_id = Field(steps.values(1).struct_value(), "runId").string_value();
  auto report = RunCommand({BinPath("stampede"), "report", run_id, "--db",
                            (dir / "stampede.db").string(), "--format", "json"});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->exit_code, 0) << report->output;
  EXPECT_THAT(report->output, HasSubstr(run_id));
}

TEST(SaturateE2E, Capacity1000MultiClientThreeAgents) {
  // 4 x 5 / 20 ms = 1000 req/s; 503s above 4 x (5 + 2) = 28 users in total. Three agents in
  // lockstep, each at the step load (perAgent), so the total is three times the load.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "5", "--queue", "2", "--service-ms", "20"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 2, "stepDuration": "1s", "repeats": 2})",
                R"({"count": 3, "regions": ["eastus", "westeurope", "southeastasia"]})");
  const Outcome out = Saturate(dir, plan, {"--local-agents", "3"}, std::chrono::seconds(90));
  ExpectSaturatedNear(out, 1000, "capacity 1000, multi-client (3 agents), closed");
  EXPECT_LT(out.seconds, 60);
  EXPECT_EQ(Field(out.json, "mode").string_value(), "multi-client");
  EXPECT_EQ(Field(out.json, "agentsPerStep").number_value(), 3);
  EXPECT_EQ(Field(out.json, "loadPer").string_value(), "agent");
  // 9 users per agent (27 in all) fit before 503s, 10 (30) do not; capacity is reached from 7
  // per agent (21), so the throughput knee may bound it lower.
  for (const Value& v : Field(out.json, "repeatDetails").list_value().values()) {
    EXPECT_GE(Field(v.struct_value(), "maxGoodLoad").number_value(), 7);
    EXPECT_LE(Field(v.struct_value(), "maxGoodLoad").number_value(), 9);
  }
}

TEST(SaturateE2E, KneeOfAServiceThatQueuesWithoutEver503) {
  // 2 x 4 / 20 ms = 400 req/s, reached at 8 users; a queue of 1000 per replica never fills, so
  // no step sees a 503: only the throughput knee can end the search.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "4", "--queue", "1000", "--service-ms", "20"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 2, "stepDuration": "1s", "repeats": 2})");
  const Outcome out = Saturate(dir, plan, {"--single-client"}, std::chrono::seconds(90));
  const double rps = ExpectSaturatedNear(out, 400, "capacity 400, queueing without 503s");
  EXPECT_NEAR(rps, 400, 40);
  EXPECT_EQ(Field(out.json, "endedBy").string_value(), "throughput-knee") << out.output;
  for (const Value& v : Field(out.json, "steps").list_value().values()) {
    EXPECT_EQ(Field(v.struct_value(), "status503").number_value(), 0);
  }
  EXPECT_LT(out.seconds, 60);
}

TEST(SaturateE2E, Capacity3000SingleClient) {
  // 6 x 10 / 20 ms = 3000 req/s; 503s above 6 x (10 + 4) = 84 users.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget({"--replicas", "6", "--concurrency", "10", "--queue", "4",
                                      "--service-ms", "20", "--threads", "2"},
                                     &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 16, "stepDuration": "1s", "repeats": 2})");
  const Outcome out = Saturate(dir, plan, {"--single-client"}, std::chrono::seconds(90));
  ExpectSaturatedNear(out, 3000, "capacity 3000, single-client, closed");
  EXPECT_LT(out.seconds, 60);
}

TEST(SaturateE2E, Capacity1000OpenModelSharedByThreeAgents) {
  // 4 x 4 / 16 ms = 1000 req/s offered by three agents sharing the rate (agents.split cluster).
  // Above capacity the queues (4 x 4) fill within a fraction of a step and 503s follow.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "4", "--queue", "4", "--service-ms", "16"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan = WritePlan(
      dir, port, R"({"model": "open", "startLoad": 300, "stepDuration": "1s", "repeats": 2})",
      R"({"count": 3, "split": "cluster"})");
  const Outcome out = Saturate(dir, plan, {"--local-agents", "3"}, std::chrono::seconds(90));
  ExpectSaturatedNear(out, 1000, "capacity 1000, multi-client (3 agents), open");
  EXPECT_LT(out.seconds, 60);
  EXPECT_EQ(Field(out.json, "loadPer").string_value(), "cluster");
}

TEST(SaturateE2E, OverloadedAtStartIsAVerdictNotANumber) {
  // One slot, no queue: one user fits, four users already get 503s.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "1", "--concurrency", "1", "--queue", "0", "--service-ms", "20"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 4, "stepDuration": "1s", "repeats": 1})");
  const Outcome out = Saturate(dir, plan, {"--single-client"}, std::chrono::seconds(60));
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_EQ(Field(out.json, "verdict").string_value(), "overloaded-at-start") << out.output;
  EXPECT_TRUE(Field(out.json, "saturation").has_null_value());
  EXPECT_TRUE(Field(out.json, "operatingPoint").has_null_value());
  EXPECT_EQ(Field(out.json, "steps").list_value().values_size(), 2);  // baseline + first step
}

TEST(SaturateE2E, NotSaturatedWithinMaxLoadIsAVerdictNotANumber) {
  // 4 x 16 / 5 ms = 12800 req/s: eight users are nowhere near it.
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "4", "--concurrency", "16", "--queue", "64", "--service-ms", "5"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 4, "maxLoad": 8, "stepDuration": "1s", "repeats": 1})");
  const Outcome out = Saturate(dir, plan, {"--single-client"}, std::chrono::seconds(60));
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_EQ(Field(out.json, "verdict").string_value(), "not-saturated") << out.output;
  EXPECT_TRUE(Field(out.json, "saturation").has_null_value());
  EXPECT_EQ(Field(out.json, "steps").list_value().values_size(), 3);  // baseline, 4, 8
}

TEST(SaturateE2E, TextReportAndBadPlans) {
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "1", "--concurrency", "1", "--queue", "0", "--service-ms", "10"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  std::string plan = WritePlan(
      dir, port, R"({"startLoad": 1, "maxLoad": 1, "stepDuration": "500ms", "repeats": 1})");
  auto run = RunCommand({BinPath("stampede"), "saturate", plan, "--single-client", "--db",
                         (dir / "stampede.db").string()},
                        {}, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 1) << run->output;                  // not saturated within maxLoad 1
  EXPECT_THAT(run->output, HasSubstr("repeat 1/1  baseline"));  // the live lines
  EXPECT_THAT(run->output, HasSubstr("verdict: not-saturated"));
  EXPECT_THAT(run->output, HasSubstr("phase"));  // the table of steps

  plan = WritePlan(dir, port, R"({"stepFactor": 0.5})");
  run = RunCommand({BinPath("stampede"), "saturate", plan});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 2);
  EXPECT_THAT(run->output, HasSubstr("saturation.stepFactor"));
}

// --target-rps with the pod and node flags of `stampede size`: the result ends with pods and
// nodes, and the size command it prints carries the node flags too.
TEST(SaturateE2E, TargetRpsWithNodeFlagsSizesPodsAndNodes) {
  const TempDir dir;
  int port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "2", "--queue", "1", "--service-ms", "20"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan =
      WritePlan(dir, port, R"({"startLoad": 2, "stepDuration": "500ms", "repeats": 1})");
  auto run = RunCommand({BinPath("stampede"), "saturate", plan, "--single-client", "--db",
                         (dir / "stampede.db").string(), "--target-rps", "2000", "--cpu-per-pod",
                         "0.5", "--vm-cores", "4", "--spare-nodes", "1"},
                        {}, std::chrono::seconds(60));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->output, HasSubstr("--cpu-per-pod 0.5 --vm-cores 4")) << run->output;
  EXPECT_THAT(run->output, HasSubstr("--spare-nodes 1")) << run->output;
  EXPECT_THAT(run->output, ContainsRegex("[0-9]+ pods on [0-9]+ nodes")) << run->output;

  // A node flag without --cpu-per-pod is refused, naming it, before anything runs.
  auto bad = RunCommand(
      {BinPath("stampede"), "saturate", plan, "--target-rps", "2000", "--vm-cores", "4"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_THAT(bad->output, HasSubstr("--cpu-per-pod"));
}

TEST(SizeCli, WorkedExample) {
  auto run = RunCommand({BinPath("stampede"), "size", "--rps", "24", "--latency-ms", "500",
                         "--pod-concurrency", "1", "--cpu-per-pod", "0.5", "--vm-cores", "4"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, HasSubstr("= 12 pods"));
  EXPECT_THAT(run->output, HasSubstr("12 x 0.5 = 6.0 CPUs"));
  EXPECT_THAT(run->output, HasSubstr("3.3 x n - 3.9 >= 6.0"));
  EXPECT_THAT(run->output, HasSubstr("-> 3 nodes"));
  EXPECT_THAT(run->output, HasSubstr("result: 12 pods on 3 nodes (4-core VMs), available CPU 6.0"));

  run = RunCommand({BinPath("stampede"), "size", "--rps", "24", "--latency-ms", "500",
                    "--pod-concurrency", "1", "--cpu-per-pod", "0.5", "--vm-cores", "4", "--json"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->output;
  Struct json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(run->output, &json).ok()) << run->output;
  EXPECT_EQ(Field(json, "pods").number_value(), 12);
  EXPECT_EQ(Field(json, "nodes").number_value(), 3);
  EXPECT_NEAR(Field(json, "availableCpu").number_value(), 6.0, 1e-9);
  EXPECT_NEAR(Field(json, "requiredCpu").number_value(), 6.0, 1e-9);

  // A bad value is refused naming its flag; a missing one too.
  run = RunCommand({BinPath("stampede"), "size", "--rps", "24", "--latency-ms", "-1",
                    "--pod-concurrency", "1", "--cpu-per-pod", "0.5", "--vm-cores", "4"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 2);
  EXPECT_THAT(run->output, HasSubstr("--latency-ms"));
  run = RunCommand({BinPath("stampede"), "size", "--rps", "24", "--latency-ms", "500",
                    "--pod-concurrency", "1", "--cpu-per-pod", "0.5"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 2);
  EXPECT_THAT(run->output, HasSubstr("--vm-cores is required"));
}

}  // namespace
}  // namespace stampede
