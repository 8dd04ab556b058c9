// Tests for common/plan_loader: parsing, the descriptor-driven JSON walk, ValidatePlan rules,
// payload and bearer-key resolution, LoadPlan path handling and PlanSummary.
#include "common/plan_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/support/e2e.h"

namespace stampede {
namespace {

using testing::ScopedTempDir;

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// The source tree (tests/CMakeLists.txt), so the data is found from any working directory and any
// build folder.
const fs::path kRepoDir = STAMPEDE_SOURCE_DIR;
const fs::path kTestsDir = kRepoDir / "tests";
const fs::path kDataDir = kTestsDir / "data/plans";

constexpr char kToken[] = "sk-test-0123456789";

// The example plan from the design brief, in pieces so that table cases can drop a whole block.
constexpr char kPlanHead[] = R"({
  "name": "smoke",
)";
constexpr char kTargetBlock[] = R"(  "target": {
    "url": "http://127.0.0.1:8080/score", "method": "POST",
    "headers": {"Content-Type": "application/json"}, "bearerTokenEnv": "SCORING_KEY",
    "payloadFile": "payload.json", "timeout": "5s"},
)";
constexpr char kAgentsBlock[] = R"(  "agents": {
    "count": 3, "regions": ["eastus", "westeurope", "southeastasia"]},
)";
constexpr char kStagesBlock[] = R"(  "stages": [
    {"concurrency": 1, "requests": 200}, {"concurrency": 8, "duration": "10s"},
    {"rate": 500, "duration": "10s", "rampTo": 1000}],
)";
constexpr char kPlanTail[] = R"(  "thresholds": {"p99Ms": 250, "errorRate": 0.01}
}
)";

std::string ExamplePlan() {
  return absl::StrCat(kPlanHead, kTargetBlock, kAgentsBlock, kStagesBlock, kPlanTail);
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// An environment that holds only what a test puts in it.
EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

PlanLoadOptions DataDirOptions() {
  PlanLoadOptions options;
  options.base_dir = kDataDir.string();
  options.env = FakeEnv({{"SCORING_KEY", kToken}});
  return options;
}

// Changes the working directory for one test; LoadPlan must not depend on it.
class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& dir) : previous_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedCwd() { fs::current_path(previous_); }

 private:
  fs::path previous_;
};

// ---------------------------------------------------------------------------------------------
// The good path.

TEST(ParsePlanTest, LoadsTheExamplePlan) {
  const absl::StatusOr<Plan> plan = ParsePlan(ExamplePlan(), DataDirOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();

  EXPECT_EQ(plan->name(), "smoke");
  const Target& target = plan->target();
  EXPECT_EQ(target.url(), "http://127.0.0.1:8080/score");
  EXPECT_EQ(target.method(), "POST");
  EXPECT_EQ(target.headers().at("Content-Type"), "application/json");
  EXPECT_EQ(target.bearer_token_env(), "SCORING_KEY");
  EXPECT_EQ(target.payload_file(), "payload.json");  // kept as written
  EXPECT_EQ(DurationToNs(target.timeout()), 5'000'000'000);
  ASSERT_EQ(target.resolved_payloads_size(), 1);
  EXPECT_EQ(target.resolved_payloads(0), ReadBytes(kDataDir / "payload.json"));
  EXPECT_EQ(target.resolved_bearer_token(), kToken);

  EXPECT_EQ(plan->agents().count(), 3);
  EXPECT_THAT(plan->agents().regions(),
              ::testing::ElementsAre("eastus", "westeurope", "southeastasia"));

  ASSERT_EQ(plan->stages_size(), 3);
  EXPECT_TRUE(IsClosedStage(plan->stages(0)));
  EXPECT_EQ(plan->stages(0).concurrency(), 1);
  EXPECT_EQ(plan->stages(0).requests(), 200);
  EXPECT_FALSE(plan->stages(0).has_duration());
  EXPECT_TRUE(IsClosedStage(plan->stages(1)));
  EXPECT_EQ(plan->stages(1).concurrency(), 8);
  EXPECT_EQ(DurationToNs(plan->stages(1).duration()), 10'000'000'000);
  EXPECT_FALSE(IsClosedStage(plan->stages(2)));
  EXPECT_DOUBLE_EQ(plan->stages(2).rate(), 500);
  EXPECT_DOUBLE_EQ(plan->stages(2).ramp_to(), 1000);
  EXPECT_EQ(DurationToNs(plan->stages(2).duration()), 10'000'000'000);

  EXPECT_DOUBLE_EQ(plan->thresholds().p99_ms(), 250);
  EXPECT_DOUBLE_EQ(plan->thresholds().error_rate(), 0.01);
  EXPECT_FALSE(plan->thresholds().has_p50_ms());
  EXPECT_FALSE(plan->has_saturation());
}

// Each human duration ends up as the exact (seconds, nanos) pair.
TEST(ParsePlanTest, NormalizesHumanDurations) {
  const struct {
    const char* text;
    int64_t seconds;
    int32_t nanos;
  } kCases[] = {{"250ms", 0, 250'000'000}, {"1m", 60, 0},   {"1m30s", 90, 0},
                {"1.5s", 1, 500'000'000},  {"2h", 7200, 0}, {"0.250s", 0, 250'000'000},
                {"1500us", 0, 1'500'000},  {"10ns", 0, 10}};
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    const std::string json = absl::StrReplaceAll(
        ExamplePlan(),
        {{R"("duration": "10s"})", absl::StrCat(R"("duration": ")", c.text, R"("})")}});
    PlanLoadOptions options = DataDirOptions();
    options.resolve = false;
    const absl::StatusOr<Plan> plan = ParsePlan(json, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->stages(1).duration().seconds(), c.seconds);
    EXPECT_EQ(plan->stages(1).duration().nanos(), c.nanos);
  }
}

TEST(ParsePlanTest, AcceptsProtoFieldNamesAndNulls) {
  const std::string json = R"({
    "target": {"url": "http://localhost/", "bearer_token_env": "SCORING_KEY",
               "payload_file": "payload.json", "http_version": null},
    "stages": [{"concurrency": 2, "requests": 10, "max_in_flight": null}],
    "thresholds": null
  })";
  const absl::StatusOr<Plan> plan = ParsePlan(json, DataDirOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->target().bearer_token_env(), "SCORING_KEY");
  EXPECT_EQ(plan->target().payload_file(), "payload.json");
  EXPECT_FALSE(plan->stages(0).has_max_in_flight());
  EXPECT_FALSE(plan->has_thresholds());
}

// What protobuf prints (int64 as strings, durations as "10s") must load again unchanged, so that
// a plan stored or sent as JSON round-trips.
TEST(ParsePlanTest, ProtobufPrintedPlanLoadsAgain) {
  PlanLoadOptions options = DataDirOptions();
  options.resolve = false;
  const absl::StatusOr<Plan> plan = ParsePlan(ExamplePlan(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::string printed;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*plan, &printed).ok());
  ASSERT_THAT(printed, HasSubstr(R"("requests":"200")"));

  const absl::StatusOr<Plan> again = ParsePlan(printed, options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*plan, *again))
      << plan->ShortDebugString() << "\nvs\n"
      << again->ShortDebugString();
}

TEST(ParsePlanTest, ResolvesPayloadFilesInOrder) {
  const absl::StatusOr<Plan> plan =
      LoadPlan((kDataDir / "round_robin.json").string(), DataDirOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Target& target = plan->target();
  ASSERT_EQ(target.resolved_payloads_size(), 2);
  EXPECT_EQ(target.resolved_payloads(0), ReadBytes(kDataDir / "payloads/first.json"));
  EXPECT_EQ(target.resolved_payloads(1), ReadBytes(kDataDir / "payloads/second.json"));
  EXPECT_NE(target.resolved_payloads(0), target.resolved_payloads(1));
  EXPECT_TRUE(target.resolved_bearer_token().empty());  // no bearerTokenEnv in this plan
  EXPECT_EQ(plan->stages(0).think_time().nanos(), 250'000'000);
  EXPECT_EQ(plan->stages(0).duration().seconds(), 90);
  EXPECT_EQ(plan->saturation().repeats(), 3);
}

TEST(ParsePlanTest, WithoutResolveReadsNoFileAndNoEnvironment) {
  bool env_called = false;
  PlanLoadOptions options;
  options.base_dir = "/nonexistent-stampede-dir";
  options.env = [&env_called](std::string_view) -> std::optional<std::string> {
    env_called = true;
    return std::nullopt;
  };
  options.resolve = false;
  const absl::StatusOr<Plan> plan = ParsePlan(ExamplePlan(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(env_called);
  EXPECT_EQ(plan->target().resolved_payloads_size(), 0);
  EXPECT_TRUE(plan->target().resolved_bearer_token().empty());
}

// Without a JSON content type the payload is opaque bytes; with one (any case, with
// parameters) it must parse.
TEST(ParsePlanTest, JsonCheckFollowsContentTypeHeader) {
  const std::string opaque = absl::StrReplaceAll(
      ExamplePlan(), {{R"("Content-Type": "application/json")", R"("Content-Type": "text/plain")"},
                      {R"("payload.json")", R"("not_json.txt")"}});
  const absl::StatusOr<Plan> plan = ParsePlan(opaque, DataDirOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->target().resolved_payloads(0), ReadBytes(kDataDir / "not_json.txt"));

  const std::string json =
      absl::StrReplaceAll(ExamplePlan(), {{R"("Content-Type": "application/json")",
                                           R"("content-TYPE": "Application/JSON; charset=utf-8")"},
                                          {R"("payload.json")", R"("not_json.txt")"}});
  EXPECT_THAT(ParsePlan(json, DataDirOptions()).status().message(), HasSubstr("is not valid JSON"));
}

// ---------------------------------------------------------------------------------------------
// The table of bad plans: each case edits the example plan and names the expected message.

struct BadPlanCase {
  std::string name;
  std::string find;     // text in the example plan, replaced once; empty: replace everything
  std::string replace;  // replacement text
  std::string expected_message_part;
};

std::vector<BadPlanCase> BadPlanCases() {
  const std::string data = kDataDir.lexically_normal().string();
  return {
      // The JSON walk: unknown fields, types, numbers, durations, loader-filled fields.
      {"unknown top-level field", R"("name": "smoke")", R"("nmae": "smoke")",
       R"(nmae: unknown field (did you mean "name"?))"},
      {"unknown nested field", R"({"concurrency": 8,)", R"({"concurency": 8,)",
       R"(stages[1].concurency: unknown field (did you mean "concurrency"?))"},
      {"unknown field far from any", R"("timeout": "5s")", R"("timeout": "5s", "colour": 1)",
       "target.colour: unknown field (expected one of: url, method, headers,"},
      {"truncated field name", R"("p99Ms": 250)", R"("p99": 250)",
       R"(thresholds.p99: unknown field (did you mean "p99Ms"?))"},
      // JSON syntax (json_reader_test has every kind): line and column, and a short excerpt.
      {"not JSON", "", "name: smoke", "1:1: expected a value, got 'name: smoke'"},
      {"truncated JSON", "", R"({"name": "smoke", "stages": [)",
       "1:30: the input ends inside the array opened at 1:29 (expected a value)"},
      {"missing colon", R"("name": "smoke")", R"("name" "smoke")",
       R"(2:10: expected ':' after the key, got '"smoke",')"},
      {"trailing comma", R"("errorRate": 0.01})", R"("errorRate": 0.01,})",
       "12:50: expected a key in double quotes, got '}' (JSON allows no comma before"},
      {"duplicate key", R"("method": "POST")", R"("method": "POST", "method": "GET")",
       "4:61: target.method: duplicate key"},
      {"duplicate header", R"("application/json"})",
       R"("application/json", "Content-Type": "text/plain"})",
       R"(5:53: target.headers["Content-Type"]: duplicate key)"},
      {"top level is an array", "", "[]", "plan: must be a JSON object, got array"},
      {"target is a string", kTargetBlock, R"("target": "http://127.0.0.1:8080/score",)",
       "target: expected an object, got string"},
      {"stages not an array", kStagesBlock, R"("stages": {"concurrency": 1, "requests": 2},)",
       "stages: expected an array, got object"},
      {"null stage", R"("stages": [)", R"("stages": [null, )", "stages[0]: must not be null"},
      {"string for concurrency", R"("concurrency": 1,)", R"("concurrency": "1",)",
       "stages[0].concurrency: expected an integer, got string"},
      {"fractional concurrency", R"("concurrency": 1,)", R"("concurrency": 1.5,)",
       "stages[0].concurrency: must be an integer, got 1.5"},
      {"concurrency beyond int32", R"("concurrency": 1,)", R"("concurrency": 3000000000,)",
       "stages[0].concurrency: 3000000000 is out of range"},
      {"boolean for a string", R"("method": "POST")", R"("method": true)",
       "target.method: expected a string, got boolean"},
      {"string for a bool", R"("timeout": "5s")", R"("timeout": "5s", "insecure": "yes")",
       "target.insecure: expected true or false, got string"},
      {"number for a header value", R"("application/json"})", R"("application/json", "X-N": 3})",
       R"(target.headers["X-N"]: expected a string, got number)"},
      {"bad duration string", R"("timeout": "5s")", R"("timeout": "5 sec")",
       R"(target.timeout: expected a duration string like "5s" or "250ms", got "5 sec")"},
      {"number for a duration", R"("timeout": "5s")", R"("timeout": 5)",
       R"(target.timeout: expected a duration string like "5s" or "250ms", got number)"},
      {"negative duration", R"({"concurrency": 8, "duration": "10s"})",
       R"({"concurrency": 8, "duration": "-10s"})",
       "stages[1].duration: must not be negative, got -10s"},
      {"same field under both names", R"("payloadFile": "payload.json",)",
       R"("payloadFile": "payload.json", "payload_file": "other.json",)",
       R"(target.payloadFile: given twice (as "payloadFile" and "payload_file"))"},
      {"loader-filled token in plan", R"("timeout": "5s")",
       R"("timeout": "5s", "resolvedBearerToken": "sk-x")",
       "target.resolvedBearerToken: is filled in by the loader and must not be written in a plan"},
      {"loader-filled payloads in plan", R"("timeout": "5s")",
       R"("timeout": "5s", "resolvedPayloads": ["aGk="])",
       "target.resolvedPayloads: is filled in by the loader and must not be written in a plan"},

      // Target rules.
      {"missing target", kTargetBlock, "", "target: missing"},
      {"empty url", R"("http://127.0.0.1:8080/score")", R"("")", "target.url: missing"},
      {"ftp url", "http://127.0.0.1:8080/score", "ftp://127.0.0.1/score",
       R"(target.url: scheme "ftp" is not supported (use http or https))"},
      {"url without host", "http://127.0.0.1:8080/score", "http:///score",
       R"(target.url: no host in "http:///score")"},
      {"url without scheme", "http://127.0.0.1:8080/score", "127.0.0.1:8080/score",
       R"(target.url: "127.0.0.1:8080/score" is not an absolute URL)"},
      {"url with credentials", "http://127.0.0.1", "http://user:pw@127.0.0.1",
       "target.url: credentials in the URL are not allowed"},
      {"url with bad port", "127.0.0.1:8080", "127.0.0.1:99999",
       R"(target.url: port "99999" is not a number in [1, 65535])"},
      {"bad method", R"("method": "POST")", R"("method": "FETCH")",
       R"(target.method: "FETCH" is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"},
      {"authorization header", R"("application/json"})",
       R"("application/json", "authorization": "Bearer sk-x"})",
       R"(target.headers["authorization"]: secrets must not be written in plans; put the key in )"
       "an environment variable and name it in target.bearerTokenEnv"},
      {"header name with a space", R"("application/json"})",
       R"("application/json", "X Trace": "1"})",
       R"(target.headers["X Trace"]: header names may not contain spaces)"},
      {"header value with CRLF", R"("application/json"})",
       R"("application/json", "X-Trace": "a\r\nInjected: 1"})",
       R"(target.headers["X-Trace"]: value contains CR, LF or NUL)"},
      {"payloadFile and payloadFiles", R"("payloadFile": "payload.json",)",
       R"("payloadFile": "payload.json", "payloadFiles": ["payload.json"],)",
       "target: give either payloadFile or payloadFiles, not both"},
      {"timeout zero", R"("timeout": "5s")", R"("timeout": "0s")",
       "target.timeout: must be in (0s, 1h], got 0s"},
      {"timeout two hours", R"("timeout": "5s")", R"("timeout": "2h")",
       "target.timeout: must be in (0s, 1h], got 2h"},
      {"bad httpVersion", R"("timeout": "5s")", R"("timeout": "5s", "httpVersion": "3")",
       R"(target.httpVersion: "3" is not supported (use "1.1" or "2"))"},
      {"bad env var name", R"("SCORING_KEY")", R"("SCORING-KEY")",
       R"(target.bearerTokenEnv: "SCORING-KEY" is not an environment variable name)"},

      // Stage rules.
      {"empty stages", kStagesBlock, R"(  "stages": [],)",
       "stages: at least one stage is required"},
      {"zero concurrency", R"("concurrency": 1,)", R"("concurrency": 0,)",
       "stages[0].concurrency: must be in [1, 100000], got 0"},
      {"negative concurrency", R"("concurrency": 1,)", R"("concurrency": -4,)",
       "stages[0].concurrency: must be in [1, 100000], got -4"},
      {"too much concurrency", R"("concurrency": 8,)", R"("concurrency": 100001,)",
       "stages[1].concurrency: must be in [1, 100000], got 100001"},
      {"negative rate", R"("rate": 500)", R"("rate": -5)",
       "stages[2].rate: must be in (0, 10000000] requests/s, got -5"},
      {"neither concurrency nor rate", R"({"rate": 500, )", "{",
       "stages[2]: give either concurrency (closed model) or rate (open model)"},
      {"both concurrency and rate", R"({"concurrency": 8,)", R"({"concurrency": 8, "rate": 5,)",
       "stages[1]: give either concurrency (closed model) or rate (open model), not both"},
      {"neither requests nor duration", R"({"concurrency": 1, "requests": 200})",
       R"({"concurrency": 1})", "stages[0]: give either requests or duration"},
      {"both requests and duration", R"("requests": 200)", R"("requests": 200, "duration": "1s")",
       "stages[0]: give either requests or duration, not both"},
      {"zero requests", R"("requests": 200)", R"("requests": 0)",
       "stages[0].requests: must be > 0, got 0"},
      {"stage duration too long", R"({"concurrency": 8, "duration": "10s"})",
       R"({"concurrency": 8, "duration": "25h"})",
       "stages[1].duration: must be in (0s, 24h], got 25h"},
      {"rampTo with requests", R"("requests": 200)", R"("requests": 200, "rampTo": 4)",
       "stages[0].rampTo: a ramp needs a duration, not a request count"},
      {"fractional rampTo on closed stage", R"("duration": "10s"})",
       R"("duration": "10s", "rampTo": 2.5})",
       "stages[1].rampTo: is a concurrency on a closed stage: must be an integer"},
      {"negative rampTo", R"("rampTo": 1000)", R"("rampTo": -1)",
       "stages[2].rampTo: must be > 0, got -1"},
      {"bad arrival", R"("rampTo": 1000)", R"("rampTo": 1000, "arrival": "burst")",
       R"(stages[2].arrival: "burst" is not one of constant, poisson)"},
      {"arrival on closed stage", R"("duration": "10s"})",
       R"("duration": "10s", "arrival": "poisson"})",
       "stages[1].arrival: only open (rate) stages have an arrival process"},
      {"thinkTime on open stage", R"("rampTo": 1000)", R"("rampTo": 1000, "thinkTime": "1s")",
       "stages[2].thinkTime: only closed (concurrency) stages have a think time"},
      {"maxInFlight on closed stage", R"("duration": "10s"})",
       R"("duration": "10s", "maxInFlight": 10})",
       "stages[1].maxInFlight: only open (rate) stages have a cap on requests in flight"},
      {"zero maxInFlight", R"("rampTo": 1000)", R"("rampTo": 1000, "maxInFlight": 0)",
       "stages[2].maxInFlight: must be > 0, got 0"},

      // Agents, thresholds, saturation.
      {"negative agent count", R"("count": 3)", R"("count": -1)",
       "agents.count: must be >= 0, got -1"},
      {"bad agents.split", R"("count": 3,)", R"("count": 3, "split": "everywhere",)",
       R"(agents.split: "everywhere" is not one of perAgent, cluster)"},
      {"empty region", R"("eastus")", R"("")", "agents.regions[0]: empty region name"},
      {"empty label key", R"("count": 3,)", R"("count": 3, "labels": {"": "x"},)",
       "agents.labels: empty label key"},
      {"errorRate above one", R"("errorRate": 0.01)", R"("errorRate": 2)",
       "thresholds.errorRate: must be in [0, 1], got 2"},
      {"zero p99", R"("p99Ms": 250)", R"("p99Ms": 0)", "thresholds.p99Ms: must be > 0 ms, got 0"},
      {"saturation stepFactor one", R"(  "thresholds")",
       R"(  "saturation": {"stepFactor": 1}, "thresholds")",
       "saturation.stepFactor: must be > 1, got 1"},
      {"saturation maxLoad below startLoad", R"(  "thresholds")",
       R"(  "saturation": {"startLoad": 10, "maxLoad": 5}, "thresholds")",
       "saturation.maxLoad: must be >= startLoad (10), got 5"},
      {"saturation repeats", R"(  "thresholds")",
       R"(  "saturation": {"repeats": 21}, "thresholds")",
       "saturation.repeats: must be in [1, 20], got 21"},
      {"saturation operatingFraction", R"(  "thresholds")",
       R"(  "saturation": {"operatingFraction": 1.5}, "thresholds")",
       "saturation.operatingFraction: must be in (0, 1], got 1.5"},
      {"saturation model", R"(  "thresholds")",
       R"(  "saturation": {"model": "mixed"}, "thresholds")",
       R"(saturation.model: "mixed" is not one of closed, open)"},

      // Resolution: payload files and the environment.
      {"payload file missing", R"("payload.json")", R"("missing.json")",
       absl::StrCat(R"(target.payloadFile: cannot read ")", data,
                    R"(/missing.json": No such file or directory)")},
      {"payload path is a directory", R"("payload.json")", R"("payloads")",
       absl::StrCat(R"(target.payloadFile: cannot read ")", data, R"(/payloads": Is a directory)")},
      {"payload not JSON with JSON content type", R"("payload.json")", R"("not_json.txt")",
       absl::StrCat(R"(target.payloadFile: ")", data,
                    R"(/not_json.txt" is not valid JSON: 1:1: expected a value, got 'inputs = )")},
      {"one of payloadFiles missing", R"("payloadFile": "payload.json")",
       R"("payloadFiles": ["payload.json", "gone.json"])",
       absl::StrCat(R"(target.payloadFiles[1]: cannot read ")", data, "/gone.json")},
      {"token env not set", R"("SCORING_KEY")", R"("UNSET_KEY")",
       "target.bearerTokenEnv: environment variable UNSET_KEY is not set"},
      {"token env empty", R"("SCORING_KEY")", R"("EMPTY_KEY")",
       "target.bearerTokenEnv: environment variable EMPTY_KEY is empty"},
      {"token with a line break", R"("SCORING_KEY")", R"("NEWLINE_KEY")",
       "target.bearerTokenEnv: environment variable NEWLINE_KEY holds whitespace or control"},
  };
}

// Replaces the one occurrence of `find` (all of `text` when `find` is empty).
std::optional<std::string> ApplyEdit(const std::string& text, const BadPlanCase& c) {
  if (c.find.empty()) return c.replace;
  const size_t at = text.find(c.find);
  if (at == std::string::npos || text.find(c.find, at + 1) != std::string::npos) {
    return std::nullopt;
  }
  std::string edited = text;
  edited.replace(at, c.find.size(), c.replace);
  return edited;
}

TEST(ParsePlanTest, RejectsBadPlansNamingTheField) {
  PlanLoadOptions options = DataDirOptions();
  options.env = FakeEnv(
      {{"SCORING_KEY", kToken}, {"EMPTY_KEY", ""}, {"NEWLINE_KEY", absl::StrCat(kToken, "\r\n")}});
  const std::vector<BadPlanCase> cases = BadPlanCases();
  ASSERT_GE(cases.size(), 30u);
  for (const BadPlanCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::optional<std::string> json = ApplyEdit(ExamplePlan(), c);
    ASSERT_TRUE(json.has_value()) << "the edit must match the example plan exactly once";
    const absl::StatusOr<Plan> plan = ParsePlan(*json, options);
    ASSERT_FALSE(plan.ok()) << *json;
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.expected_message_part));
    EXPECT_THAT(std::string(plan.status().message()), Not(HasSubstr(kToken)));
  }
}

TEST(ParsePlanTest, ReportsAllSemanticErrorsAtOnce) {
  const std::string json = R"({
    "target": {"url": "ftp://x/", "timeout": "2h"},
    "stages": [{"concurrency": 0, "requests": 1}]
  })";
  PlanLoadOptions options;
  options.resolve = false;
  const absl::Status status = ParsePlan(json, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("target.url: scheme \"ftp\""));
  EXPECT_THAT(std::string(status.message()), HasSubstr("target.timeout: must be in"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("stages[0].concurrency: must be in"));
}

TEST(ParsePlanTest, RejectsPayloadOver64MiB) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path big = dir.path() / "big.bin";
  WriteBytes(big, "");
  fs::resize_file(big, (64u << 20) + 1);  // sparse: costs no disk
  const std::string json = absl::StrReplaceAll(
      ExamplePlan(), {{R"("payload.json")", absl::StrCat("\"", big.string(), "\"")}});
  const absl::Status status = ParsePlan(json, DataDirOptions()).status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("target.payloadFile: \"", big.string(),
                                     "\" is 67108865 bytes; the limit is 64 MiB")));
}

// ---------------------------------------------------------------------------------------------
// Hostile plans: refused in bounded time, with messages that quote a short excerpt at most.

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

PlanLoadOptions NoResolve() {
  PlanLoadOptions options;
  options.resolve = false;
  return options;
}

TEST(HostilePlanTest, DeepNestingIsRefusedFast) {
  // 200 KB: 100k nested arrays (protobuf's parser took 379 s on this).
  const std::string json =
      absl::StrCat(R"({"name": )", std::string(100000, '['), std::string(100000, ']'), "}");
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = ParsePlan(json, NoResolve()).status();
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_EQ(status.message(), "1:41: arrays and objects are nested more than 32 levels deep");
}

TEST(HostilePlanTest, HugeUnknownKeyIsRefusedFastWithAShortMessage) {
  // Just under the size limit, so that the key reaches the field check and its "did you mean".
  const std::string key(1'000'000, 'n');
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = ParsePlan(absl::StrCat("{\"", key, "\": 1}"), NoResolve()).status();
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_THAT(
      std::string(status.message()),
      HasSubstr(absl::StrCat(std::string(40, 'n'), "...: unknown field (expected one of: ")));
  EXPECT_LT(status.message().size(), 200u);
}

TEST(HostilePlanTest, PlanOverTheSizeLimitIsRefusedUnread) {
  // 10 MB: the unknown key that once cost 15 s and 1.6 GB.
  const std::string json = absl::StrCat("{\"", std::string(10'000'000, 'k'), "\": 1}");
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = ParsePlan(json, NoResolve()).status();
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_EQ(status.message(), "9.5 MiB is over the 1 MiB limit for a plan");
  // One byte over reads as such, not as "1.0 MiB is over the 1 MiB limit".
  EXPECT_EQ(ParsePlan(std::string((1 << 20) + 1, ' '), NoResolve()).status().message(),
            "1048577 bytes is over the 1 MiB limit for a plan");

  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path big = dir.path() / "plan.json";
  WriteBytes(big, "");
  fs::resize_file(big, 2'202'010);  // 2.1 MiB, sparse
  EXPECT_EQ(LoadPlan(big.string()).status().message(),
            absl::StrCat(big.string(), ": 2.1 MiB is over the 1 MiB limit for a plan"));
}

TEST(HostilePlanTest, LongValuesAreQuotedShort) {
  const std::string long_text(100'000, 'x');
  const struct {
    std::string find;
    std::string replace;
    std::string expected_start;
  } cases[] = {
      {R"("method": "POST")", absl::StrCat(R"("method": ")", long_text, "\""),
       absl::StrCat(R"(target.method: ")", std::string(40, 'x'), R"(..." is not one of )")},
      {R"("timeout": "5s")", absl::StrCat(R"("timeout": ")", long_text, "\""),
       absl::StrCat(R"(target.timeout: expected a duration string like "5s" or "250ms", got ")",
                    std::string(40, 'x'), R"(...")")},
      {R"("Content-Type": "application/json")",
       absl::StrCat(R"("Content-Type": "application/json", ")", long_text, R"(": 1)"),
       absl::StrCat(R"(target.headers[")", std::string(40, 'x'), R"(..."]: expected a string)")},
      {"http://127.0.0.1:8080/score", absl::StrCat(long_text, "://h/"),
       absl::StrCat(R"(target.url: scheme ")", std::string(40, 'x'), R"(..." is not supported)")},
      {R"("SCORING_KEY")", absl::StrCat("\"", long_text, "\""),
       absl::StrCat("target.bearerTokenEnv: environment variable ", std::string(40, 'x'),
                    "... is not set")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.expected_start);
    const std::string json = absl::StrReplaceAll(ExamplePlan(), {{c.find, c.replace}});
    ASSERT_NE(json, ExamplePlan());
    const absl::Status status = ParsePlan(json, DataDirOptions()).status();
    EXPECT_THAT(std::string(status.message()), ::testing::StartsWith(c.expected_start));
    EXPECT_LT(status.message().size(), 300u);
  }
}

TEST(HostilePlanTest, ManyMistakesAreListedUpToALimit) {
  std::string stages;
  for (int i = 0; i < 5000; ++i) {
    absl::StrAppend(&stages, i == 0 ? "" : ",", R"({"concurrency": 0, "requests": 1})");
  }
  const std::string json =
      absl::StrCat(R"({"target": {"url": "http://h/"}, "stages": [)", stages, "]}");
  const absl::Status status = ParsePlan(json, NoResolve()).status();
  EXPECT_THAT(std::string(status.message()),
              ::testing::StartsWith("stages[0].concurrency: must be in [1, 100000], got 0; "));
  EXPECT_THAT(std::string(status.message()), ::testing::EndsWith("; and 4980 more"));
  EXPECT_LT(status.message().size(), 2000u);
}

// A FIFO would block open() until a writer came; a device would never end.
TEST(HostilePlanTest, FifosAndDevicesAreRefusedWithoutBlocking) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(LoadPlan(fifo.string()).status().message(),
            absl::StrCat("plan: cannot read \"", fifo.string(), "\": not a regular file"));
  for (const std::string& payload : {fifo.string(), std::string("/dev/zero")}) {
    const std::string json = absl::StrReplaceAll(
        ExamplePlan(), {{R"("payload.json")", absl::StrCat("\"", payload, "\"")}});
    EXPECT_EQ(
        ParsePlan(json, DataDirOptions()).status().message(),
        absl::StrCat("target.payloadFile: cannot read \"", payload, "\": not a regular file"));
  }
}

TEST(HostilePlanTest, DeeplyNestedJsonPayloadIsRefusedFast) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path payload = dir.path() / "deep.json";
  WriteBytes(payload, absl::StrCat(std::string(1'000'000, '['), std::string(1'000'000, ']')));
  const std::string json = absl::StrReplaceAll(
      ExamplePlan(), {{R"("payload.json")", absl::StrCat("\"", payload.string(), "\"")}});
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = ParsePlan(json, DataDirOptions()).status();
  EXPECT_LT(SecondsSince(start), 1.0);
  EXPECT_EQ(status.message(),
            absl::StrCat("target.payloadFile: \"", payload.string(),
                         "\" is not valid JSON: 1:513: arrays and objects are nested more than "
                         "512 levels deep"));
}

TEST(LoadPlanTest, SyntaxErrorsNameFileLineAndColumn) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path plan_path = dir.path() / "plan.json";
  WriteBytes(plan_path, "{\n  \"name\": \"smoke\",\n  \"stages\" 1\n}\n");
  EXPECT_EQ(LoadPlan(plan_path.string()).status().message(),
            absl::StrCat(plan_path.string(), ":3:12: expected ':' after the key, got '1'"));
}

// ---------------------------------------------------------------------------------------------
// ValidatePlan on messages built in code (as the coordinator receives them over gRPC).

Plan MinimalPlan() {
  Plan plan;
  plan.mutable_target()->set_url("http://localhost:8080/");
  Stage* stage = plan.add_stages();
  stage->set_concurrency(1);
  stage->set_requests(1);
  return plan;
}

TEST(ValidatePlanTest, AcceptsMinimalPlan) { EXPECT_TRUE(ValidatePlan(MinimalPlan()).ok()); }

TEST(ValidatePlanTest, RejectsNonFiniteRateAndMalformedDuration) {
  Plan plan = MinimalPlan();
  Stage* stage = plan.mutable_stages(0);
  stage->clear_concurrency();
  stage->set_rate(std::nan(""));
  stage->clear_requests();
  stage->mutable_duration()->set_seconds(5);
  stage->mutable_duration()->set_nanos(-1);  // mixed signs: not a valid Duration
  const absl::Status status = ValidatePlan(plan);
  EXPECT_THAT(std::string(status.message()), HasSubstr("stages[0].rate: must be in (0, "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("stages[0].duration: not a valid duration (seconds=5, nanos=-1)"));
}

TEST(ValidatePlanTest, AcceptsResolvedFieldsFromTheLoader) {
  Plan plan = MinimalPlan();
  plan.mutable_target()->set_resolved_bearer_token("sk-x");
  plan.mutable_target()->add_resolved_payloads("{}");
  EXPECT_TRUE(ValidatePlan(plan).ok());
}

// ---------------------------------------------------------------------------------------------
// LoadPlan: files and folders.

TEST(LoadPlanTest, MissingPlanFileNamesTheFile) {
  const absl::Status status = LoadPlan("/nonexistent-stampede-dir/plan.json").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(R"(plan: cannot read "/nonexistent-stampede-dir/plan.json": )"
                        "No such file or directory"));
}

TEST(LoadPlanTest, ErrorsNameThePlanFile) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  const fs::path plan_path = dir.path() / "bad.json";
  WriteBytes(plan_path, R"({"target": {"url": "http://h/"}, "stages": []})");
  const absl::Status status = LoadPlan(plan_path.string()).status();
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat(plan_path.string(), ": stages: at least one stage")));
}

// The payload path is relative to the plan's folder, not to the working directory, also when
// the plan itself is given by a relative path.
TEST(LoadPlanTest, ResolvesPayloadAgainstThePlanFolder) {
  ScopedTempDir dir("plan_loader");
  ASSERT_FALSE(dir.path().empty());
  fs::create_directories(dir.path() / "plans/bodies");
  fs::create_directories(dir.path() / "elsewhere");
  WriteBytes(dir.path() / "plans/bodies/body.json", R"({"inputs": [[42]]})");
  WriteBytes(dir.path() / "plans/plan.json", R"({
    "target": {"url": "http://127.0.0.1:9/", "payloadFile": "bodies/body.json",
               "headers": {"Content-Type": "application/json"}},
    "stages": [{"concurrency": 1, "requests": 1}]
  })");
  ScopedCwd cwd(dir.path() / "elsewhere");
  for (const std::string& path :
       {(dir.path() / "plans/plan.json").string(), std::string("../plans/plan.json")}) {
    SCOPED_TRACE(path);
    const absl::StatusOr<Plan> plan = LoadPlan(path, PlanLoadOptions{});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->target().payload_file(), "bodies/body.json");
    ASSERT_EQ(plan->target().resolved_payloads_size(), 1);
    EXPECT_EQ(plan->target().resolved_payloads(0), R"({"inputs": [[42]]})");
  }
}

TEST(LoadPlanTest, ExampleSmokePlanLoads) {
  PlanLoadOptions options;
  options.env = FakeEnv({{"SCORING_KEY", kToken}});
  const absl::StatusOr<Plan> plan = LoadPlan((kRepoDir / "examples/smoke.json").string(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->name(), "smoke");
  EXPECT_EQ(plan->target().url(), "http://127.0.0.1:8080/score");
  EXPECT_EQ(plan->target().bearer_token_env(), "SCORING_KEY");
  EXPECT_EQ(plan->target().resolved_bearer_token(), kToken);
  ASSERT_EQ(plan->target().resolved_payloads_size(), 1);
  EXPECT_EQ(plan->target().resolved_payloads(0), ReadBytes(kRepoDir / "examples/payload.json"));
  EXPECT_THAT(plan->target().resolved_payloads(0), HasSubstr(R"("inputs")"));
  EXPECT_EQ(plan->stages_size(), 3);
}

// ---------------------------------------------------------------------------------------------
// Summary and helpers.

TEST(PlanSummaryTest, DescribesTheExamplePlanOnOneLine) {
  PlanLoadOptions options;
  options.resolve = false;
  const absl::StatusOr<Plan> plan = ParsePlan(ExamplePlan(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(PlanSummary(*plan),
            "smoke: POST http://127.0.0.1:8080/score, 3 stages (closed c=1 x200 req, closed c=8 "
            "for 10s, open 500→1000/s for 10s), agents: 3 in eastus,westeurope,southeastasia, "
            "thresholds p99<250ms err<1%");
}

TEST(PlanSummaryTest, DescribesDefaultsAndOptionalParts) {
  const absl::StatusOr<Plan> plan =
      LoadPlan((kDataDir / "round_robin.json").string(), DataDirOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(PlanSummary(*plan),
            "round-robin: POST https://scoring.example.com:8443/v1/score, 2 stages (closed c=2 "
            "for 1m30s, open 50/s poisson for 1.5s), agents: all with pool=gpu (cluster split)");
}

TEST(HelpersTest, DurationToNs) {
  google::protobuf::Duration d;
  d.set_seconds(2);
  d.set_nanos(500);
  EXPECT_EQ(DurationToNs(d), 2'000'000'500);
  d.set_seconds(-1);
  d.set_nanos(-250'000'000);
  EXPECT_EQ(DurationToNs(d), -1'250'000'000);
}

TEST(HelpersTest, ProcessEnvReadsTheRealEnvironment) {
  ASSERT_EQ(setenv("STAMPEDE_PLAN_LOADER_TEST_VAR", "value 1", 1), 0);
  EXPECT_EQ(ProcessEnv()("STAMPEDE_PLAN_LOADER_TEST_VAR"), "value 1");
  ASSERT_EQ(unsetenv("STAMPEDE_PLAN_LOADER_TEST_VAR"), 0);
  EXPECT_EQ(ProcessEnv()("STAMPEDE_PLAN_LOADER_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace stampede
