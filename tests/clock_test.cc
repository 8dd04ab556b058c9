// The time seam: the real clock moves forward and agrees with the wall; the fake one moves only
// when told to, which is what lets clock-offset and scheduling code be tested exactly.
#include <gtest/gtest.h>

#include <chrono>

#include "common/clock.h"
#include "coordinator/clock_sync.h"

namespace stampede {
namespace {

TEST(RealClock, MonotonicNeverGoesBackAndWallIsUnixTime) {
  const Clock& clock = RealClock::Get();
  int64_t last = clock.MonotonicNs();
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = clock.MonotonicNs();
    ASSERT_GE(now, last);
    last = now;
  }
  const int64_t wall = clock.WallNs();
  const int64_t system = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_LT(std::abs(wall - system), 1'000'000'000);
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(100, 5'000);
  EXPECT_EQ(clock.MonotonicNs(), 100);
  EXPECT_EQ(clock.WallNs(), 5'100);
  clock.AdvanceNs(50);
  EXPECT_EQ(clock.MonotonicNs(), 150);
  EXPECT_EQ(clock.WallNs(), 5'150);
  clock.SetNs(1'000);
  EXPECT_EQ(clock.MonotonicNs(), 1'000);
}

TEST(ClockEstimator, RecoversTheOffsetAndKeepsTheBestRoundTrip) {
  // Agent clock = coordinator clock + 7 ms. Exchange 1: 2 ms each way. Exchange 2: 0.5 ms out,
  // 3.5 ms back (asymmetric: the offset estimate is off by 1.5 ms, its uncertainty 2 ms).
  const int64_t offset = 7'000'000;
  ClockEstimator e;
  e.AddSample(0, 2'000'000 + offset, 2'100'000 + offset, 4'100'000);
  auto best = e.Best();
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(best->offset_ns, offset);
  EXPECT_EQ(best->rtt_ns, 4'000'000);
  EXPECT_EQ(best->uncertainty_ns, 2'000'000);
  e.AddSample(10'000'000, 10'500'000 + offset, 10'600'000 + offset, 14'100'000);
  best = e.Best();
  EXPECT_EQ(best->rtt_ns, 4'000'000);  // same round trip: the first sample stays
  e.AddSample(20'000'000, 20'200'000 + offset, 20'300'000 + offset, 20'500'000);
  best = e.Best();
  EXPECT_EQ(best->rtt_ns, 400'000);  // a better sample wins
  EXPECT_EQ(best->offset_ns, offset);
  EXPECT_EQ(best->samples, 3);
  // A sample with a negative round trip (a clock stepped mid-exchange) is ignored.
  e.AddSample(30'000'000, 0, 0, 29'000'000);
  EXPECT_EQ(e.Best()->samples, 3);
}

}  // namespace
}  // namespace stampede
