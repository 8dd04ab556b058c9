// How a worker's loop waits: for socket events in its epoll set, or until its next deadline on
// the run's Clock. The real waiter sleeps in epoll_pwait2; a test's waiter can instead move a
// FakeClock to the deadline and return at once, so that the load model (stage boundaries, ramps,
// arrivals, think time, timeouts) runs in simulated time, exactly and without sleeping.
#ifndef STAMPEDE_AGENT_LOOP_WAITER_H_
#define STAMPEDE_AGENT_LOOP_WAITER_H_

#include <sys/epoll.h>

#include <cstdint>

#include "common/clock.h"

namespace stampede {

class LoopWaiter {
 public:
  virtual ~LoopWaiter() = default;
  // Waits for events on `epoll_fd` until `deadline_ns` on the run's monotonic clock (INT64_MAX:
  // no deadline); returns how many events it wrote to `events` (0 on a timeout). Called by each
  // worker on its own thread, once per loop turn.
  virtual int Wait(int epoll_fd, epoll_event* events, int max_events, int64_t deadline_ns) = 0;
};

// epoll_pwait2 for the time left until the deadline on `clock`.
class EpollWaiter final : public LoopWaiter {
 public:
  explicit EpollWaiter(const Clock* clock) : clock_(clock) {}
  int Wait(int epoll_fd, epoll_event* events, int max_events, int64_t deadline_ns) override;

 private:
  const Clock* const clock_;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_LOOP_WAITER_H_
