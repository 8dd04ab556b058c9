// The agent link's timing decisions, on a FakeClock: the waits between reconnects (doubling from
// the minimum to the maximum, back to the minimum after a connection that worked for a while)
// and when a heartbeat is due (nothing written for the interval). Nothing sleeps.
#include <gtest/gtest.h>

#include <vector>

#include "absl/time/time.h"
#include "agent/heartbeat_pacer.h"
#include "agent/reconnect_backoff.h"
#include "common/clock.h"

namespace stampede {
namespace {

constexpr int64_t kMs = 1'000'000;

// The link's defaults: 100 ms up to 5 s, reset after a connection of more than 10 s.
ReconnectBackoff DefaultBackoff(const Clock* clock) {
  return ReconnectBackoff(absl::Milliseconds(100), absl::Seconds(5), absl::Seconds(10), clock);
}

// One failed attempt taking `lasted_ns` on the clock; returns the wait after it.
absl::Duration Attempt(ReconnectBackoff& backoff, FakeClock& clock, int64_t lasted_ns) {
  backoff.ConnectionStarted();
  clock.AdvanceNs(lasted_ns);
  return backoff.ConnectionEnded();
}

TEST(ReconnectBackoff, QuickFailuresDoubleTheWaitUpToTheMaximum) {
  FakeClock clock;
  ReconnectBackoff backoff = DefaultBackoff(&clock);
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(Attempt(backoff, clock, 3 * kMs));
  const std::vector<absl::Duration> expected = {
      absl::Milliseconds(100), absl::Milliseconds(200),  absl::Milliseconds(400),
      absl::Milliseconds(800), absl::Milliseconds(1600), absl::Milliseconds(3200),
      absl::Seconds(5),        absl::Seconds(5),         absl::Seconds(5)};
  EXPECT_EQ(waits, expected);
}

TEST(ReconnectBackoff, ALinkThatWorkedForLongerThanTenSecondsResetsTheWait) {
  FakeClock clock;
  ReconnectBackoff backoff = DefaultBackoff(&clock);
  for (int i = 0; i < 5; ++i) Attempt(backoff, clock, kMs);  // 100 ms .. 1.6 s
  // Exactly 10 s is not yet a working link: the backoff keeps growing.
  EXPECT_EQ(Attempt(backoff, clock, 10'000 * kMs), absl::Milliseconds(3200));
  // A connection of 10 s and a bit was: start over from the minimum, then double again.
  EXPECT_EQ(Attempt(backoff, clock, 10'001 * kMs), absl::Milliseconds(100));
  EXPECT_EQ(Attempt(backoff, clock, kMs), absl::Milliseconds(200));
  EXPECT_EQ(Attempt(backoff, clock, kMs), absl::Milliseconds(400));
}

TEST(ReconnectBackoff, TimeSpentWaitingDoesNotCountAsConnected) {
  FakeClock clock;
  ReconnectBackoff backoff = DefaultBackoff(&clock);
  for (int i = 0; i < 7; ++i) {
    const absl::Duration wait = Attempt(backoff, clock, kMs);
    clock.AdvanceNs(absl::ToInt64Nanoseconds(wait) + 20'000 * kMs);  // a long wait, then retry
  }
  // Only the attempt itself (1 ms) is measured: still the maximum, no reset.
  EXPECT_EQ(Attempt(backoff, clock, kMs), absl::Seconds(5));
}

TEST(HeartbeatPacer, DueWhenNothingWasWrittenForTheInterval) {
  FakeClock clock(500 * kMs);
  HeartbeatPacer pacer(absl::Seconds(1), &clock);
  // Counts from construction (the connection's Register was just written).
  EXPECT_FALSE(pacer.Due());
  EXPECT_EQ(pacer.UntilDue(), absl::Seconds(1));
  clock.AdvanceNs(999 * kMs);
  EXPECT_FALSE(pacer.Due());
  EXPECT_EQ(pacer.UntilDue(), absl::Milliseconds(1));
  clock.AdvanceNs(kMs);
  EXPECT_TRUE(pacer.Due());
  EXPECT_EQ(pacer.UntilDue(), absl::ZeroDuration());
  clock.AdvanceNs(5'000 * kMs);  // long overdue: still zero, never negative
  EXPECT_TRUE(pacer.Due());
  EXPECT_EQ(pacer.UntilDue(), absl::ZeroDuration());
}

TEST(HeartbeatPacer, AnyWritePostponesTheHeartbeat) {
  FakeClock clock;
  HeartbeatPacer pacer(absl::Seconds(1), &clock);
  // Batches every 600 ms: no heartbeat is ever due.
  for (int i = 0; i < 10; ++i) {
    clock.AdvanceNs(600 * kMs);
    EXPECT_FALSE(pacer.Due()) << "after write " << i;
    pacer.Wrote();
    EXPECT_EQ(pacer.UntilDue(), absl::Seconds(1));
  }
  // Then silence: due one interval after the last write, not after the last wake-up.
  clock.AdvanceNs(400 * kMs);
  EXPECT_EQ(pacer.UntilDue(), absl::Milliseconds(600));
  clock.AdvanceNs(600 * kMs);
  EXPECT_TRUE(pacer.Due());
  pacer.Wrote();  // the heartbeat itself
  EXPECT_FALSE(pacer.Due());
  EXPECT_EQ(pacer.UntilDue(), absl::Seconds(1));
}

}  // namespace
}  // namespace stampede
