// How long the agent waits before dialling the coordinator again. Quick failures back off
// exponentially (min, 2 min, 4 min, ... capped at max) so that a coordinator that is down is not
// hammered; a connection that lasted longer than `stable_after` was a working link, so the next
// wait starts from min again (a coordinator restart is picked up quickly).
#ifndef STAMPEDE_AGENT_RECONNECT_BACKOFF_H_
#define STAMPEDE_AGENT_RECONNECT_BACKOFF_H_

#include <cstdint>

#include "absl/time/time.h"
#include "common/clock.h"

namespace stampede {

class ReconnectBackoff {
 public:
  ReconnectBackoff(absl::Duration min, absl::Duration max, absl::Duration stable_after,
                   const Clock* clock);

  // A connection attempt begins now.
  void ConnectionStarted();
  // The connection (or the attempt) ended now: how long to wait before the next attempt.
  absl::Duration ConnectionEnded();

 private:
  const absl::Duration min_;
  const absl::Duration max_;
  const absl::Duration stable_after_;
  const Clock* const clock_;
  absl::Duration next_;
  int64_t started_ns_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_RECONNECT_BACKOFF_H_
