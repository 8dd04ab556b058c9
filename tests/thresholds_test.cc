// The plan's thresholds judged in one place (common/thresholds.h): each check with its measured
// value, failing only when exceeded, and not judged at all without requests.
#include "common/thresholds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace stampede {
namespace {

using ::testing::ElementsAre;

Histogram OneToHundredMs() {
  Histogram h;
  for (int i = 1; i <= 100; ++i) h.Record(i * 1000);
  return h;
}

TEST(Thresholds, FailOnlyWhenExceeded) {
  const Histogram latency = OneToHundredMs();
  Thresholds th;
  th.set_p99_ms(150);
  th.set_error_rate(0.05);
  auto checks = CheckThresholds(th, 100, 2, latency);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_TRUE(checks[0].passed);
  EXPECT_EQ(checks[0].metric, "p99");
  EXPECT_NEAR(checks[0].measured, 99, 0.1);
  EXPECT_TRUE(ThresholdFailures(checks).empty());

  th.set_p99_ms(50);
  th.set_error_rate(0.01);
  checks = CheckThresholds(th, 100, 2, latency);
  EXPECT_FALSE(checks[0].passed);
  EXPECT_FALSE(checks[1].passed);
  EXPECT_NEAR(checks[1].measured, 0.02, 1e-12);
  EXPECT_THAT(ThresholdFailures(checks),
              ElementsAre(::testing::StartsWith("p99 9"), "error rate 0.0200 > 0.01"));
}

TEST(Thresholds, EveryPercentileInOrderAndAtTheLimitPasses) {
  const Histogram latency = OneToHundredMs();
  Thresholds th;
  th.set_error_rate(0);
  th.set_p90_ms(500);
  th.set_p50_ms(500);
  const auto checks = CheckThresholds(th, 100, 0, latency);
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[0].metric, "p50");
  EXPECT_EQ(checks[1].metric, "p90");
  EXPECT_EQ(checks[2].metric, "error rate");
  EXPECT_TRUE(checks[2].passed) << "0 errors is within an error-rate limit of 0";
}

TEST(Thresholds, NothingToJudgeWithoutRequests) {
  Thresholds th;
  th.set_p99_ms(1);
  th.set_error_rate(0);
  const auto checks = CheckThresholds(th, 0, 0, Histogram());
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_FALSE(checks[0].evaluated);
  EXPECT_FALSE(checks[1].evaluated);
  EXPECT_TRUE(ThresholdFailures(checks).empty());
}

TEST(Thresholds, NoneSetNoChecks) {
  EXPECT_TRUE(CheckThresholds(Thresholds(), 10, 10, OneToHundredMs()).empty());
}

}  // namespace
}  // namespace stampede
