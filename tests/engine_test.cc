// End-to-end tests of the load engine against real servers on loopback: stampede-target and a
// server that misbehaves on purpose. The invariant checked everywhere: every request sent is
// exactly one record (sent = records = successes + errors).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/engine.h"
#include "agent/aggregator_sink.h"
#include "common/run_aggregator.h"
#include "common/plan_loader.h"
#include "tests/support/bad_server.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::BadServer;
using testing::Misbehaviour;

// Keeps every batch (and the records flattened) for inspection.
class CollectSink : public RecordSink {
 public:
  void Consume(const RecordBatch& b) override {
    absl::MutexLock lock(&mu_);
    batches_.push_back(b);
  }
  std::vector<RecordBatch> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  struct Row {
    int64_t start_ns;
    uint32_t latency_us, service_us, status, stage, bytes_sent;
    ErrorClass error;
  };
  std::vector<Row> rows() {
    std::vector<Row> out;
    for (const auto& b : batches()) {
      for (int i = 0; i < b.latency_us_size(); ++i) {
        out.push_back({b.start_offset_ns(i), b.latency_us(i), b.service_us(i), b.status(i),
                       b.stage(i), b.bytes_sent(i), b.error(i)});
      }
    }
    std::sort(out.begin(), out.end(),
              [](const Row& a, const Row& b) { return a.start_ns < b.start_ns; });
    return out;
  }
  uint64_t late() {
    uint64_t n = 0;
    for (const auto& b : batches()) n += b.late();
    return n;
  }

 private:
  absl::Mutex mu_;
  std::vector<RecordBatch> batches_ ABSL_GUARDED_BY(mu_);
};

Plan PlanFor(const std::string& url, const std::string& payload = "{\"x\":1}") {
  Plan plan;
  plan.set_name("test");
  plan.mutable_target()->set_url(url);
  plan.mutable_target()->set_method("POST");
  (*plan.mutable_target()->mutable_headers())["Content-Type"] = "application/json";
  plan.mutable_target()->mutable_timeout()->set_seconds(5);
  plan.mutable_target()->set_payload_file("payload.json");
  plan.mutable_target()->add_resolved_payloads(payload);
  // ctest runs this suite twice: with the native HTTP/1.1 transport and with libcurl.
  if (const char* client = std::getenv("STAMPEDE_TEST_CLIENT")) {
    plan.mutable_target()->set_client(client);
  }
  return plan;
}

Stage* Closed(Plan& plan, int concurrency, int64_t requests) {
  Stage* s = plan.add_stages();
  s->set_concurrency(concurrency);
  s->set_requests(requests);
  return s;
}

Stage* Open(Plan& plan, double rate, int64_t duration_ms) {
  Stage* s = plan.add_stages();
  s->set_rate(rate);
  s->mutable_duration()->set_seconds(duration_ms / 1000);
  s->mutable_duration()->set_nanos(static_cast<int32_t>((duration_ms % 1000) * 1'000'000));
  return s;
}

std::string Url(int port) { return absl::StrCat("http://127.0.0.1:", port, "/score"); }

void RunPlan(const Plan& plan, RecordSink* sink, int threads = 2) {
  EngineOptions options;
  options.threads = threads;
  Engine engine(plan, options, sink);
  ASSERT_TRUE(engine.Run().ok());
}

std::map<ErrorClass, int> CountErrors(const std::vector<CollectSink::Row>& rows) {
  std::map<ErrorClass, int> out;
  for (const auto& r : rows) ++out[r.error];
  return out;
}

TEST(Engine, ClosedRequestCountIsExactAndEveryRequestIsOneRecord) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok()) << server.status();
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 5, 1001);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  EXPECT_EQ(rows.size(), 1001u);
  EXPECT_EQ((*server)->requests_seen(), 1001u);  // sent = records
  for (const auto& r : rows) {
    ASSERT_EQ(r.status, 200u);
    ASSERT_EQ(r.error, ERROR_NONE);
    ASSERT_GE(r.bytes_sent, 7u);  // headers + the 7-byte payload
  }
  // Keep-alive: 5 virtual users need at most 5 connections (plus none per request).
  EXPECT_LE((*server)->connections_accepted(), 5u);
  // Batches are numbered 0..n-1 with no gaps.
  std::vector<uint64_t> seqs;
  for (const auto& b : sink.batches()) seqs.push_back(b.seq());
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i);
}

TEST(Engine, StagesChangeAtTheRightRecords) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 1, 50);
  Closed(plan, 4, 200);
  Open(plan, 400, 500);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  std::map<uint32_t, int> per_stage;
  int64_t last_start[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
  int64_t first_start[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
  for (const auto& r : rows) {
    ++per_stage[r.stage];
    last_start[r.stage] = std::max(last_start[r.stage], r.start_ns);
    first_start[r.stage] = std::min(first_start[r.stage], r.start_ns);
  }
  EXPECT_EQ(per_stage[0], 50);
  EXPECT_EQ(per_stage[1], 200);
  EXPECT_EQ(per_stage[2], 200);  // 400/s for 0.5 s, constant arrivals: exactly 200
  // Request-count stages end together: no stage-1 request starts before stage 0 is over.
  EXPECT_LT(last_start[0], first_start[1]);
  EXPECT_LT(last_start[1], first_start[2]);
  EXPECT_EQ((*server)->requests_seen(), rows.size());
}

TEST(Engine, ThinkTimePacesEachUser) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Stage* s = Closed(plan, 2, 20);
  s->mutable_think_time()->set_nanos(50'000'000);  // 50 ms between a response and the next send
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 20u);
  // 2 users x 10 requests each, 50 ms apart: the last starts >= 9 x 50 ms after the first.
  EXPECT_GE(rows.back().start_ns - rows.front().start_ns, 9 * 50'000'000 - 5'000'000);
  EXPECT_LT(rows.back().start_ns - rows.front().start_ns, 2'000'000'000);
}

TEST(Engine, ClosedRampAddsUsersOverTheStage) {
  // Each response takes ~1 s (200 bytes at one per 5 ms), longer than the 0.8 s stage, so each
  // user sends exactly one request and its start shows when the ramp added that user.
  auto server = BadServer::Start(Misbehaviour::kTrickle);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Stage* s = plan.add_stages();
  s->set_concurrency(1);
  s->set_ramp_to(8);
  s->mutable_duration()->set_nanos(800'000'000);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 8u);
  // Users = round(1 + 7 t / 0.8 s): user k (k = 2..8) joins at t = (k - 1.5) / 7 x 0.8 s.
  for (size_t k = 2; k <= 8; ++k) {
    const double joins_ms = (static_cast<double>(k) - 1.5) / 7.0 * 800.0;
    EXPECT_NEAR(rows[k - 1].start_ns / 1e6, joins_ms, 40.0) << "user " << k;
  }
  EXPECT_LT(rows.front().start_ns, 5'000'000);  // the first user at once (its actual send time)
}

TEST(Engine, OpenRateIsHeldOverTheStage) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Open(plan, 1000, 1000)->set_arrival("poisson");
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  // Poisson with mean 1000: within 4 sigma (~126).
  EXPECT_NEAR(static_cast<double>(rows.size()), 1000.0, 130.0);
  // Intended start times lie inside the stage.
  EXPECT_GE(rows.front().start_ns, 0);
  EXPECT_LT(rows.back().start_ns, 1'000'000'000);
}

struct FaultCase {
  const char* name;
  Misbehaviour misbehaviour;
  std::vector<ErrorClass> expected;  // any of these
  uint32_t status;
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

class EngineFaults : public ::testing::TestWithParam<FaultCase> {};

TEST_P(EngineFaults, EveryFailedRequestIsOneErrorRecordOfTheRightClass) {
  const FaultCase& c = GetParam();
  auto server = BadServer::Start(c.misbehaviour);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 3, 60);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 60u);
  for (const auto& r : rows) {
    EXPECT_THAT(c.expected, ::testing::Contains(r.error)) << c.name;
    EXPECT_EQ(r.status, c.status) << c.name;
  }
  EXPECT_EQ((*server)->requests_seen(), 60u) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Misbehaviours, EngineFaults,
    ::testing::Values(
        FaultCase{"503", Misbehaviour::kStatus, {ERROR_HTTP_5XX}, 503},
        FaultCase{"close before response", Misbehaviour::kCloseBeforeResponse, {ERROR_RESET}, 0},
        FaultCase{"close mid response", Misbehaviour::kCloseMidResponse, {ERROR_RESET}, 200},
        // libcurl reports a reset that races the end of its send phase as a send error.
        FaultCase{"reset", Misbehaviour::kResetAfterRequest, {ERROR_RESET, ERROR_SEND}, 0},
        FaultCase{"garbage", Misbehaviour::kGarbage, {ERROR_PROTOCOL}, 0}),
    [](const auto& info) {
      std::string name = info.param.name;
      std::replace(name.begin(), name.end(), ' ', '_');
      return name;
    });

TEST(Engine, RefusedConnectionsAreConnectErrors) {
  auto port = testing::ClosedPort();
  ASSERT_TRUE(port.ok());
  Plan plan = PlanFor(Url(*port));
  Closed(plan, 2, 100);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 100u);
  EXPECT_EQ(CountErrors(rows)[ERROR_CONNECT], 100);
}

TEST(Engine, StalledServerGivesTimeoutsAfterThePlanTimeout) {
  auto server = BadServer::Start(Misbehaviour::kStall);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  plan.mutable_target()->mutable_timeout()->set_seconds(0);
  plan.mutable_target()->mutable_timeout()->set_nanos(200'000'000);
  Closed(plan, 2, 4);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.error, ERROR_TIMEOUT);
    EXPECT_GE(r.latency_us, 195'000u);
  }
}

TEST(Engine, SlowTrickleIsASlowSuccess) {
  testing::BadServerOptions options;
  options.trickle_interval = std::chrono::milliseconds(1);
  auto server = BadServer::Start(Misbehaviour::kTrickle, options);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 2, 4);
  CollectSink sink;
  RunPlan(plan, &sink);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    EXPECT_EQ(r.error, ERROR_NONE);
    EXPECT_GE(r.latency_us, 150'000u);  // 200 body bytes at one per ms
  }
}

// The wrk2 check: when the server stalls, an open-model run keeps its schedule, so requests due
// during the stall wait and their latency (from the intended send time) includes the wait.
TEST(Engine, OpenModelLatencyIncludesAServerStall) {
  int port = 0;
  auto target = testing::StartTarget(
      {"--service-ms", "1", "--concurrency", "64", "--queue", "1000", "--stall-after", "100",
       "--stall-ms", "500"},
      &port);
  ASSERT_TRUE(target.ok()) << target.status();
  Plan plan = PlanFor(Url(port));
  Stage* s = Open(plan, 200, 2000);
  s->set_max_in_flight(2);  // like a client with two connections: it cannot hide the stall
  CollectSink sink;
  RunPlan(plan, &sink, 1);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 400u);
  int slow = 0;
  uint32_t worst = 0;
  for (const auto& r : rows) {
    if (r.latency_us >= 250'000) ++slow;
    worst = std::max(worst, r.latency_us);
  }
  // ~100 requests are due during the 500 ms stall; their waits run from ~500 ms down to 0, so
  // about half exceed 250 ms. A coordinated-omission-blind client would show one or two.
  EXPECT_GE(slow, 35);
  EXPECT_GE(worst, 450'000u);
  EXPECT_GT(sink.late(), 50u);
}

// A closed model cannot send during a stall; it must still record the stalled request, not lose
// it, and the count stays exact.
TEST(Engine, ClosedModelRecordsTheStalledRequest) {
  int port = 0;
  auto target = testing::StartTarget(
      {"--service-ms", "1", "--stall-after", "20", "--stall-ms", "400"}, &port);
  ASSERT_TRUE(target.ok()) << target.status();
  Plan plan = PlanFor(Url(port));
  Closed(plan, 1, 60);
  CollectSink sink;
  RunPlan(plan, &sink, 1);
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 60u);
  int slow = 0;
  for (const auto& r : rows) slow += r.latency_us >= 350'000 ? 1 : 0;
  EXPECT_EQ(slow, 1);
}

TEST(Engine, StopTurnsInFlightRequestsIntoAbortedRecords) {
  auto server = BadServer::Start(Misbehaviour::kStall);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 4, 100);
  CollectSink sink;
  EngineOptions options;
  options.threads = 2;
  Engine engine(plan, options, &sink);
  std::thread stopper([&] {
    // Poll until the stalled server holds all four requests, then stop.
    for (int i = 0; i < 5000 && (*server)->requests_seen() < 4; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine.Stop();
  });
  ASSERT_TRUE(engine.Run().ok());
  stopper.join();
  const auto rows = sink.rows();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(CountErrors(rows)[ERROR_ABORTED], 4);
  EXPECT_EQ((*server)->requests_seen(), 4u);
}

TEST(Engine, BatchesLeaveByTimeNotOnlyBySize) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Open(plan, 50, 1000);
  CollectSink sink;
  RunPlan(plan, &sink, 1);
  // 50 records over 1 s with a 100 ms flush interval: several small batches, not one.
  EXPECT_GE(sink.batches().size(), 5u);
  EXPECT_EQ(sink.rows().size(), 50u);
}

// The single-client report's path: the engine's batches merged by the run aggregator.
TEST(Engine, MergedReportMatchesTheRecords) {
  auto server = BadServer::Start(Misbehaviour::kOk);
  ASSERT_TRUE(server.ok());
  Plan plan = PlanFor(Url((*server)->port()));
  Closed(plan, 2, 300);
  CollectSink collect;
  RunAggregator aggregator("local", plan, 0);
  AggregatorSink merged(&aggregator, AgentMeta{"local", "local", "local"});
  TeeSink tee({&collect, &merged});
  RunPlan(plan, &tee);
  const Aggregate totals = aggregator.Report().totals();
  EXPECT_EQ(totals.requests(), 300u);
  EXPECT_EQ(totals.requests(), collect.rows().size());
  EXPECT_EQ(totals.errors(), 0u);
  EXPECT_EQ(totals.by_status().at(200), 300u);
  EXPECT_EQ(totals.latency().count(), 300u);
  EXPECT_EQ(totals.service().count(), 300u);
}

TEST(Engine, RejectsAPlanItCannotRun) {
  Plan plan = PlanFor("http://127.0.0.1:1/score");
  // No stages: invalid.
  CollectSink sink;
  Engine engine(plan, EngineOptions{}, &sink);
  absl::Status s = engine.Run();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("stages"));
}

}  // namespace
}  // namespace stampede
