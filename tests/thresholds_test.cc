// The plan's thresholds judged in one place (common/thresholds.h): each check with its measured
// value, failing only when exceeded, and not judged at all without requests.
#include "common/thresholds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/plan_json.h"
#include "common/plan_loader.h"
#include "report/report_format.h"

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

TEST(Thresholds, NewPercentilesAndTheGeneralFormInPercentileOrder) {
  const Histogram latency = OneToHundredMs();
  Thresholds th;
  th.set_p999_ms(99.5);  // measured ~100: fails
  th.set_p95_ms(96);     // measured ~95: passes
  (*th.mutable_latency())["p99.99"] = 200;
  (*th.mutable_latency())["p75"] = 70;  // measured ~75: fails
  const auto checks = CheckThresholds(th, 100, 0, latency);
  ASSERT_EQ(checks.size(), 4u);
  EXPECT_EQ(checks[0].metric, "p95");
  EXPECT_TRUE(checks[0].passed);
  EXPECT_NEAR(checks[0].measured, 95, 0.1);
  EXPECT_EQ(checks[1].metric, "p99.9");
  EXPECT_FALSE(checks[1].passed);
  EXPECT_EQ(checks[2].metric, "p75");
  EXPECT_NEAR(checks[2].measured, 75, 0.1);
  EXPECT_FALSE(checks[2].passed);
  EXPECT_EQ(checks[3].metric, "p99.99");
  EXPECT_TRUE(checks[3].passed);
  EXPECT_THAT(ThresholdFailures(checks),
              ElementsAre(::testing::StartsWith("p99.9 100.0"), ::testing::StartsWith("p75 7")));
}

TEST(Thresholds, PercentileKeys) {
  EXPECT_EQ(PercentileOfKey("p95"), 95);
  EXPECT_EQ(PercentileOfKey("p99.9"), 99.9);
  EXPECT_EQ(PercentileOfKey("p999"), 99.9);
  EXPECT_EQ(PercentileOfKey("p9999"), 99.99);
  EXPECT_EQ(PercentileOfKey("p100"), 100);
  EXPECT_EQ(PercentileOfKey("p0"), std::nullopt);
  EXPECT_EQ(PercentileOfKey("p"), std::nullopt);
  EXPECT_EQ(PercentileOfKey("95"), std::nullopt);
  EXPECT_EQ(PercentileOfKey("p1e9"), std::nullopt);
  EXPECT_EQ(PercentileOfKey("pnan"), std::nullopt);
  EXPECT_EQ(PercentileOfKey("p-5"), std::nullopt);
}

TEST(Thresholds, MaxAndMean) {
  const Histogram latency = OneToHundredMs();  // mean 50.5 ms, max 100 ms
  Thresholds th;
  th.set_max_ms(90);
  th.set_mean_ms(60);
  const auto checks = CheckThresholds(th, 100, 0, latency);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].metric, "max");
  EXPECT_NEAR(checks[0].measured, 100, 0.1);
  EXPECT_FALSE(checks[0].passed);
  EXPECT_EQ(checks[1].metric, "mean");
  EXPECT_NEAR(checks[1].measured, 50.5, 0.1);
  EXPECT_TRUE(checks[1].passed);
  EXPECT_THAT(ThresholdFailures(checks), ElementsAre(::testing::StartsWith("max 100.0")));
}

TEST(Thresholds, MinThroughputCountsSuccessesPerSecondAndIsAFloor) {
  Thresholds th;
  th.set_min_throughput_rps(45);
  // 100 requests, 10 of them errors, over 2 s: 45 successful per second, exactly the floor.
  MeasuredSlice all{100, 10, OneToHundredMs(), 2.0};
  auto checks = CheckThresholds(th, all, {});
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].metric, "throughput");
  EXPECT_EQ(checks[0].unit, "rps");
  EXPECT_TRUE(checks[0].minimum);
  EXPECT_DOUBLE_EQ(checks[0].measured, 45);
  EXPECT_TRUE(checks[0].passed);
  EXPECT_EQ(checks[0].Relation(), ">=");

  all.errors = 11;  // 44.5/s
  checks = CheckThresholds(th, all, {});
  EXPECT_FALSE(checks[0].passed);
  EXPECT_EQ(checks[0].Relation(), "<");
  EXPECT_THAT(ThresholdFailures(checks), ElementsAre("throughput 44.5rps < 45rps"));

  // Requests Stampede cut off itself are not successes either.
  all.errors = 10;
  all.aborted = 10;  // 80 successes over 2 s
  checks = CheckThresholds(th, all, {});
  EXPECT_DOUBLE_EQ(checks[0].measured, 40);

  // Without a span (the old overload) it is not judged.
  checks = CheckThresholds(th, 100, 0, OneToHundredMs());
  EXPECT_FALSE(checks[0].evaluated);
}

TEST(Thresholds, MaxErrorRateAndItsOlderNameErrorRate) {
  Thresholds th;
  th.set_max_error_rate(0.01);
  auto checks = CheckThresholds(th, 100, 2, OneToHundredMs());
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].metric, "error rate");
  EXPECT_THAT(ThresholdFailures(checks), ElementsAre("error rate 0.0200 > 0.01"));
  Thresholds old;
  old.set_error_rate(0.01);
  EXPECT_THAT(ThresholdFailures(CheckThresholds(old, 100, 2, OneToHundredMs())),
              ElementsAre("error rate 0.0200 > 0.01"));
}

TEST(Thresholds, PerRegionJudgesEachRegionBesideTheWholeRun) {
  Histogram fast;
  Histogram slow;
  for (int i = 1; i <= 100; ++i) {
    fast.Record(i * 1000);            // 1..100 ms
    slow.Record(200'000 + i * 1000);  // 201..300 ms
  }
  Histogram merged = fast;
  merged.Merge(slow);
  Thresholds th;
  th.set_p99_ms(250);
  th.set_max_error_rate(0.05);
  th.set_min_throughput_rps(1);
  th.set_per_region(true);
  const MeasuredSlice all{200, 0, merged, 10};
  const std::map<std::string, MeasuredSlice> regions{{"eastus", {100, 0, fast, 10}},
                                                     {"westeurope", {100, 0, slow, 10}}};
  const auto checks = CheckThresholds(th, all, regions);
  std::vector<std::string> metrics;
  for (const ThresholdCheck& c : checks) metrics.push_back(c.metric);
  // Throughput is run-wide only.
  EXPECT_THAT(metrics,
              ElementsAre("p99", "throughput", "error rate", "p99 in eastus",
                          "error rate in eastus", "p99 in westeurope", "error rate in westeurope"));
  EXPECT_THAT(
      ThresholdFailures(checks),
      ElementsAre(::testing::StartsWith("p99 29"), ::testing::StartsWith("p99 in westeurope 29")));
  th.set_per_region(false);
  EXPECT_EQ(CheckThresholds(th, all, regions).size(), 3u);
}

TEST(Thresholds, FromAReportUsesTotalsSpanAndRegions) {
  RunReport report;
  Histogram h = OneToHundredMs();
  Aggregate* totals = report.mutable_totals();
  totals->set_requests(100);
  totals->set_errors(0);
  *totals->mutable_latency() = h.ToProto();
  totals->set_first_start_ns(1'000'000'000);
  totals->set_last_end_ns(3'000'000'000);  // 2 s: 50/s
  (*report.mutable_by_region())["eastus"] = *totals;
  Thresholds th;
  th.set_min_throughput_rps(60);
  th.set_p50_ms(10);
  th.set_per_region(true);
  const auto checks = CheckThresholds(th, report);
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[1].metric, "throughput");
  EXPECT_DOUBLE_EQ(checks[1].measured, 50);
  EXPECT_EQ(checks[2].metric, "p50 in eastus");
  EXPECT_FALSE(checks[2].passed);
}

TEST(Thresholds, AbortWindowDefaultsToTenSeconds) {
  Thresholds th;
  EXPECT_EQ(AbortWindowSeconds(th), 10);
  th.mutable_abort_window()->set_seconds(3);
  EXPECT_EQ(AbortWindowSeconds(th), 3);
  th.mutable_abort_window()->set_nanos(1);
  EXPECT_EQ(AbortWindowSeconds(th), 4);  // whole seconds of the timeline, rounded up
}

// ---- Printed: each limit beside its measured value, floors with their own relation. ----

TEST(ThresholdsReport, TextAndJsonShowEveryKind) {
  RunReport report;
  report.set_run_id("r");
  Aggregate* totals = report.mutable_totals();
  totals->set_requests(100);
  *totals->mutable_latency() = OneToHundredMs().ToProto();
  totals->set_first_start_ns(1'000'000'000);
  totals->set_last_end_ns(3'000'000'000);  // 50 req/s
  (*report.mutable_by_region())["westeurope"] = *totals;
  Thresholds* th = report.mutable_plan()->mutable_thresholds();
  th->set_p95_ms(90);
  th->set_max_ms(200);
  th->set_min_throughput_rps(60);
  th->set_per_region(true);
  const std::string text = FormatReportText(report);
  EXPECT_THAT(text, ::testing::ContainsRegex("p95 +95\\.[0-9]+ ms +> +90\\.000 ms +FAILED"));
  EXPECT_THAT(text, ::testing::ContainsRegex("max +100\\.[0-9]+ ms +<= +200\\.000 ms +ok"));
  EXPECT_THAT(text, ::testing::ContainsRegex("throughput +50\\.0 req/s +< +60\\.0 req/s +FAILED"));
  EXPECT_THAT(text, ::testing::ContainsRegex("p95 in westeurope +95\\.[0-9]+ ms +> +90"));
  const std::string json = FormatReportJson(report);
  EXPECT_THAT(json,
              ::testing::HasSubstr(R"("metric": "throughput", "unit": "rps", "bound": "min")"));
}

// ---- Thresholds as a plan writes them, and the errors that name the field. ----

absl::StatusOr<Plan> PlanWithThresholds(const std::string& thresholds_json) {
  absl::StatusOr<Plan> plan =
      PlanFromJson(absl::StrCat(R"({"target": {"url": "http://127.0.0.1:8080/"},
                     "stages": [{"concurrency": 1, "requests": 1}],
                     "thresholds": )",
                                thresholds_json, "}"));
  if (!plan.ok()) return plan.status();
  if (absl::Status s = ValidatePlan(*plan); !s.ok()) return s;
  return plan;
}

TEST(ThresholdsPlan, EveryKindParses) {
  absl::StatusOr<Plan> plan = PlanWithThresholds(R"({
      "p95Ms": 120, "p999Ms": 800, "latency": {"p75": 90, "p99.99": 900},
      "maxMs": 2000, "meanMs": 60, "minThroughputRps": 100, "maxErrorRate": 0.01,
      "perRegion": true, "abortOnFail": true, "abortWindow": "5s"})");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Thresholds& t = plan->thresholds();
  EXPECT_EQ(t.p95_ms(), 120);
  EXPECT_EQ(t.p999_ms(), 800);
  EXPECT_EQ(t.latency().at("p75"), 90);
  EXPECT_EQ(t.max_ms(), 2000);
  EXPECT_EQ(t.mean_ms(), 60);
  EXPECT_EQ(t.min_throughput_rps(), 100);
  EXPECT_EQ(t.max_error_rate(), 0.01);
  EXPECT_TRUE(t.per_region());
  EXPECT_TRUE(t.abort_on_fail());
  EXPECT_EQ(AbortWindowSeconds(t), 5);
  EXPECT_TRUE(PlanWithThresholds(R"({"errorRate": 0.05})").ok()) << "the older name still works";
}

TEST(ThresholdsPlan, ErrorsNameTheField) {
  auto error = [](const std::string& json) {
    absl::StatusOr<Plan> plan = PlanWithThresholds(json);
    return plan.ok() ? std::string("(accepted)") : std::string(plan.status().message());
  };
  EXPECT_THAT(error(R"({"latency": {"q95": 10}})"),
              ::testing::HasSubstr("thresholds.latency.q95: not a percentile"));
  EXPECT_THAT(error(R"({"latency": {"p95": -1}})"),
              ::testing::HasSubstr("thresholds.latency.p95: must be > 0"));
  EXPECT_THAT(error(R"({"maxMs": 0})"), ::testing::HasSubstr("thresholds.maxMs: must be > 0"));
  EXPECT_THAT(error(R"({"p999Ms": 0})"), ::testing::HasSubstr("thresholds.p999Ms"));
  EXPECT_THAT(error(R"({"minThroughputRps": -3})"),
              ::testing::HasSubstr("thresholds.minThroughputRps"));
  EXPECT_THAT(error(R"({"maxErrorRate": 1.5})"),
              ::testing::HasSubstr("thresholds.maxErrorRate: must be in [0, 1]"));
  EXPECT_THAT(error(R"({"maxErrorRate": 0.1, "errorRate": 0.1})"),
              ::testing::HasSubstr("thresholds.errorRate: is the older name of maxErrorRate"));
  EXPECT_THAT(error(R"({"abortOnFail": true})"),
              ::testing::HasSubstr("thresholds.abortOnFail: needs at least one limit"));
  EXPECT_THAT(error(R"({"p99Ms": 5, "abortWindow": "5s"})"),
              ::testing::HasSubstr("thresholds.abortWindow: needs abortOnFail"));
}

}  // namespace
}  // namespace stampede
