// Unit tests of the engine's pure parts: arrival schedule, load split, error classes, record
// buffer, summary aggregation, CSV lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "agent/arrival_schedule.h"
#include "agent/csv_sink.h"
#include "agent/error_class.h"
#include "common/load_split.h"
#include "agent/record_buffer.h"
#include "agent/aggregator_sink.h"
#include "common/run_aggregator.h"

namespace stampede {
namespace {

using ::testing::HasSubstr;

int64_t CountArrivalsBefore(ArrivalSchedule& s, int64_t end_ns) {
  int64_t n = 0;
  while (s.Next() < end_ns) ++n;
  return n;
}

TEST(ArrivalSchedule, ConstantRateGivesExactCountAndSpacing) {
  ArrivalSchedule s(1000, 1000, 2'000'000'000, false, 0.0, 1);
  EXPECT_EQ(s.Next(), 0);
  EXPECT_EQ(s.Next(), 1'000'000);
  EXPECT_EQ(s.Next(), 2'000'000);
  ArrivalSchedule t(1000, 1000, 2'000'000'000, false, 0.0, 1);
  EXPECT_EQ(CountArrivalsBefore(t, 2'000'000'000), 2000);
}

TEST(ArrivalSchedule, PhaseShiftsConstantArrivals) {
  ArrivalSchedule s(1000, 1000, 0, false, 0.5, 1);
  EXPECT_EQ(s.Next(), 500'000);
  EXPECT_EQ(s.Next(), 1'500'000);
}

TEST(ArrivalSchedule, LinearRampDeliversTheAreaUnderTheRate) {
  // 500/s -> 1000/s over 10 s: (500 + 1000) / 2 * 10 = 7500 arrivals.
  ArrivalSchedule up(500, 1000, 10'000'000'000, false, 0.0, 1);
  EXPECT_NEAR(CountArrivalsBefore(up, 10'000'000'000), 7500, 1);
  ArrivalSchedule down(1000, 200, 4'000'000'000, false, 0.0, 1);
  EXPECT_NEAR(CountArrivalsBefore(down, 4'000'000'000), 2400, 1);
  // The instantaneous rate at the end is rate_to: gaps near the end are ~1 ms.
  ArrivalSchedule gaps(500, 1000, 10'000'000'000, false, 0.0, 1);
  int64_t prev = 0, last_gap = 0;
  for (int i = 0; i < 7499; ++i) {
    int64_t t = gaps.Next();
    last_gap = t - prev;
    prev = t;
  }
  EXPECT_NEAR(last_gap, 1'000'000, 10'000);
}

TEST(ArrivalSchedule, PoissonHasTheRightMeanAndVariance) {
  ArrivalSchedule s(2000, 2000, 0, true, 0.0, 42);
  // Count arrivals in 1000 windows of 10 ms: mean 20, variance 20 for a Poisson process.
  std::vector<int> counts(1000, 0);
  while (true) {
    int64_t t = s.Next();
    if (t >= 10'000'000'000) break;
    ++counts[static_cast<size_t>(t / 10'000'000)];
  }
  double mean = 0, var = 0;
  for (int c : counts) mean += c;
  mean /= counts.size();
  for (int c : counts) var += (c - mean) * (c - mean);
  var /= counts.size() - 1;
  EXPECT_NEAR(mean, 20, 0.6);
  EXPECT_NEAR(var, 20, 4);
}

TEST(LoadSplit, CountsAddUp) {
  for (int parts = 1; parts <= 7; ++parts) {
    for (int64_t total : {0, 1, 5, 100, 1001}) {
      int64_t sum = 0;
      for (int i = 0; i < parts; ++i) sum += SplitCount(total, parts, i);
      EXPECT_EQ(sum, total) << total << " over " << parts;
    }
  }
}

TEST(LoadSplit, ClosedRequestsFollowUsers) {
  Stage s;
  s.set_concurrency(3);
  s.set_requests(100);
  int64_t requests = 0, users = 0;
  for (int i = 0; i < 4; ++i) {
    Stage part = SplitStage(s, 4, i);
    if (part.concurrency() == 0) {
      EXPECT_EQ(part.requests(), 0) << "part " << i;
    }
    requests += part.requests();
    users += part.concurrency();
  }
  EXPECT_EQ(requests, 100);
  EXPECT_EQ(users, 3);
}

TEST(LoadSplit, OpenRateDivides) {
  Stage s;
  s.set_rate(900);
  s.set_ramp_to(1800);
  s.set_requests(10);
  Stage part = SplitStage(s, 3, 2);
  EXPECT_DOUBLE_EQ(part.rate(), 300);
  EXPECT_DOUBLE_EQ(part.ramp_to(), 600);
  EXPECT_EQ(part.requests(), 3);
}

TEST(ErrorClass, MapsTransportFailuresAndStatuses) {
  EXPECT_EQ(ClassifyResult(CURLE_OK, 200), ERROR_NONE);
  EXPECT_EQ(ClassifyResult(CURLE_OK, 302), ERROR_NONE);
  EXPECT_EQ(ClassifyResult(CURLE_OK, 404), ERROR_HTTP_4XX);
  EXPECT_EQ(ClassifyResult(CURLE_OK, 503), ERROR_HTTP_5XX);
  EXPECT_EQ(ClassifyResult(CURLE_OK, 0), ERROR_PROTOCOL);
  EXPECT_EQ(ClassifyResult(CURLE_COULDNT_CONNECT, 0), ERROR_CONNECT);
  EXPECT_EQ(ClassifyResult(CURLE_COULDNT_RESOLVE_HOST, 0), ERROR_DNS);
  EXPECT_EQ(ClassifyResult(CURLE_PEER_FAILED_VERIFICATION, 0), ERROR_TLS);
  EXPECT_EQ(ClassifyResult(CURLE_OPERATION_TIMEDOUT, 200), ERROR_TIMEOUT);
  EXPECT_EQ(ClassifyResult(CURLE_GOT_NOTHING, 0), ERROR_RESET);
  EXPECT_EQ(ClassifyResult(CURLE_PARTIAL_FILE, 200), ERROR_RESET);
  EXPECT_EQ(ClassifyResult(CURLE_WEIRD_SERVER_REPLY, 0), ERROR_PROTOCOL);
  EXPECT_EQ(ErrorClassName(ERROR_HTTP_5XX), "http_5xx");
  EXPECT_EQ(ErrorClassName(ERROR_ABORTED), "aborted");
}

class CollectSink : public RecordSink {
 public:
  void Consume(const RecordBatch& b) override { batches.push_back(b); }
  std::vector<RecordBatch> batches;
};

TEST(RecordBuffer, FlushesWhenFullAndNumbersBatches) {
  CollectSink sink;
  std::atomic<uint64_t> seq{0};
  RecordBuffer buffer("run", "agent", 1000, 3, 4, &seq, &sink);
  for (int i = 0; i < 10; ++i) {
    Record r;
    r.start_offset_ns = i;
    r.latency_us = 100 + i;
    r.status = 200;
    buffer.Add(r);
  }
  ASSERT_EQ(sink.batches.size(), 2u);  // two full batches of 4; 2 records pending
  EXPECT_EQ(buffer.size(), 2u);
  buffer.AddLate(5);
  buffer.Flush();
  ASSERT_EQ(sink.batches.size(), 3u);
  EXPECT_EQ(sink.batches[0].seq(), 0u);
  EXPECT_EQ(sink.batches[2].seq(), 2u);
  EXPECT_EQ(sink.batches[2].latency_us_size(), 2);
  EXPECT_EQ(sink.batches[2].late(), 5u);
  EXPECT_EQ(sink.batches[1].latency_us(3), 107u);
  EXPECT_EQ(sink.batches[0].worker(0), 3u);
  EXPECT_EQ(sink.batches[0].run_id(), "run");
  EXPECT_EQ(buffer.records_flushed(), 10u);
  buffer.Flush();  // nothing pending: no empty batch
  EXPECT_EQ(sink.batches.size(), 3u);
}

RecordBatch MakeBatch() {
  RecordBatch b;
  b.set_base_time_ns(1'000'000'000);
  auto add = [&](int64_t start, uint32_t lat, uint32_t status, ErrorClass e, uint32_t stage) {
    b.add_start_offset_ns(start);
    b.add_latency_us(lat);
    b.add_service_us(lat);
    b.add_status(status);
    b.add_error(e);
    b.add_bytes_sent(100);
    b.add_bytes_received(50);
    b.add_stage(stage);
    b.add_worker(0);
  };
  add(0, 1000, 200, ERROR_NONE, 0);
  add(500'000'000, 2000, 503, ERROR_HTTP_5XX, 0);
  add(1'000'000'000, 3000, 0, ERROR_CONNECT, 1);
  b.set_late(2);
  return b;
}

// A single-client run merges its batches with the coordinator's aggregator: counts, errors by
// class and status, stages, late sends, bytes and the span all come out of one place.
TEST(AggregatorSink, MergesBatchesLikeTheCoordinator) {
  Plan plan;
  plan.add_stages();
  plan.add_stages();
  RunAggregator aggregator("local", plan, 1'000'000'000);
  AggregatorSink sink(&aggregator, AgentMeta{"local", "local", "local"});
  sink.Consume(MakeBatch());
  sink.Consume(MakeBatch());
  const RunReport report = aggregator.Report();
  const Aggregate& t = report.totals();
  EXPECT_EQ(t.requests(), 6u);
  EXPECT_EQ(t.errors(), 4u);
  EXPECT_EQ(t.by_status().at(503), 2u);
  EXPECT_EQ(t.by_status().at(0), 2u);
  EXPECT_EQ(t.by_error().at("http_5xx"), 2u);
  EXPECT_EQ(t.by_error().at("connect"), 2u);
  EXPECT_EQ(t.by_error().count("none"), 0u);
  ASSERT_EQ(report.by_stage().size(), 2u);
  EXPECT_EQ(report.by_stage().at(1).requests(), 2u);
  EXPECT_EQ(t.late(), 4u);
  EXPECT_EQ(t.bytes_sent(), 600u);
  // Span: first start 1 s to last end 2 s + 3 ms (on the timeline of the batches' base time).
  EXPECT_EQ(t.last_end_ns() - t.first_start_ns(), 1'003'000'000);
  EXPECT_EQ(t.latency().max_us(), 3000);
  EXPECT_EQ(t.service().count(), 6u);
  ASSERT_EQ(report.by_agent_size(), 1);
  EXPECT_EQ(report.by_agent(0).agent().region(), "local");
}

TEST(CsvSink, OneLinePerRecordWithAbsoluteTimes) {
  const std::string lines = CsvSink::Format(MakeBatch());
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3);
  EXPECT_THAT(lines, HasSubstr("1000000000,1000,1000,200,none,100,50,0,0\n"));
  EXPECT_THAT(lines, HasSubstr("2000000000,3000,3000,0,connect,100,50,1,0\n"));
}

}  // namespace
}  // namespace stampede
