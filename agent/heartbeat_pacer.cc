#include "agent/heartbeat_pacer.h"

#include <algorithm>

namespace stampede {

HeartbeatPacer::HeartbeatPacer(absl::Duration interval, const Clock* clock)
    : interval_ns_(absl::ToInt64Nanoseconds(interval)),
      clock_(clock),
      last_write_ns_(clock->MonotonicNs()) {}

void HeartbeatPacer::Wrote() { last_write_ns_ = clock_->MonotonicNs(); }

bool HeartbeatPacer::Due() const { return clock_->MonotonicNs() - last_write_ns_ >= interval_ns_; }

absl::Duration HeartbeatPacer::UntilDue() const {
  const int64_t left = last_write_ns_ + interval_ns_ - clock_->MonotonicNs();
  return absl::Nanoseconds(std::max<int64_t>(0, left));
}

}  // namespace stampede
