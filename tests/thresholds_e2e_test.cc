// abortOnFail with real processes: `stampede run` against a stampede-target that takes 300 ms per
// request, with a p99 limit of 100 ms watched over the last 2 s. The coordinator aborts the run
// long before its 60 s are up, and the report says why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::BinPath;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using testing::RunCommand;
using testing::ServerRequests;

std::string WriteWatchedPlan(const std::filesystem::path& dir, int target_port) {
  std::ofstream(dir / "payload.json") << "{\"inputs\": [[1, 2, 3]]}";
  const std::string path = (dir / "plan.json").string();
  std::ofstream(path) << absl::StrCat(R"({"name": "watched", "target": {"url": "http://127.0.0.1:)",
                                      target_port,
                                      R"(/score", "payloadFile": "payload.json"},
         "agents": {"count": 1},
         "stages": [{"rate": 20, "duration": "60s"}],
         "thresholds": {"p99Ms": 100, "abortOnFail": true, "abortWindow": "2s"}})");
  return path;
}

TEST(ThresholdsE2e, AbortOnFailEndsASlowRunEarlyWithTheReason) {
  const auto dir = testing::UniqueTestDir("stampede-thresholds");
  int target_port = 0;
  auto target = testing::StartTarget(
      {"--replicas", "2", "--concurrency", "16", "--queue", "64", "--service-ms", "300"},
      &target_port);
  ASSERT_TRUE(target.ok()) << target.status();
  const std::string plan = WriteWatchedPlan(dir, target_port);

  const auto began = std::chrono::steady_clock::now();
  auto run = RunCommand({BinPath("stampede"), "run", plan, "--local-agents", "1", "--db",
                         (dir / "stampede.db").string()},
                        {"STAMPEDE_COORDINATOR="});
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->exit_code, 0) << run->output;
  // Judged once 2 s (plus the second still filling) have gone by: well under the 60 s planned.
  EXPECT_LT(took, std::chrono::seconds(25)) << run->output;
  EXPECT_THAT(run->output, HasSubstr("aborted")) << run->output;
  EXPECT_THAT(run->output, ContainsRegex("aborted: p99 [0-9.]+ms > 100ms over the last 2s"))
      << run->output;
  // The limit is also printed beside its measured value for the whole run.
  EXPECT_THAT(run->output, ContainsRegex("p99 +[0-9.]+ ms +> +100.000 ms +FAILED")) << run->output;
  // Accounting: the service saw what the report counts, far fewer than 60 s x 20 req/s.
  const int64_t served = ServerRequests(target_port);
  EXPECT_GT(served, 0);
  EXPECT_LT(served, 600);
}

}  // namespace
}  // namespace stampede
