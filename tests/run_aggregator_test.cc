#include "common/run_aggregator.h"
#include "report/report_format.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/error_names.h"
#include "common/histogram.h"

namespace stampede {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr int64_t kOrigin = 1'700'000'000'000'000'000;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

// One request as the test describes it: on the coordinator's timeline, relative to the origin.
// MakeBatches turns it into agent time, so the aggregator has to undo the clock offset.
struct TestRecord {
  int64_t start_ns;  // since origin, coordinator clock
  uint32_t latency_us;
  uint32_t status = 200;
  ErrorClass error = ERROR_NONE;
  uint32_t stage = 0;
  uint32_t bytes_sent = 100;
  uint32_t bytes_received = 250;
};

// Batches of `per_batch` records in the agent's own clock (coordinator time + offset), each with
// its own base time as the agent would send them.
std::vector<RecordBatch> MakeBatches(const AgentMeta& agent, const std::vector<TestRecord>& recs,
                                     size_t per_batch = 256) {
  std::vector<RecordBatch> batches;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i % per_batch == 0) {
      RecordBatch& b = batches.emplace_back();
      b.set_agent_id(agent.id);
      b.set_seq(batches.size() - 1);
      // Base a little before the batch's first record, like an agent's run origin would be.
      b.set_base_time_ns(kOrigin + agent.clock_offset_ns + recs[i].start_ns - 123 * kMs);
    }
    RecordBatch& b = batches.back();
    const TestRecord& r = recs[i];
    b.add_start_offset_ns(kOrigin + agent.clock_offset_ns + r.start_ns - b.base_time_ns());
    b.add_latency_us(r.latency_us);
    b.add_service_us(r.latency_us);
    b.add_status(r.status);
    b.add_error(r.error);
    b.add_bytes_sent(r.bytes_sent);
    b.add_bytes_received(r.bytes_received);
    b.add_stage(r.stage);
    b.add_worker(0);
  }
  return batches;
}

AgentMeta Agent(std::string id, std::string name, std::string region, int64_t offset_ns,
                int64_t uncertainty_ns) {
  AgentMeta a;
  a.id = std::move(id);
  a.name = std::move(name);
  a.region = std::move(region);
  a.clock_offset_ns = offset_ns;
  a.clock_uncertainty_ns = uncertainty_ns;
  return a;
}

// Deterministic records spread over 3 seconds: latencies from a multiplicative sequence
// (1..201 ms, slower in westeurope), a 503 every 50th and a timeout every 97th request, stage 1
// from 1.5 s on.
std::vector<TestRecord> RecordsFor(int agent, int n, bool slow_region) {
  std::vector<TestRecord> recs;
  for (int i = 0; i < n; ++i) {
    TestRecord r;
    r.start_ns = static_cast<int64_t>(i) * (3 * kSec / n) + agent * kMs;
    r.latency_us = 1000 + static_cast<uint32_t>((i * 7919 + agent * 104729) % 200000) +
                   (slow_region ? 50'000 : 0);
    if (i % 97 == 0) {
      r.status = 0;
      r.error = ERROR_TIMEOUT;
    } else if (i % 50 == 0) {
      r.status = 503;
      r.error = ERROR_HTTP_5XX;
    }
    r.stage = r.start_ns < 1500 * kMs ? 0 : 1;
    r.bytes_received = 200 + static_cast<uint32_t>(i % 10);
    recs.push_back(r);
  }
  return recs;
}

// Expected figures, computed straight from the records with plain Histograms.
struct Expected {
  uint64_t requests = 0;
  uint64_t errors = 0;
  Histogram latency;

  void Add(const TestRecord& r) {
    ++requests;
    if (r.error != ERROR_NONE) ++errors;
    latency.Record(r.latency_us);
  }
};

int64_t SecondOf(int64_t start_ns) {
  return start_ns >= 0 ? start_ns / kSec : (start_ns - kSec + 1) / kSec;
}

Plan TestPlan() {
  Plan plan;
  plan.set_name("merged");
  plan.add_stages()->set_name("warm");
  plan.add_stages()->set_name("peak");
  plan.add_stages()->set_name("never reached");
  return plan;
}

void ExpectSameLatency(const HistogramData& got, const Histogram& want) {
  // Latencies are whole µs, so even the sum is exact in any order: the whole message must match
  // one histogram fed every record, which is what "merged bucket-wise" promises.
  EXPECT_TRUE(MessageDifferencer::Equals(got, want.ToProto())) << got.ShortDebugString() << "\nvs\n"
                                                               << want.ToProto().ShortDebugString();
  absl::StatusOr<Histogram> h = Histogram::FromProto(got);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->Percentile(50), want.Percentile(50));
  EXPECT_EQ(h->Percentile(99), want.Percentile(99));
  EXPECT_EQ(h->Percentile(99.9), want.Percentile(99.9));
}

// Timeline cells hold coarsened histograms (kTimelineCoarsenBits): they must equal the same
// folding of one histogram fed every record of that second, and stay within 0.4% of it.
void ExpectSameTimelineLatency(const HistogramData& got, const Histogram& want) {
  auto coarse = aggregator_internal::SparseHistogram::FromProto(want.ToProto());
  coarse.Coarsen(aggregator_internal::kTimelineCoarsenBits);
  EXPECT_TRUE(MessageDifferencer::Equals(got, coarse.ToProto())) << got.ShortDebugString();
  absl::StatusOr<Histogram> h = Histogram::FromProto(got);
  ASSERT_TRUE(h.ok()) << h.status();
  for (double q : {50.0, 99.0, 99.9}) {
    EXPECT_NEAR(h->Percentile(q), want.Percentile(q), want.Percentile(q) * 0.004) << "p" << q;
  }
}

class ThreeAgentsTest : public ::testing::Test {
 protected:
  ThreeAgentsTest() : aggregator_("run-1", TestPlan(), kOrigin) {
    agents_ = {Agent("a1", "eastus-1", "eastus", 0, 100'000),
               Agent("a2", "eastus-2", "eastus", 250 * kMs, 500'000),
               Agent("a3", "westeu-1", "westeurope", -400 * kMs, 2 * kMs)};
    records_ = {RecordsFor(0, 2000, false), RecordsFor(1, 1500, false), RecordsFor(2, 1000, true)};
    for (const AgentMeta& a : agents_) aggregator_.AddAgent(a);
    // Interleave the agents' batches, as they would arrive on several streams.
    std::vector<std::vector<RecordBatch>> batches;
    for (size_t k = 0; k < agents_.size(); ++k)
      batches.push_back(MakeBatches(agents_[k], records_[k]));
    for (size_t b = 0; b < 8; ++b) {
      for (size_t k = 0; k < agents_.size(); ++k) {
        if (b < batches[k].size()) aggregator_.AddBatch(agents_[k], batches[k][b]);
      }
    }
    for (size_t k = 0; k < agents_.size(); ++k) {
      for (const TestRecord& r : records_[k]) {
        all_.Add(r);
        by_region_[agents_[k].region].Add(r);
        by_second_[SecondOf(r.start_ns)].Add(r);
        by_region_second_[{agents_[k].region, SecondOf(r.start_ns)}].Add(r);
        by_stage_[r.stage].Add(r);
      }
    }
  }

  RunAggregator aggregator_;
  std::vector<AgentMeta> agents_;
  std::vector<std::vector<TestRecord>> records_;
  Expected all_;
  std::map<std::string, Expected> by_region_;
  std::map<int64_t, Expected> by_second_;
  std::map<std::pair<std::string, int64_t>, Expected> by_region_second_;
  std::map<uint32_t, Expected> by_stage_;
};

TEST_F(ThreeAgentsTest, TotalsAreTheSumOfAgentTotals) {
  const RunReport report = aggregator_.Report();
  ASSERT_EQ(report.by_agent_size(), 3);
  uint64_t requests = 0, errors = 0, sent = 0, received = 0;
  std::map<uint32_t, uint64_t> status;
  for (const AgentResult& a : report.by_agent()) {
    requests += a.totals().requests();
    errors += a.totals().errors();
    sent += a.totals().bytes_sent();
    received += a.totals().bytes_received();
    for (const auto& [code, n] : a.totals().by_status()) status[code] += n;
  }
  EXPECT_EQ(report.totals().requests(), 4500u);
  EXPECT_EQ(requests, report.totals().requests());
  EXPECT_EQ(errors, report.totals().errors());
  EXPECT_EQ(report.totals().errors(), all_.errors);
  EXPECT_EQ(sent, report.totals().bytes_sent());
  EXPECT_EQ(received, report.totals().bytes_received());
  EXPECT_EQ(status, (std::map<uint32_t, uint64_t>(report.totals().by_status().begin(),
                                                  report.totals().by_status().end())));
  EXPECT_EQ(aggregator_.requests(), 4500u);
  EXPECT_EQ(report.run_id(), "run-1");
}

TEST_F(ThreeAgentsTest, AgentResultsCarryIdentityOffsetsAndFirstRequest) {
  const RunReport report = aggregator_.Report();
  ASSERT_EQ(report.by_agent_size(), 3);
  const AgentResult& a2 = report.by_agent(1);
  EXPECT_EQ(a2.agent().id(), "a2");
  EXPECT_EQ(a2.agent().name(), "eastus-2");
  EXPECT_EQ(a2.agent().region(), "eastus");
  EXPECT_EQ(a2.agent().clock_offset_ns(), 250 * kMs);
  EXPECT_EQ(a2.agent().clock_uncertainty_ns(), 500'000);
  EXPECT_EQ(a2.totals().requests(), 1500u);
  EXPECT_THAT(a2.state(), IsEmpty());  // the caller's to set
  // The earliest start on the coordinator's timeline: agent time corrected by the offset.
  EXPECT_EQ(a2.first_request_ns(), kOrigin + records_[1][0].start_ns);
  EXPECT_EQ(report.by_agent(2).first_request_ns(), kOrigin + records_[2][0].start_ns);
}

TEST_F(ThreeAgentsTest, MergedPercentilesEqualOneHistogramOfAllRecords) {
  const RunReport report = aggregator_.Report();
  ExpectSameLatency(report.totals().latency(), all_.latency);
  // Bucket-wise merging must differ from averaging per-agent percentiles, or this test would not
  // tell the two apart.
  double mean_of_p99 = 0;
  for (const AgentResult& a : report.by_agent()) {
    mean_of_p99 += Histogram::FromProto(a.totals().latency())->Percentile(99) / 3;
  }
  EXPECT_NE(mean_of_p99, all_.latency.Percentile(99));
}

TEST_F(ThreeAgentsTest, RegionsMergeTheirAgents) {
  const RunReport report = aggregator_.Report();
  ASSERT_EQ(report.by_region_size(), 2);
  EXPECT_EQ(report.by_region().at("eastus").requests(), 3500u);
  EXPECT_EQ(report.by_region().at("westeurope").requests(), 1000u);
  for (const auto& [region, want] : by_region_) {
    SCOPED_TRACE(region);
    EXPECT_EQ(report.by_region().at(region).errors(), want.errors);
    ExpectSameLatency(report.by_region().at(region).latency(), want.latency);
  }
}

TEST_F(ThreeAgentsTest, TimelineHasOnePointPerSecondWithRegions) {
  const RunReport report = aggregator_.Report();
  ASSERT_EQ(report.timeline_size(), 3);
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE(s);
    const TimelinePoint& p = report.timeline(s);
    EXPECT_EQ(p.second(), s);
    EXPECT_EQ(p.all().requests(), by_second_[s].requests);
    EXPECT_EQ(p.all().errors(), by_second_[s].errors);
    // Per-second cells use a sparse histogram: it must be bucket-for-bucket the dense one.
    ExpectSameTimelineLatency(p.all().latency(), by_second_[s].latency);
    ASSERT_EQ(p.by_region_size(), 2);
    for (const std::string region : {"eastus", "westeurope"}) {
      const Expected& want = by_region_second_[std::make_pair(region, int64_t{s})];
      EXPECT_EQ(p.by_region().at(region).requests(), want.requests);
      ExpectSameTimelineLatency(p.by_region().at(region).latency(), want.latency);
    }
  }
}

TEST_F(ThreeAgentsTest, StagesAreMergedAcrossAgents) {
  const RunReport report = aggregator_.Report();
  // The plan's third stage was never reached but is still listed.
  ASSERT_EQ(report.by_stage_size(), 3);
  EXPECT_EQ(report.by_stage().at(0).requests(), by_stage_[0].requests);
  EXPECT_EQ(report.by_stage().at(1).requests(), by_stage_[1].requests);
  EXPECT_GT(by_stage_[0].requests, 0u);
  EXPECT_GT(by_stage_[1].requests, 0u);
  EXPECT_EQ(report.by_stage().at(2).requests(), 0u);
  ExpectSameLatency(report.by_stage().at(1).latency(), by_stage_[1].latency);
  EXPECT_EQ(report.by_stage().at(0).errors(), by_stage_[0].errors);
}

TEST_F(ThreeAgentsTest, ErrorClassesAreNamedAndOnlyErrorsCounted) {
  const Aggregate totals = aggregator_.Report().totals();
  uint64_t timeouts = 0, http5xx = 0;
  for (const auto& recs : records_) {
    for (const TestRecord& r : recs) {
      timeouts += r.error == ERROR_TIMEOUT;
      http5xx += r.error == ERROR_HTTP_5XX;
    }
  }
  EXPECT_THAT(totals.by_error(),
              testing::UnorderedElementsAre(Pair("timeout", timeouts), Pair("http_5xx", http5xx)));
  EXPECT_EQ(totals.by_status().at(0), timeouts);
  EXPECT_EQ(totals.by_status().at(503), http5xx);
  EXPECT_EQ(totals.by_status().at(200), 4500 - timeouts - http5xx);
}

TEST_F(ThreeAgentsTest, SpanCoversFirstStartToLastEnd) {
  const Aggregate totals = aggregator_.Report().totals();
  int64_t last_end = 0;
  for (const auto& recs : records_) {
    for (const TestRecord& r : recs) {
      last_end = std::max(last_end, kOrigin + r.start_ns + int64_t{r.latency_us} * 1000);
    }
  }
  EXPECT_EQ(totals.first_start_ns(), kOrigin);
  EXPECT_EQ(totals.last_end_ns(), last_end);
}

TEST(RunAggregatorTest, ClockOffsetMovesRecordsToTheirCoordinatorSecond) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  // The agent's clock is 300 ms ahead: its 1.2 s is the coordinator's 0.9 s, second 0.
  const AgentMeta ahead = Agent("a1", "ahead", "r", 300 * kMs, 0);
  RecordBatch batch;
  batch.set_base_time_ns(kOrigin + 300 * kMs);
  batch.add_start_offset_ns(900 * kMs);  // agent clock 1.2 s
  batch.add_latency_us(5000);
  aggregator.AddBatch(ahead, batch);
  // The same stamp from an agent whose clock is 400 ms behind is coordinator 1.6 s ...
  const AgentMeta behind = Agent("a2", "behind", "r", -400 * kMs, 0);
  aggregator.AddBatch(behind, batch);
  // ... and one at 5.5 s leaves seconds 2..4 empty, which the timeline still lists.
  RecordBatch late;
  late.set_base_time_ns(kOrigin);
  late.add_start_offset_ns(5500 * kMs);
  late.add_latency_us(1000);
  aggregator.AddBatch(Agent("a3", "plain", "r", 0, 0), late);

  const RunReport report = aggregator.Report();
  ASSERT_EQ(report.timeline_size(), 6);
  std::vector<uint64_t> counts;
  for (const TimelinePoint& p : report.timeline()) counts.push_back(p.all().requests());
  EXPECT_THAT(counts, ElementsAre(1, 1, 0, 0, 0, 1));
  EXPECT_EQ(report.timeline(0).second(), 0);
  EXPECT_EQ(report.timeline(5).second(), 5);
  EXPECT_EQ(report.timeline(0).all().first_start_ns(), kOrigin + 900 * kMs);
  // Empty seconds still carry every region and a decodable (empty) histogram.
  EXPECT_EQ(report.timeline(3).by_region().at("r").requests(), 0u);
  EXPECT_TRUE(Histogram::FromProto(report.timeline(3).all().latency()).ok());
}

TEST(RunAggregatorTest, RecordsBeforeTheOriginLandInNegativeSeconds) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  RecordBatch batch;
  batch.set_base_time_ns(kOrigin - 2 * kSec);
  batch.add_start_offset_ns(1500 * kMs);  // 0.5 s before the origin
  batch.add_latency_us(1000);
  batch.add_start_offset_ns(2 * kSec);  // exactly the origin
  batch.add_latency_us(1000);
  aggregator.AddBatch(Agent("a", "a", "r", 0, 0), batch);
  const RunReport report = aggregator.Report();
  ASSERT_EQ(report.timeline_size(), 2);
  EXPECT_EQ(report.timeline(0).second(), -1);
  EXPECT_EQ(report.timeline(1).second(), 0);
}

TEST(RunAggregatorTest, FarApartSecondsAreNotPadded) {
  // A broken agent clock (base time 0) must not make the report pad billions of seconds.
  RunAggregator aggregator("run", Plan(), kOrigin);
  RecordBatch broken;
  broken.add_start_offset_ns(0);
  broken.add_latency_us(1000);
  aggregator.AddBatch(Agent("a", "a", "r", 0, 0), broken);
  RecordBatch good;
  good.set_base_time_ns(kOrigin);
  good.add_start_offset_ns(0);
  good.add_latency_us(1000);
  aggregator.AddBatch(Agent("a", "a", "r", 0, 0), good);
  const RunReport report = aggregator.Report();
  ASSERT_EQ(report.timeline_size(), 2);
  EXPECT_EQ(report.timeline(1).second(), 0);
  EXPECT_EQ(report.totals().requests(), 2u);
}

TEST(RunAggregatorTest, ThresholdsUseMergedTotals) {
  Plan plan;
  plan.mutable_thresholds()->set_p50_ms(1000);  // passes
  plan.mutable_thresholds()->set_p99_ms(50);
  plan.mutable_thresholds()->set_error_rate(0.01);
  RunAggregator aggregator("run", plan, kOrigin);
  // Averaging the agents' p99 (2 ms and 80 ms) would give 41 ms and pass; merged, one request
  // in ten is slow, so the p99 of the run is 80 ms and fails.
  Histogram all;
  std::vector<TestRecord> fast, slow;
  for (int i = 0; i < 900; ++i) fast.push_back({i * kMs, 2000});
  for (int i = 0; i < 100; ++i) {
    TestRecord r{i * kMs, 80'000};
    if (i < 20) {
      r.error = ERROR_HTTP_5XX;
      r.status = 503;
    }
    slow.push_back(r);
  }
  for (const auto& r : fast) all.Record(r.latency_us);
  for (const auto& r : slow) all.Record(r.latency_us);
  const AgentMeta a = Agent("a", "a", "r", 0, 0), b = Agent("b", "b", "r", 0, 0);
  for (const RecordBatch& batch : MakeBatches(a, fast)) aggregator.AddBatch(a, batch);
  for (const RecordBatch& batch : MakeBatches(b, slow)) aggregator.AddBatch(b, batch);

  const RunReport report = aggregator.Report();
  EXPECT_THAT(report.threshold_failures(),
              ElementsAre(absl::StrFormat("p99 %.3fms > 50ms", all.Percentile(99) / 1000),
                          "error rate 0.0200 > 0.01"));
  EXPECT_EQ(report.threshold_failures(0), "p99 80.000ms > 50ms");
}

// Requests Stampede cut off itself when a run was stopped are records of their class, not
// errors of the service: they count neither in errors nor against an error-rate threshold.
TEST(RunAggregatorTest, AbortedRequestsAreNotErrorsOfTheService) {
  Plan plan;
  plan.mutable_thresholds()->set_error_rate(0.05);
  RunAggregator aggregator("run", plan, kOrigin);
  std::vector<TestRecord> recs;
  for (int i = 0; i < 90; ++i) recs.push_back({i * kMs, 2000});
  for (int i = 0; i < 10; ++i) recs.push_back({(90 + i) * kMs, 500, 0, ERROR_ABORTED});
  recs.push_back({100 * kMs, 2000, 503, ERROR_HTTP_5XX});
  const AgentMeta a = Agent("a", "a", "r", 0, 0);
  for (const RecordBatch& batch : MakeBatches(a, recs)) aggregator.AddBatch(a, batch);
  const RunReport report = aggregator.Report();
  EXPECT_EQ(report.totals().requests(), 101u);
  EXPECT_EQ(report.totals().errors(), 1u);
  EXPECT_EQ(report.totals().by_error().at("aborted"), 10u);
  EXPECT_EQ(report.totals().by_error().at("http_5xx"), 1u);
  EXPECT_THAT(report.threshold_failures(), IsEmpty());  // 1 in 101, not 11 in 101
  const std::string text = FormatReportText(report);
  EXPECT_THAT(text, testing::HasSubstr("errors: http_5xx: 1\n"));
  EXPECT_THAT(text, testing::HasSubstr("aborted: 10 (in flight when the run was stopped"));
}

TEST(RunAggregatorTest, ThresholdsWithinLimitsPass) {
  Plan plan;
  plan.mutable_thresholds()->set_p99_ms(50);
  plan.mutable_thresholds()->set_error_rate(0.05);
  RunAggregator aggregator("run", plan, kOrigin);
  std::vector<TestRecord> recs;
  for (int i = 0; i < 100; ++i) recs.push_back({i * kMs, 10'000});
  recs[0].error = ERROR_CONNECT;
  const AgentMeta a = Agent("a", "a", "r", 0, 0);
  for (const RecordBatch& batch : MakeBatches(a, recs)) aggregator.AddBatch(a, batch);
  const RunReport report = aggregator.Report();
  EXPECT_EQ(report.totals().errors(), 1u);
  EXPECT_THAT(report.threshold_failures(), IsEmpty());
}

TEST(RunAggregatorTest, EmptyRunListsDeclaredAgentsWithZeroTotals) {
  Plan plan = TestPlan();
  plan.mutable_thresholds()->set_p99_ms(1);
  RunAggregator aggregator("empty", plan, kOrigin);
  aggregator.AddAgent(Agent("a1", "one", "eastus", 5 * kMs, kMs));
  aggregator.AddAgent(Agent("a2", "two", "westeurope", 0, 0));
  const RunReport report = aggregator.Report();
  ASSERT_EQ(report.by_agent_size(), 2);
  EXPECT_EQ(report.by_agent(0).agent().clock_offset_ns(), 5 * kMs);
  EXPECT_EQ(report.by_agent(0).totals().requests(), 0u);
  EXPECT_EQ(report.by_agent(0).first_request_ns(), 0);
  EXPECT_EQ(report.totals().requests(), 0u);
  EXPECT_EQ(report.totals().first_start_ns(), 0);
  EXPECT_EQ(report.totals().last_end_ns(), 0);
  EXPECT_EQ(report.by_region_size(), 2);
  EXPECT_EQ(report.by_stage_size(), 3);
  EXPECT_THAT(report.timeline(), IsEmpty());
  EXPECT_THAT(report.threshold_failures(), IsEmpty());
  absl::StatusOr<Histogram> h = Histogram::FromProto(report.totals().latency());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(aggregator.requests(), 0u);
}

TEST(RunAggregatorTest, LiveProgressShowsTheLastCompleteSecondOnly) {
  RunAggregator aggregator("live", Plan(), kOrigin);
  const AgentMeta a = Agent("a", "a", "eastus", 0, 0);
  std::vector<TestRecord> recs;
  for (int i = 0; i < 10; ++i) recs.push_back({100 * kMs, 1000});             // second 0
  for (int i = 0; i < 20; ++i) recs.push_back({1000 * kMs + i * kMs, 1000});  // second 1
  for (int i = 0; i < 5; ++i) recs.push_back({2100 * kMs, 1000});             // second 2
  for (const RecordBatch& batch : MakeBatches(a, recs)) aggregator.AddBatch(a, batch);

  Progress p = aggregator.LiveProgress(kOrigin + 2500 * kMs);
  EXPECT_EQ(p.run_id(), "live");
  EXPECT_DOUBLE_EQ(p.elapsed_s(), 2.5);
  EXPECT_EQ(p.totals().requests(), 35u);  // totals include the second still filling
  ASSERT_TRUE(p.has_last_second());
  EXPECT_EQ(p.last_second().second(), 1);
  EXPECT_EQ(p.last_second().all().requests(), 20u);
  EXPECT_EQ(p.last_second().by_region().at("eastus").requests(), 20u);
  // Running totals per region, for the live table's region rows.
  EXPECT_EQ(p.totals_by_region().at("eastus").requests(), 35u);

  // Exactly at a second's boundary, the second just ended is complete.
  p = aggregator.LiveProgress(kOrigin + 3 * kSec);
  EXPECT_EQ(p.last_second().second(), 2);
  EXPECT_EQ(p.last_second().all().requests(), 5u);

  // During the first second nothing is complete yet.
  p = aggregator.LiveProgress(kOrigin + 999 * kMs);
  EXPECT_FALSE(p.has_last_second());
  EXPECT_EQ(p.totals().requests(), 35u);
}

TEST(RunAggregatorTest, LateAndDroppedAreCountedPerAgent) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  const AgentMeta a = Agent("a", "a", "eastus", 0, 0);
  const AgentMeta b = Agent("b", "b", "westus", 0, 0);
  RecordBatch counters_only;  // an open-model batch can carry counters and no records
  counters_only.set_late(7);
  counters_only.set_dropped(3);
  aggregator.AddBatch(a, counters_only);
  aggregator.AddBatch(a, counters_only);
  counters_only.set_late(1);
  counters_only.set_dropped(0);
  aggregator.AddBatch(b, counters_only);
  const RunReport report = aggregator.Report();
  EXPECT_EQ(report.by_agent(0).totals().late(), 14u);
  EXPECT_EQ(report.by_agent(0).totals().dropped(), 6u);
  EXPECT_EQ(report.by_region().at("westus").late(), 1u);
  EXPECT_EQ(report.totals().late(), 15u);
  EXPECT_EQ(report.totals().dropped(), 6u);
  EXPECT_EQ(aggregator.LiveProgress(kOrigin).totals().late(), 15u);
}

TEST(RunAggregatorTest, MalformedBatchesAreCountedNotFatal) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  RecordBatch b;
  b.set_base_time_ns(kOrigin);
  for (int i = 0; i < 3; ++i) {
    b.add_start_offset_ns(i * kMs);
    b.add_latency_us(1000);
  }
  // Short columns, a status no HTTP server sends and an error class from a newer agent.
  b.add_status(999);
  b.add_error(static_cast<ErrorClass>(99));
  b.add_stage(4);
  aggregator.AddBatch(Agent("a", "a", "r", 0, 0), b);
  const Aggregate totals = aggregator.Report().totals();
  EXPECT_EQ(totals.requests(), 3u);
  EXPECT_EQ(totals.errors(), 1u);
  EXPECT_EQ(totals.by_status().at(999), 1u);
  EXPECT_EQ(totals.by_status().at(0), 2u);
  EXPECT_EQ(totals.by_error().at("unknown"), 1u);
  EXPECT_EQ(aggregator.Report().by_stage().at(4).requests(), 1u);
}

TEST(RunAggregatorTest, UndeclaredAgentIsAddedByItsFirstBatch) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  aggregator.AddAgent(Agent("a1", "one", "eastus", 0, 0));
  RecordBatch b;
  b.set_base_time_ns(kOrigin);
  b.add_start_offset_ns(0);
  b.add_latency_us(1000);
  aggregator.AddBatch(Agent("a2", "two", "westus", 7 * kMs, 0), b);
  // A re-estimated offset replaces the old one in the report.
  aggregator.AddBatch(Agent("a2", "two", "westus", 9 * kMs, kMs), b);
  const RunReport report = aggregator.Report();
  ASSERT_EQ(report.by_agent_size(), 2);
  EXPECT_EQ(report.by_agent(1).agent().name(), "two");
  EXPECT_EQ(report.by_agent(1).agent().clock_offset_ns(), 9 * kMs);
  EXPECT_EQ(report.by_agent(1).totals().requests(), 2u);
  EXPECT_EQ(report.by_agent(0).totals().requests(), 0u);
}

TEST(RunAggregatorTest, ConcurrentBatchesAreAllCounted) {
  RunAggregator aggregator("run", Plan(), kOrigin);
  constexpr int kThreads = 4;
  std::vector<AgentMeta> agents;
  std::vector<std::vector<RecordBatch>> batches;
  Histogram all;
  for (int t = 0; t < kThreads; ++t) {
    agents.push_back(Agent(absl::StrFormat("a%d", t), "n", t % 2 ? "odd" : "even", t * kMs, 0));
    const std::vector<TestRecord> recs = RecordsFor(t, 5000, t == 3);
    for (const TestRecord& r : recs) all.Record(r.latency_us);
    batches.push_back(MakeBatches(agents[t], recs, 100));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const RecordBatch& b : batches[t]) {
        aggregator.AddBatch(agents[t], b);
        // Readers run alongside the writers, as Watch streams do during a run.
        if (b.seq() % 10 == 0) aggregator.LiveProgress(kOrigin + 2 * kSec);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(aggregator.requests(), 20000u);
  ExpectSameLatency(aggregator.Report().totals().latency(), all);
}

TEST(SparseHistogramTest, MergeAndProtoMatchTheDenseHistogram) {
  using aggregator_internal::SparseHistogram;
  Histogram a, b, both;
  for (uint32_t v = 1; v < 5000; v += 3) {
    a.Record(v);
    both.Record(v);
  }
  for (uint32_t v = 2; v < 90000; v += 37) {
    b.Record(v);
    both.Record(v);
  }
  // Also a bucket both sides have, whose counts must add up.
  b.Record(1);
  both.Record(1);
  SparseHistogram s = SparseHistogram::FromProto(a.ToProto());
  EXPECT_TRUE(MessageDifferencer::Equals(s.ToProto(), a.ToProto()));
  s.Merge(SparseHistogram::FromProto(b.ToProto()));
  s.Merge(SparseHistogram());  // merging nothing changes nothing
  EXPECT_TRUE(MessageDifferencer::Equals(s.ToProto(), both.ToProto()));
  SparseHistogram empty;
  EXPECT_TRUE(MessageDifferencer::Equals(empty.ToProto(), Histogram().ToProto()));
  empty.Merge(s);
  EXPECT_TRUE(MessageDifferencer::Equals(empty.ToProto(), both.ToProto()));
}

// Not a pass/fail benchmark (the machine is shared), but prints the rate so that a regression in
// per-record cost shows: the coordinator must keep up with >= 500k records/s on one core.
TEST(RunAggregatorTest, AggregationRate) {
  RunAggregator aggregator("rate", Plan(), kOrigin);
  const AgentMeta agent = Agent("a", "a", "r", 12 * kMs, 0);
  // 200k records over 20 s in batches of 1000, latencies over several octaves, some errors.
  std::vector<TestRecord> recs;
  for (int i = 0; i < 200'000; ++i) {
    TestRecord r{static_cast<int64_t>(i) * 100'000,
                 500 + static_cast<uint32_t>(i * 7919 % 400'000)};
    if (i % 40 == 0) {
      r.status = 503;
      r.error = ERROR_HTTP_5XX;
    }
    r.stage = i < 100'000 ? 0 : 1;
    recs.push_back(r);
  }
  const std::vector<RecordBatch> batches = MakeBatches(agent, recs, 1000);
  constexpr int kRounds = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (const RecordBatch& b : batches) aggregator.AddBatch(agent, b);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double records = static_cast<double>(recs.size()) * kRounds;
  std::printf("[ rate     ] AddBatch: %.0f records/s (%.0f records in %.3f s)\n", records / seconds,
              records, seconds);
  const auto report_start = std::chrono::steady_clock::now();
  const RunReport report = aggregator.Report();
  std::printf(
      "[ rate     ] Report: %.3f s for %d timeline points\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - report_start).count(),
      report.timeline_size());
  EXPECT_EQ(aggregator.requests(), recs.size() * kRounds);
  EXPECT_EQ(report.timeline_size(), 20);
}

TEST(SparseHistogramCoarsen, FoldsEachGroupOntoItsMiddleBucket) {
  aggregator_internal::SparseHistogram h;
  h.count = 10;
  h.index = {0, 1, 7, 8, 9, 15, 16, 100};
  h.bucket_count = {1, 1, 1, 2, 1, 1, 2, 1};
  h.Coarsen(3);
  EXPECT_EQ(h.index, (std::vector<uint32_t>{4, 12, 20, 100}));
  EXPECT_EQ(h.bucket_count, (std::vector<uint64_t>{3, 4, 2, 1}));
  EXPECT_EQ(h.count, 10u);
}

}  // namespace
}  // namespace stampede
