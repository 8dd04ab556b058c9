// The saturation search (saturate/search.h) against a fake service whose capacity and failure
// point are known exactly, its step plans and its report. Sizing is tests/sizing_test.cc's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/histogram.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "saturate/options.h"
#include "saturate/saturation_output.h"
#include "saturate/search.h"
#include "saturate/step_plan.h"

namespace stampede {
namespace {

using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// The saturation search against a fake service.

// A service of known capacity. Closed model: each virtual user sends per_user_rps while the
// service keeps up; throughput = min(load x per_user_rps, capacity); 503s once the load is above
// the knee (the queue is full). Open model: throughput = min(rate, capacity), 503s above the
// knee. Capacity may differ per repeat (an inconsistent service).
struct FakeService {
  LoadModel model = LoadModel::kClosed;
  double per_user_rps = 50;                      // 1 / 20 ms
  std::map<int, double> capacity = {{0, 1000}};  // by repeat; 0 = every repeat
  std::map<int, double> knee = {{0, 28}};
  double step_s = 1;
  int calls = 0;
  std::vector<StepRequest> requests;

  static double For(const std::map<int, double>& m, int repeat) {
    auto it = m.find(repeat);
    return it != m.end() ? it->second : m.at(0);
  }

  absl::StatusOr<StepResult> operator()(const StepRequest& request) {
    ++calls;
    requests.push_back(request);
    const bool closed = model == LoadModel::kClosed || request.phase == StepPhase::kBaseline;
    const double cap = For(capacity, request.repeat);
    const double offered = closed ? request.load * per_user_rps : request.load;
    StepResult r;
    r.load = request.load;
    r.run_id = absl::StrCat("run-", calls);
    r.throughput_rps = std::min(offered, cap);
    r.requests = static_cast<uint64_t>(r.throughput_rps * step_s);
    r.p50_ms = 20;
    r.p99_ms = offered > cap ? 20 * offered / cap : 21;  // queueing once above capacity
    r.mean_ms = 20;
    if (request.load > For(knee, request.repeat)) {
      r.status503 = r.requests / 2 + 1;
      r.errors = r.status503;
      r.requests += r.status503;
      r.error_rate = static_cast<double>(r.errors) / static_cast<double>(r.requests);
    }
    return r;
  }
};

// The seed's rules alone (503s, errors, SLO): FakeService's figures are exact, so these tests
// pin the stepping and bisection down; the knee rules have their own tests (KneeSearch).
SaturationOptions Fast(LoadModel model = LoadModel::kClosed) {
  SaturationOptions o = DefaultSaturationOptions(model);
  o.step_duration = absl::Seconds(1);
  o.min_throughput_growth = 0;
  o.max_p99_multiple = 0;
  return o;
}

// A service that queues instead of answering 503: past its capacity the throughput stays flat
// and latency grows with the queue, and no request ever fails. Closed model: each user sends
// per_user_rps while the service keeps up.
struct QueueingService {
  double per_user_rps = 50;
  double capacity = 1000;  // reached at 20 users
  double service_ms = 20;
  // Noise on the throughput: +-noise x capacity alternately, as real steps wobble.
  double noise = 0;
  int calls = 0;

  absl::StatusOr<StepResult> operator()(const StepRequest& request) {
    ++calls;
    const double offered = request.load * per_user_rps;
    StepResult r;
    r.load = request.load;
    r.throughput_rps = std::min(offered, capacity) * (1 + (calls % 2 ? noise : -noise));
    r.requests = static_cast<uint64_t>(r.throughput_rps);
    r.successes = r.requests;
    r.p50_ms = service_ms;
    r.p99_ms = offered > capacity ? service_ms * offered / capacity : service_ms * 1.05;
    r.mean_ms = r.p50_ms;
    return r;
  }
};

absl::StatusOr<SaturationResult> SearchQueueing(const SaturationOptions& o, QueueingService* fake) {
  SaturationSearch search(o, [fake](const StepRequest& r) { return (*fake)(r); });
  return search.Run();
}

SaturationOptions KneeOptions() {
  SaturationOptions o = DefaultSaturationOptions(LoadModel::kClosed);
  o.step_duration = absl::Seconds(1);
  o.repeats = 1;
  return o;
}

TEST(KneeSearch, DefaultsAreOn) {
  const SaturationOptions o = DefaultSaturationOptions(LoadModel::kClosed);
  EXPECT_DOUBLE_EQ(o.min_throughput_growth, 0.05);
  EXPECT_DOUBLE_EQ(o.max_p99_multiple, 10);
  EXPECT_TRUE(o.fail_on_503);
}

TEST(KneeSearch, FindsTheKneeOfAServiceThatNeverAnswers503) {
  // Capacity 1000 req/s, reached at 20 users: 1..16 grow by 100%, 32 by 25% (> 5%: passes), 64
  // by 0% (fails). Bisection: 48, 40, 36, 34 fail (+0% where +2.5% .. +0.3% was needed), and
  // 34 is within 10% of 32. The saturation found is the capacity, 1000 req/s, at 32 users (the
  // first load on the plateau the steps reached).
  QueueingService fake;
  auto r = SearchQueueing(KneeOptions(), &fake);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  ASSERT_TRUE(r->saturation.has_value());
  EXPECT_DOUBLE_EQ(r->saturation->result.throughput_rps, 1000);
  EXPECT_EQ(r->ended_by, "throughput-knee");
  EXPECT_EQ(r->repeats[0].ended_by, "throughput-knee");
  EXPECT_THAT(r->repeats[0].note, HasSubstr("(ended by throughput-knee)"));
  // The first failing step says what it grew by and what it needed.
  auto failed =
      std::find_if(r->steps.begin(), r->steps.end(), [](const StepRecord& s) { return !s.ok; });
  ASSERT_NE(failed, r->steps.end());
  EXPECT_EQ(failed->request.load, 64);
  EXPECT_EQ(failed->rule, "throughput-knee");
  EXPECT_THAT(failed->why, HasSubstr("knee: throughput +0.0% over load 32 (1000.0 req/s), needs "
                                     "+5.0%"));
  // Without the rule the search never ends below maxLoad: nothing fails.
  SaturationOptions off = KneeOptions();
  off.min_throughput_growth = 0;
  off.max_p99_multiple = 0;
  off.max_load = 256;
  QueueingService again;
  auto none = SearchQueueing(off, &again);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->verdict, Verdict::kNotSaturated);
}

TEST(KneeSearch, BisectionNeedsGrowthInProportionToTheLoadStep) {
  // One point: previous good 10 users at 500 req/s; a step at 15 users (ratio 1.5, factor 2)
  // needs +2.5%.
  SaturationOptions o = KneeOptions();
  KneeReference ref;
  ref.previous = StepRecord{};
  ref.previous->request.load = 10;
  ref.previous->result.throughput_rps = 500;
  StepResult step;
  step.requests = 100;
  step.throughput_rps = 512;  // +2.4%
  StepJudgement j = JudgeStepWithKnee(step, 15, o, ref);
  EXPECT_EQ(j.rule, "throughput-knee");
  EXPECT_THAT(j.why, HasSubstr("needs +2.5%"));
  step.throughput_rps = 513;  // +2.6%
  EXPECT_TRUE(JudgeStepWithKnee(step, 15, o, ref).why.empty());
  // A load no higher than the reference's is not judged by growth.
  step.throughput_rps = 100;
  EXPECT_TRUE(JudgeStepWithKnee(step, 10, o, ref).why.empty());
}

TEST(KneeSearch, P99AboveTheMultipleOfTheBaselineFailsAStep) {
  SaturationOptions o = KneeOptions();
  o.max_p99_multiple = 3;
  KneeReference ref;
  ref.baseline_p99_ms = 20;
  StepResult step;
  step.requests = 100;
  step.p99_ms = 60;  // exactly 3x: passes
  EXPECT_TRUE(JudgeStepWithKnee(step, 8, o, ref).why.empty());
  step.p99_ms = 61;
  StepJudgement j = JudgeStepWithKnee(step, 8, o, ref);
  EXPECT_EQ(j.rule, "p99-knee");
  EXPECT_EQ(j.why, "knee: p99 61.0 ms > 3 x baseline 20.0 ms");
  o.max_p99_multiple = 0;  // off
  EXPECT_TRUE(JudgeStepWithKnee(step, 8, o, ref).why.empty());
}

TEST(KneeSearch, P99RuleEndsTheSearchWhenThroughputStillCreeps) {
  // Throughput keeps growing (by 10% per step, above the 5% rule) while the queue grows: only
  // the p99 rule stops it.
  SaturationOptions o = KneeOptions();
  o.max_p99_multiple = 4;
  auto runner = [](const StepRequest& req) -> absl::StatusOr<StepResult> {
    StepResult r;
    r.load = req.load;
    r.requests = 1000;
    r.throughput_rps = 100 * std::pow(1.1, std::log2(std::max(1.0, req.load)));
    r.p99_ms = 10 * std::max(1.0, req.load / 4);  // 10 ms up to 4 users, then linear
    r.mean_ms = r.p99_ms;
    return r;
  };
  SaturationSearch search(o, runner);
  auto r = search.Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_EQ(r->ended_by, "p99-knee");
  // p99 <= 40 ms up to 16 users; 17 is the first above 4 x 10 ms.
  EXPECT_EQ(r->repeats[0].max_good_load, 16);
  EXPECT_EQ(r->repeats[0].first_fail_load, 17);
}

TEST(KneeSearch, Without503RuleA503StepPassesUnderTheErrorLimit) {
  SaturationOptions o = KneeOptions();
  StepResult step;
  step.requests = 1000;
  step.errors = 5;
  step.status503 = 5;
  step.error_rate = 0.005;
  EXPECT_EQ(JudgeStepWithKnee(step, 4, o, {}).rule, "503");
  o.fail_on_503 = false;
  EXPECT_TRUE(JudgeStepWithKnee(step, 4, o, {}).why.empty());
  step.errors = step.status503 = 20;
  step.error_rate = 0.02;
  EXPECT_EQ(JudgeStepWithKnee(step, 4, o, {}).rule, "errors");
}

TEST(KneeSearch, PlanSettingsSwitchEachRuleOff) {
  Plan plan;
  plan.mutable_saturation()->set_min_throughput_growth(0);
  plan.mutable_saturation()->set_max_p99_multiple(0);
  plan.mutable_saturation()->set_fail_on_503(false);
  auto o = SaturationOptionsFromPlan(plan);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->min_throughput_growth, 0);
  EXPECT_EQ(o->max_p99_multiple, 0);
  EXPECT_FALSE(o->fail_on_503);
  plan.mutable_saturation()->set_min_throughput_growth(0.1);
  plan.mutable_saturation()->set_max_p99_multiple(4);
  o = SaturationOptionsFromPlan(plan);
  ASSERT_TRUE(o.ok());
  EXPECT_DOUBLE_EQ(o->min_throughput_growth, 0.1);
  EXPECT_DOUBLE_EQ(o->max_p99_multiple, 4);
  plan.mutable_saturation()->set_min_throughput_growth(1.5);
  EXPECT_THAT(SaturationOptionsFromPlan(plan).status().message(),
              HasSubstr("saturation.minThroughputGrowth"));
  plan.mutable_saturation()->set_min_throughput_growth(0.05);
  plan.mutable_saturation()->set_max_p99_multiple(0.5);
  EXPECT_THAT(SaturationOptionsFromPlan(plan).status().message(),
              HasSubstr("saturation.maxP99Multiple"));
}

absl::StatusOr<SaturationResult> Search(const SaturationOptions& o, FakeService* fake) {
  SaturationSearch search(o, [fake](const StepRequest& r) { return (*fake)(r); });
  return search.Run();
}

TEST(SaturationSearch, FindsTheCapacityOfAClosedService) {
  // 1000 req/s, reached at 20 users (20 x 50); the queue holds up to 28 users before 503s.
  FakeService fake;
  SaturationOptions o = Fast();
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_FALSE(r->inconsistent);
  ASSERT_EQ(r->repeats.size(), 3u);  // default repeats
  for (const RepeatResult& rep : r->repeats) {
    EXPECT_EQ(rep.verdict, Verdict::kSaturated);
    ASSERT_TRUE(rep.best.has_value());
    EXPECT_DOUBLE_EQ(rep.best->result.throughput_rps, 1000);
    // 1, 2, 4, 8, 16 pass, 32 fails; bisect 24 ok, 28 ok, 30 fails: 30 - 28 is within 10%.
    EXPECT_EQ(rep.max_good_load, 28);
    EXPECT_EQ(rep.first_fail_load, 30);
    EXPECT_EQ(rep.steps, 10);  // baseline + 6 steps + 3 bisections
    EXPECT_DOUBLE_EQ(rep.baseline_mean_ms.value(), 20);
  }
  ASSERT_TRUE(r->saturation.has_value());
  EXPECT_DOUBLE_EQ(r->saturation->result.throughput_rps, 1000);
  EXPECT_DOUBLE_EQ(r->spread, 0);
  // Operating point: 70% of 1000 = 700 req/s, between (8 users, 400) and (16, 800): 14 users.
  EXPECT_DOUBLE_EQ(r->operating_rps, 700);
  EXPECT_DOUBLE_EQ(r->operating_load, 14);
  // Steps are recorded in order with their phases, and the baseline runs at 1 user.
  ASSERT_EQ(r->steps.size(), 30u);
  EXPECT_EQ(r->steps[0].request.phase, StepPhase::kBaseline);
  EXPECT_EQ(r->steps[0].request.load, 1);
  std::vector<double> loads;
  for (int i = 1; i < 10; ++i) loads.push_back(r->steps[i].request.load);
  EXPECT_THAT(loads, ::testing::ElementsAre(1, 2, 4, 8, 16, 32, 24, 28, 30));
  EXPECT_EQ(r->steps[7].request.phase, StepPhase::kBisect);
  EXPECT_FALSE(r->steps[6].ok);
  EXPECT_THAT(r->steps[6].why, HasSubstr("x 503"));
  EXPECT_EQ(r->steps[10].request.repeat, 2);
  EXPECT_EQ(r->steps[10].request.index, 0);
}

TEST(SaturationSearch, ClosedBisectionStopsAtOneUser) {
  // Knee at 6 users: after 8 fails, 6 passes and 7 fails; high - low = 1 ends the bisection
  // even though (7 - 6) / 6 is above the tolerance.
  FakeService fake;
  fake.capacity = {{0, 200}};
  fake.knee = {{0, 6}};
  SaturationOptions o = Fast();
  o.repeats = 1;
  o.tolerance = 0.01;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_EQ(r->repeats[0].max_good_load, 6);
  EXPECT_EQ(r->repeats[0].first_fail_load, 7);
  EXPECT_DOUBLE_EQ(r->saturation->result.throughput_rps, 200);
  EXPECT_DOUBLE_EQ(r->saturation->request.load, 6);  // the highest good load
  EXPECT_EQ(r->repeats[0].steps, 7);                 // baseline, 1, 2, 4, 8, 6, 7
}

TEST(SaturationSearch, OpenModelBisectsToTheTolerance) {
  // Open: 503s above 1000 arrivals/s. Bisection to 1%: the highest good rate is within 1% of
  // the knee, and the number of steps is what halving a 1280..2560 interval to 1% takes.
  FakeService fake;
  fake.model = LoadModel::kOpen;
  fake.capacity = {{0, 1000}};
  fake.knee = {{0, 1000}};
  SaturationOptions o = Fast(LoadModel::kOpen);
  EXPECT_EQ(o.start_load, 10);
  EXPECT_EQ(o.max_load, 100'000);
  o.repeats = 2;
  o.tolerance = 0.01;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  for (const RepeatResult& rep : r->repeats) {
    const double low = *rep.max_good_load, high = *rep.first_fail_load;
    EXPECT_LE(low, 1000);
    EXPECT_GT(high, 1000);
    EXPECT_LE((high - low) / low, 0.01);
    EXPECT_GE(rep.best->result.throughput_rps, 990);
    // baseline + 10..640 (7 steps) + 1280 fails + bisections of 640..1280 down to 1%.
    EXPECT_LE(rep.steps, 1 + 8 + 7);
  }
  // The operating point is 70% of the found throughput, reached at that rate (open: rps = rate).
  EXPECT_NEAR(r->operating_load, r->operating_rps, 1e-6);
  EXPECT_NEAR(r->operating_rps, 0.7 * r->saturation->result.throughput_rps, 1e-9);
}

TEST(SaturationSearch, OverloadedAtStart) {
  // The first step already fails: a verdict, not a number.
  FakeService fake;
  fake.knee = {{0, 5}};
  SaturationOptions o = Fast();
  o.start_load = 10;
  o.repeats = 2;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kOverloadedAtStart);
  EXPECT_FALSE(r->saturation.has_value());
  EXPECT_FALSE(r->inconsistent);
  EXPECT_EQ(r->steps.size(), 4u);  // baseline + one step, twice
  EXPECT_THAT(r->repeats[0].note, HasSubstr("first step (load 10) already failed"));

  // Even one user fails: the baseline says so and nothing else runs.
  fake = FakeService();
  fake.knee = {{0, 0.5}};
  o.start_load = 1;
  r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kOverloadedAtStart);
  EXPECT_EQ(r->steps.size(), 2u);
  EXPECT_THAT(r->repeats[0].note, HasSubstr("baseline"));
  const std::string json = FormatSaturationJson(*r);
  EXPECT_THAT(json, HasSubstr("\"verdict\": \"overloaded-at-start\""));
  EXPECT_THAT(json, HasSubstr("\"saturation\": null"));
  EXPECT_THAT(json, HasSubstr("\"operatingPoint\": null"));
}

TEST(SaturationSearch, NotSaturatedWithinMaxLoad) {
  FakeService fake;
  fake.capacity = {{0, 1e9}};
  fake.knee = {{0, 1e9}};
  SaturationOptions o = Fast();
  o.max_load = 48;  // 1 .. 32, then max_load itself
  o.repeats = 1;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kNotSaturated);
  EXPECT_FALSE(r->saturation.has_value());
  std::vector<double> loads;
  for (const StepRecord& s : r->steps) loads.push_back(s.request.load);
  EXPECT_THAT(loads, ::testing::ElementsAre(1, 1, 2, 4, 8, 16, 32, 48));
  EXPECT_THAT(r->repeats[0].note, HasSubstr("no step failed up to maxLoad 48"));
  EXPECT_THAT(FormatSaturationText(*r), HasSubstr("verdict: not-saturated"));
}

TEST(SaturationSearch, EveryRepeatIsBoundedBySteps) {
  // A service that never fails and a factor that barely climbs: the step limit ends it.
  FakeService fake;
  fake.model = LoadModel::kOpen;
  fake.capacity = {{0, 1e12}};
  fake.knee = {{0, 1e12}};
  SaturationOptions o = Fast(LoadModel::kOpen);
  o.step_factor = 1.001;
  o.max_load = 1e9;
  o.repeats = 2;
  o.max_steps_per_repeat = 12;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fake.calls, 24);
  EXPECT_EQ(r->verdict, Verdict::kNotSaturated);
  EXPECT_TRUE(r->repeats[0].step_limit_reached);
  EXPECT_THAT(r->repeats[0].note, HasSubstr("step limit (12)"));

  // A bisection that the limit cuts short still reports the last good load it had.
  fake = FakeService();
  fake.model = LoadModel::kOpen;
  fake.knee = {{0, 1000}};
  o = Fast(LoadModel::kOpen);
  o.tolerance = 1e-6;
  o.repeats = 1;
  o.max_steps_per_repeat = 12;
  r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fake.calls, 12);
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_TRUE(r->repeats[0].step_limit_reached);
  EXPECT_LE(*r->repeats[0].max_good_load, 1000);
  EXPECT_GT(*r->repeats[0].max_good_load, 640);

  // Closed loads are whole users, so even a tiny factor climbs by one user per step.
  fake = FakeService();
  fake.knee = {{0, 3}};
  o = Fast();
  o.step_factor = 1.01;
  o.repeats = 1;
  r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  std::vector<double> loads;
  for (const StepRecord& s : r->steps) loads.push_back(s.request.load);
  EXPECT_THAT(loads, ::testing::ElementsAre(1, 1, 2, 3, 4));
}

TEST(SaturationSearch, ConsistentRepeatsAgree) {
  FakeService fake;
  fake.capacity = {{0, 1000}, {1, 1000}, {2, 1020}, {3, 990}};
  auto r = Search(Fast(), &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_FALSE(r->inconsistent);
  EXPECT_DOUBLE_EQ(r->min_rps, 990);
  EXPECT_DOUBLE_EQ(r->max_rps, 1020);
  EXPECT_DOUBLE_EQ(r->median_rps, 1000);
  EXPECT_NEAR(r->spread, 0.03, 1e-12);
  // The median repeat stands for the search.
  EXPECT_EQ(r->median_repeat, 1);
  EXPECT_DOUBLE_EQ(r->saturation->result.throughput_rps, 1000);
}

TEST(SaturationSearch, InconsistentRepeatsAreFlagged) {
  FakeService fake;
  fake.capacity = {{0, 1000}, {1, 1000}, {2, 1300}, {3, 700}};
  fake.knee = {{0, 40}};
  auto r = Search(Fast(), &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_TRUE(r->inconsistent);
  EXPECT_NEAR(r->spread, (1300.0 - 700) / 1000, 1e-12);
  EXPECT_EQ(r->median_repeat, 1);
  EXPECT_THAT(FormatSaturationText(*r), HasSubstr("INCONSISTENT"));
  EXPECT_THAT(FormatSaturationJson(*r), HasSubstr("\"inconsistent\": true"));

  // Repeats that reach different verdicts are inconsistent too; the majority decides.
  fake = FakeService();
  fake.knee = {{0, 28}, {2, 0.5}};  // repeat 2 fails even its baseline
  r = Search(Fast(), &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_TRUE(r->inconsistent);
  EXPECT_EQ(r->repeats[1].verdict, Verdict::kOverloadedAtStart);
  EXPECT_THAT(FormatSaturationJson(*r), HasSubstr("\"repeats\": [1000, null, 1000]"));
}

TEST(SaturationSearch, SloAndErrorRateFailSteps) {
  SaturationOptions o = Fast();
  o.slo_p99_ms = 30;
  StepResult s;
  s.requests = 1000;
  s.p99_ms = 29;
  EXPECT_EQ(JudgeStep(s, o), "");
  s.p99_ms = 31;
  EXPECT_EQ(JudgeStep(s, o), "p99 31.0 ms > SLO 30 ms");
  s.p99_ms = 10;
  s.errors = 20;
  s.error_rate = 0.02;
  EXPECT_EQ(JudgeStep(s, o), "errors 2% > 1%");
  s.errors = 5;
  s.error_rate = 0.005;
  EXPECT_EQ(JudgeStep(s, o), "");
  s.status503 = 1;
  EXPECT_EQ(JudgeStep(s, o), "1 x 503");  // any 503 fails, whatever the error share
  s.stopped_early = true;
  EXPECT_EQ(JudgeStep(s, o), "1 x 503; stopped early");
  EXPECT_EQ(JudgeStep(StepResult{}, o), "no requests completed");

  // With an SLO the search finds where latency, not the queue, gives out: the fake's p99 rises
  // above 20 ms once the offered load exceeds capacity (20 users), 30 ms at 30 users.
  FakeService fake;
  fake.knee = {{0, 1000}};
  o.repeats = 1;
  o.slo_p99_ms = 25;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kSaturated);
  EXPECT_LE(*r->repeats[0].max_good_load, 25);
  EXPECT_DOUBLE_EQ(r->saturation->result.throughput_rps, 1000);
}

TEST(SaturationSearch, RunnerErrorsEndTheSearch) {
  int calls = 0;
  SaturationSearch search(Fast(), [&](const StepRequest&) -> absl::StatusOr<StepResult> {
    if (++calls == 3) return absl::UnavailableError("agent lost");
    StepResult r;
    r.requests = 10;
    r.throughput_rps = 10;
    return r;
  });
  std::vector<int> started, done;
  search.OnStepStart([&](const StepRequest& r) { started.push_back(r.index); });
  search.OnStepDone([&](const StepRecord& r) { done.push_back(r.request.index); });
  auto r = search.Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(started, ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(done, ::testing::ElementsAre(0, 1));
}

TEST(SaturationSearch, InterpolatesTheOperatingLoad) {
  // Open: 700 between (500, 500) and (1000, 1000).
  EXPECT_DOUBLE_EQ(InterpolateLoad({{500, 500}, {1000, 1000}}, 700, LoadModel::kOpen), 700);
  // Below the first point: from (0, 0).
  EXPECT_DOUBLE_EQ(InterpolateLoad({{10, 100}}, 50, LoadModel::kOpen), 5);
  // Closed loads round up to a whole user, at least one.
  EXPECT_DOUBLE_EQ(InterpolateLoad({{4, 200}, {8, 400}}, 290, LoadModel::kClosed), 6);
  EXPECT_DOUBLE_EQ(InterpolateLoad({{4, 200}}, 1, LoadModel::kClosed), 1);
  // Repeated loads are averaged; a flat segment gives its end.
  EXPECT_DOUBLE_EQ(InterpolateLoad({{2, 90}, {2, 110}, {4, 200}}, 100, LoadModel::kOpen), 2);
  EXPECT_DOUBLE_EQ(InterpolateLoad({{2, 100}, {4, 100}}, 100, LoadModel::kOpen), 2);
  // Beyond the last point: the last load.
  EXPECT_DOUBLE_EQ(InterpolateLoad({{2, 100}}, 150, LoadModel::kOpen), 2);
}

// ---------------------------------------------------------------------------------------------
// Step plans, options from plans, reports.

Plan BasePlan() {
  Plan plan;
  plan.set_name("svc");
  plan.mutable_target()->set_url("http://127.0.0.1:1/score");
  plan.mutable_agents()->set_count(3);
  plan.mutable_agents()->add_regions("eastus");
  Stage* s = plan.add_stages();
  s->set_concurrency(5);
  s->set_requests(100);
  plan.mutable_thresholds()->set_p99_ms(10);
  plan.mutable_saturation()->set_repeats(2);
  return plan;
}

TEST(StepPlan, OneStageAtTheStepLoad) {
  const Plan base = BasePlan();
  SaturationOptions o = Fast();
  o.step_duration = absl::Milliseconds(1500);

  Plan p = BuildStepPlan(base, {2, 4, StepPhase::kStep, 16}, o, false);
  ASSERT_EQ(p.stages_size(), 1);
  EXPECT_EQ(p.stages(0).concurrency(), 16);
  EXPECT_FALSE(p.stages(0).has_rate());
  EXPECT_FALSE(p.stages(0).has_requests());
  EXPECT_EQ(p.stages(0).duration().seconds(), 1);
  EXPECT_EQ(p.stages(0).duration().nanos(), 500'000'000);
  EXPECT_EQ(p.agents().count(), 3);  // multi-client: the plan's selection, in lockstep
  EXPECT_EQ(p.agents().regions(0), "eastus");
  EXPECT_EQ(p.target().url(), base.target().url());
  EXPECT_FALSE(p.has_thresholds());
  EXPECT_FALSE(p.has_saturation());
  EXPECT_THAT(p.name(), HasSubstr("svc saturate r2 #4 step load 16"));

  p = BuildStepPlan(base, {1, 4, StepPhase::kBisect, 16}, o, true);
  EXPECT_EQ(p.agents().count(), 1);  // single-client

  // The baseline is one virtual user on one agent, whatever the model.
  o.model = LoadModel::kOpen;
  p = BuildStepPlan(base, {1, 0, StepPhase::kBaseline, 1}, o, false);
  EXPECT_EQ(p.agents().count(), 1);
  EXPECT_EQ(p.stages(0).concurrency(), 1);

  p = BuildStepPlan(base, {1, 3, StepPhase::kStep, 250.5}, o, false);
  EXPECT_DOUBLE_EQ(p.stages(0).rate(), 250.5);
  EXPECT_FALSE(p.stages(0).has_concurrency());
}

TEST(StepPlan, OptionsFromThePlan) {
  Plan plan = BasePlan();
  auto o = SaturationOptionsFromPlan(plan);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->model, LoadModel::kClosed);
  EXPECT_EQ(o->start_load, 1);
  EXPECT_EQ(o->step_factor, 2);
  EXPECT_EQ(o->max_load, 1024);
  EXPECT_EQ(o->step_duration, absl::Seconds(5));
  EXPECT_EQ(o->tolerance, 0.1);
  EXPECT_EQ(o->repeats, 2);
  EXPECT_EQ(o->max_error_rate, 0.01);
  EXPECT_FALSE(o->slo_p99_ms.has_value());
  EXPECT_EQ(o->operating_fraction, 0.7);

  SaturationSettings* s = plan.mutable_saturation();
  s->set_model("open");
  s->set_slo_p99_ms(250);
  s->mutable_step_duration()->set_seconds(2);
  o = SaturationOptionsFromPlan(plan);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->model, LoadModel::kOpen);
  EXPECT_EQ(o->start_load, 10);
  EXPECT_EQ(o->max_load, 100'000);
  EXPECT_EQ(o->slo_p99_ms, 250);
  EXPECT_EQ(o->step_duration, absl::Seconds(2));

  // Closed loads are whole users.
  s->set_model("closed");
  s->set_start_load(2.5);
  s->set_max_load(40.7);
  o = SaturationOptionsFromPlan(plan);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->start_load, 3);
  EXPECT_EQ(o->max_load, 40);

  s->set_step_factor(1);
  o = SaturationOptionsFromPlan(plan);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("saturation.stepFactor"));
  s->set_step_factor(2);
  s->set_max_load(2);
  o = SaturationOptionsFromPlan(plan);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(std::string(o.status().message()), HasSubstr("saturation.maxLoad"));
}

TEST(StepPlan, FiguresFromTheRunReport) {
  RunReport report;
  report.set_run_id("r-1");
  Aggregate* t = report.mutable_totals();
  t->set_requests(1000);
  t->set_errors(10);
  (*t->mutable_by_status())[200] = 990;
  (*t->mutable_by_status())[503] = 10;
  t->set_first_start_ns(1'000'000'000);
  t->set_last_end_ns(3'000'000'000);  // 2 s
  Histogram h;
  for (int i = 1; i <= 100; ++i) h.RecordN(i * 1000.0, 10);  // 1..100 ms
  *t->mutable_latency() = h.ToProto();
  const StepResult r = StepResultFromReport(report, 8);
  EXPECT_EQ(r.run_id, "r-1");
  EXPECT_EQ(r.load, 8);
  // Throughput counts successful responses: the 10 503s are beside it, not in it.
  EXPECT_DOUBLE_EQ(r.throughput_rps, 495);
  EXPECT_EQ(r.successes, 990u);
  EXPECT_EQ(r.requests, 1000u);
  EXPECT_EQ(r.errors, 10u);
  EXPECT_EQ(r.status503, 10u);
  EXPECT_DOUBLE_EQ(r.error_rate, 0.01);
  EXPECT_NEAR(r.p50_ms, 50, 0.05);
  EXPECT_NEAR(r.p99_ms, 99, 0.1);
  EXPECT_NEAR(r.mean_ms, 50.5, 0.01);

  // Requests Stampede cut off itself (a step stopped early) are neither errors nor successes.
  (*t->mutable_by_error())["aborted"] = 100;
  const StepResult stopped = StepResultFromReport(report, 8);
  EXPECT_EQ(stopped.successes, 890u);
  EXPECT_DOUBLE_EQ(stopped.throughput_rps, 445);
  EXPECT_EQ(stopped.errors, 10u);
}

TEST(Report, JsonIsValidAndHasTheResult) {
  FakeService fake;
  SaturationOptions o = Fast();
  o.repeats = 2;
  auto r = Search(o, &fake);
  ASSERT_TRUE(r.ok());
  const std::string json = FormatSaturationJson(*r, [](JsonWriter& w) {
    w.Key("mode");
    w.String("single-client");
  });
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &doc).ok()) << json;
  const auto& f = doc.fields();
  EXPECT_EQ(f.at("verdict").string_value(), "saturated");
  EXPECT_FALSE(f.at("inconsistent").bool_value());
  EXPECT_EQ(f.at("mode").string_value(), "single-client");
  const auto& sat = f.at("saturation").struct_value().fields();
  EXPECT_DOUBLE_EQ(sat.at("throughputRps").number_value(), 1000);
  EXPECT_DOUBLE_EQ(sat.at("load").number_value(), 28);  // the highest good load
  EXPECT_TRUE(sat.contains("p99Ms"));
  const auto& op = f.at("operatingPoint").struct_value().fields();
  EXPECT_DOUBLE_EQ(op.at("throughputRps").number_value(), 700);
  EXPECT_DOUBLE_EQ(op.at("load").number_value(), 14);
  EXPECT_EQ(f.at("repeats").list_value().values_size(), 2);
  const auto& steps = f.at("steps").list_value();
  ASSERT_EQ(steps.values_size(), 20);
  const auto& first = steps.values(0).struct_value().fields();
  for (const char* key : {"repeat", "index", "phase", "load", "throughputRps", "p50Ms", "p99Ms",
                          "errors", "status503", "verdict", "why", "runId"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }
  EXPECT_EQ(first.at("phase").string_value(), "baseline");
  EXPECT_EQ(steps.values(6).struct_value().fields().at("verdict").string_value(), "fail");

  const std::string text = FormatSaturationText(*r);
  EXPECT_THAT(text, HasSubstr("verdict: saturated"));
  EXPECT_THAT(text, HasSubstr("saturation: 1000.0 req/s at load 28"));
  EXPECT_THAT(text, HasSubstr("operating point (70% of saturation): 700.0 req/s at load 14"));
  EXPECT_THAT(FormatStepLine(r->steps[6], 2), HasSubstr("FAIL"));
  EXPECT_THAT(FormatStepLine(r->steps[1], 2), HasSubstr("repeat 1/2  step"));
}

}  // namespace
}  // namespace stampede
