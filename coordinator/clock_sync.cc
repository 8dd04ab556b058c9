#include "coordinator/clock_sync.h"

namespace stampede {

void ClockEstimator::AddSample(int64_t t1, int64_t t2, int64_t t3, int64_t t4) {
  const int64_t rtt = (t4 - t1) - (t3 - t2);
  if (rtt < 0 || t4 < t1) return;
  ++samples_;
  if (!best_.has_value() || rtt < best_->rtt_ns) {
    ClockEstimate e;
    e.offset_ns = ((t2 - t1) + (t3 - t4)) / 2;
    e.rtt_ns = rtt;
    e.uncertainty_ns = rtt / 2;
    best_ = e;
  }
  best_->samples = samples_;
}

std::optional<ClockEstimate> ClockEstimator::Best() const { return best_; }

}  // namespace stampede
