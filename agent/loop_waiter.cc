#include "agent/loop_waiter.h"

#include <time.h>

#include <algorithm>

namespace stampede {

int EpollWaiter::Wait(int epoll_fd, epoll_event* events, int max_events, int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) return epoll_pwait2(epoll_fd, events, max_events, nullptr, nullptr);
  const int64_t wait_ns = std::max<int64_t>(0, deadline_ns - clock_->MonotonicNs());
  timespec ts{};
  ts.tv_sec = wait_ns / 1'000'000'000;
  ts.tv_nsec = wait_ns % 1'000'000'000;
  const int n = epoll_pwait2(epoll_fd, events, max_events, &ts, nullptr);
  return n < 0 ? 0 : n;  // EINTR: the loop looks at the time and the stop flag, then waits again
}

}  // namespace stampede
