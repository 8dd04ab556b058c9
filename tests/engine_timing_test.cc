// The load model in simulated time: the engine runs on a FakeClock with a fake transport (every
// request answered after a set service time) and a waiter that moves the clock to the loop's next
// deadline instead of sleeping. Stage boundaries, ramps, arrivals, think time, the stage gate,
// late sends and timeouts-by-stall are then exact to the nanosecond, and a 20-second plan runs in
// milliseconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/engine.h"
#include "agent/loop_waiter.h"
#include "agent/transport.h"
#include "common/clock.h"

namespace stampede {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStart = 1000 * kSecond;  // the fake clock's "now" when the run starts

// Answers every request after service(n) (n: the request's number, from 0), with a 200.
class FakeTransport final : public Transport {
 public:
  FakeTransport(TransportCallbacks* callbacks, const std::function<int64_t(uint64_t)>* service)
      : callbacks_(callbacks), service_(service) {}

  void Start(uint64_t cookie, uint64_t /*payload*/, int64_t now) override {
    pending_.emplace(now + (*service_)(started_++), cookie);
  }
  void OnEvent(epoll_data_t, uint32_t, int64_t) override { ADD_FAILURE() << "no sockets here"; }
  void RunDue(int64_t now) override {
    while (!pending_.empty() && pending_.begin()->first <= now) {
      auto [due, cookie] = *pending_.begin();
      pending_.erase(pending_.begin());
      callbacks_->Done(cookie, TransportResult{ERROR_NONE, 200, 100, 50}, due);
    }
  }
  int64_t NextDeadline(int64_t) override {
    return pending_.empty() ? INT64_MAX : pending_.begin()->first;
  }
  void AbortAll(int64_t now) override {
    for (const auto& [due, cookie] : pending_) {
      callbacks_->Done(cookie, TransportResult{ERROR_ABORTED, 0, 0, 0}, now);
    }
    pending_.clear();
  }

 private:
  TransportCallbacks* const callbacks_;
  const std::function<int64_t(uint64_t)>* const service_;
  uint64_t started_ = 0;
  std::multimap<int64_t, uint64_t> pending_;  // due -> cookie
};

class FakeTransportFactory final : public TransportFactory {
 public:
  explicit FakeTransportFactory(std::function<int64_t(uint64_t)> service)
      : service_(std::move(service)) {}
  TransportKind kind() const override { return TransportKind::kHttp1; }
  absl::StatusOr<std::unique_ptr<Transport>> Create(int, TransportCallbacks* callbacks,
                                                    const Clock*) const override {
    return std::unique_ptr<Transport>(new FakeTransport(callbacks, &service_));
  }

 private:
  const std::function<int64_t(uint64_t)> service_;
};

// Jumps the fake clock to the loop's deadline: simulated time, no sleeping.
class JumpingWaiter final : public LoopWaiter {
 public:
  explicit JumpingWaiter(FakeClock* clock) : clock_(clock) {}
  int Wait(int, epoll_event*, int, int64_t deadline_ns) override {
    if (deadline_ns == INT64_MAX) {
      // Nothing left to wait for but sockets, and there are none: the loop would hang.
      ADD_FAILURE() << "the worker waited with no deadline at " << clock_->MonotonicNs();
      clock_->AdvanceNs(kSecond);
      return 0;
    }
    if (deadline_ns > clock_->MonotonicNs()) clock_->SetNs(deadline_ns);
    return 0;
  }

 private:
  FakeClock* const clock_;
};

class Records final : public RecordSink {
 public:
  struct Row {
    int64_t start_ns;  // from the run's start
    int64_t latency_ns;
    int64_t service_ns;
    uint32_t stage;
    ErrorClass error;
  };
  void Consume(const RecordBatch& b) override {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < b.latency_us_size(); ++i) {
      rows_.push_back({b.start_offset_ns(i), int64_t{b.latency_us(i)} * 1000,
                       int64_t{b.service_us(i)} * 1000, b.stage(i), b.error(i)});
    }
    late_ += b.late();
    dropped_ += b.dropped();
  }
  std::vector<Row> rows() const {
    absl::MutexLock lock(&mu_);
    std::vector<Row> sorted = rows_;
    std::sort(sorted.begin(), sorted.end(),
              [](const Row& a, const Row& b) { return a.start_ns < b.start_ns; });
    return sorted;
  }
  uint64_t late() const {
    absl::MutexLock lock(&mu_);
    return late_;
  }
  uint64_t dropped() const {
    absl::MutexLock lock(&mu_);
    return dropped_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Row> rows_ ABSL_GUARDED_BY(mu_);
  uint64_t late_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

google::protobuf::Duration Seconds(double s) {
  google::protobuf::Duration d;
  const auto ns = static_cast<int64_t>(s * 1e9);
  d.set_seconds(ns / kSecond);
  d.set_nanos(static_cast<int32_t>(ns % kSecond));
  return d;
}

Plan BasePlan() {
  Plan plan;
  plan.set_name("simulated");
  plan.mutable_target()->set_url("http://127.0.0.1:9/score");
  return plan;
}

// Runs `plan` on one worker in simulated time; every request takes service(n).
std::vector<Records::Row> Simulate(const Plan& plan, std::function<int64_t(uint64_t)> service,
                                   Records* records, FakeClock* clock) {
  FakeTransportFactory transport(std::move(service));
  JumpingWaiter waiter(clock);
  EngineOptions options;
  options.threads = 1;
  options.transport = &transport;
  options.waiter = &waiter;
  Engine engine(plan, options, records, clock);
  const absl::Status status = engine.Run(kStart);
  EXPECT_TRUE(status.ok()) << status;
  return records->rows();
}

std::function<int64_t(uint64_t)> Fixed(int64_t ns) {
  return [ns](uint64_t) { return ns; };
}

TEST(EngineTiming, DurationStagesEndAtTheirBoundariesExactly) {
  Plan plan = BasePlan();
  Stage* a = plan.add_stages();
  a->set_concurrency(2);
  *a->mutable_duration() = Seconds(10);
  Stage* b = plan.add_stages();
  b->set_concurrency(4);
  *b->mutable_duration() = Seconds(5);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(100 * kMs), &records, &clock);
  // 2 users x 10 s / 100 ms, then 4 users x 5 s / 100 ms; no request outlives its stage's start
  // window, and the run ends when the last response is in.
  std::map<uint32_t, int> per_stage;
  for (const auto& r : rows) {
    ++per_stage[r.stage];
    const int64_t begin = r.stage == 0 ? 0 : 10 * kSecond;
    const int64_t end = r.stage == 0 ? 10 * kSecond : 15 * kSecond;
    EXPECT_GE(r.start_ns, begin);
    EXPECT_LT(r.start_ns, end);
    EXPECT_EQ(r.latency_ns, 100 * kMs);
  }
  EXPECT_EQ(per_stage[0], 200);
  EXPECT_EQ(per_stage[1], 200);
  EXPECT_EQ(rows.back().start_ns, 15 * kSecond - 100 * kMs);
  EXPECT_EQ(clock.MonotonicNs(), kStart + 15 * kSecond);
}

TEST(EngineTiming, ClosedRampAddsAUserEverySecond) {
  // 1 -> 11 users over 10 s, each request 1 s: user i (i >= 1) joins when llround(1 + t) > i,
  // at t = i - 0.5 s (within the 1 ms ramp tick), and sends 11 - i requests.
  Plan plan = BasePlan();
  Stage* s = plan.add_stages();
  s->set_concurrency(1);
  s->set_ramp_to(11);
  *s->mutable_duration() = Seconds(10);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(kSecond), &records, &clock);
  EXPECT_EQ(rows.size(), 10u + 55u);
  int at_whole = 0, at_half = 0;
  for (const auto& r : rows) {
    const int64_t into_second = r.start_ns % kSecond;
    if (into_second == 0) {
      ++at_whole;
    } else {
      EXPECT_GE(into_second, 500 * kMs);
      EXPECT_LE(into_second, 501 * kMs) << "a user joins within one ramp tick of its time";
      ++at_half;
    }
  }
  EXPECT_EQ(at_whole, 10);  // the first user
  EXPECT_EQ(at_half, 55);
}

TEST(EngineTiming, OpenArrivalsAreExactlyOnScheduleAndNeverLate) {
  Plan plan = BasePlan();
  Stage* s = plan.add_stages();
  s->set_rate(100);
  *s->mutable_duration() = Seconds(10);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(30 * kMs), &records, &clock);
  ASSERT_EQ(rows.size(), 1000u);
  for (size_t i = 0; i < rows.size(); ++i) {
    // Arrival times are computed in floating point: within a nanosecond of k x 10 ms.
    EXPECT_NEAR(rows[i].start_ns, static_cast<int64_t>(i) * 10 * kMs, 1) << i;
    EXPECT_EQ(rows[i].latency_ns, 30 * kMs);
    EXPECT_EQ(rows[i].service_ns, 30 * kMs);
  }
  EXPECT_EQ(records.late(), 0u);
}

TEST(EngineTiming, AStalledServerShowsInLatencyFromTheIntendedTime) {
  // 100 arrivals/s for 1 s, at most 10 in flight, every request takes 1 s: the first 10 go out on
  // time; the rest wait for a slot, go out late, and their latency counts from when they were
  // due (coordinated omission avoided), while service time counts from the actual send.
  Plan plan = BasePlan();
  Stage* s = plan.add_stages();
  s->set_rate(100);
  s->set_max_in_flight(10);
  *s->mutable_duration() = Seconds(1);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(kSecond), &records, &clock);
  ASSERT_EQ(rows.size(), 100u);
  EXPECT_EQ(records.late(), 90u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(rows[i].start_ns, static_cast<int64_t>(i) * 10 * kMs, 1) << i;
    EXPECT_EQ(rows[i].service_ns, kSecond) << i;
    // Request i is sent when request i - 10 answers: at (i / 10) s + (i % 10) x 10 ms. Records
    // keep microseconds.
    const int64_t sent = static_cast<int64_t>(i / 10) * kSecond + rows[i % 10].start_ns;
    EXPECT_NEAR(rows[i].latency_ns, sent + kSecond - rows[i].start_ns, 1000) << i;
  }
  EXPECT_NEAR(clock.MonotonicNs(), kStart + 10 * kSecond + 90 * kMs, 1);
}

TEST(EngineTiming, ThinkTimePacesEachUser) {
  Plan plan = BasePlan();
  Stage* s = plan.add_stages();
  s->set_concurrency(1);
  *s->mutable_think_time() = Seconds(0.9);
  *s->mutable_duration() = Seconds(10);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(100 * kMs), &records, &clock);
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].start_ns, static_cast<int64_t>(i) * kSecond);
  }
}

TEST(EngineTiming, ARequestCountStageHandsOverWhenItsLastResponseArrives) {
  // 30 requests by 3 users at 250 ms each end at 2.5 s; the duration stage that follows starts at
  // that instant, not at a loop turn or a poll after it.
  Plan plan = BasePlan();
  Stage* a = plan.add_stages();
  a->set_concurrency(3);
  a->set_requests(30);
  Stage* b = plan.add_stages();
  b->set_concurrency(1);
  *b->mutable_duration() = Seconds(1);
  FakeClock clock(kStart);
  Records records;
  const auto rows = Simulate(plan, Fixed(250 * kMs), &records, &clock);
  ASSERT_EQ(rows.size(), 30u + 4u);
  EXPECT_EQ(rows[29].stage, 0u);
  EXPECT_EQ(rows[29].start_ns, 2250 * kMs);
  EXPECT_EQ(rows[30].stage, 1u);
  EXPECT_EQ(rows[30].start_ns, 2500 * kMs);
  EXPECT_EQ(rows.back().start_ns, 3250 * kMs);
}

TEST(EngineTiming, StartWaitsForTheScheduledInstant) {
  Plan plan = BasePlan();
  Stage* s = plan.add_stages();
  s->set_concurrency(1);
  s->set_requests(1);
  FakeClock clock(kStart - 7 * kSecond);  // the start instant is 7 s away
  Records records;
  const auto rows = Simulate(plan, Fixed(kMs), &records, &clock);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].start_ns, 0) << "the record's time counts from the start instant";
  EXPECT_EQ(clock.MonotonicNs(), kStart + kMs);
}

}  // namespace
}  // namespace stampede
