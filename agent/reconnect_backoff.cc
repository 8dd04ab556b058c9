#include "agent/reconnect_backoff.h"

#include <algorithm>

namespace stampede {

ReconnectBackoff::ReconnectBackoff(absl::Duration min, absl::Duration max,
                                   absl::Duration stable_after, const Clock* clock)
    : min_(min), max_(max), stable_after_(stable_after), clock_(clock), next_(min) {}

void ReconnectBackoff::ConnectionStarted() { started_ns_ = clock_->MonotonicNs(); }

absl::Duration ReconnectBackoff::ConnectionEnded() {
  if (absl::Nanoseconds(clock_->MonotonicNs() - started_ns_) > stable_after_) next_ = min_;
  const absl::Duration wait = next_;
  next_ = std::min(max_, next_ * 2);
  return wait;
}

}  // namespace stampede
