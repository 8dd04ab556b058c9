#include "common/clock.h"

#include <time.h>

namespace stampede {
namespace {
int64_t Read(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

int64_t RealClock::MonotonicNs() const { return Read(CLOCK_MONOTONIC); }
int64_t RealClock::WallNs() const { return Read(CLOCK_REALTIME); }

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

}  // namespace stampede
