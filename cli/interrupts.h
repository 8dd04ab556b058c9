// Ctrl-C on an attached `run` or `saturate`. The load is on remote agents: if the CLI just died,
// the service would go on being hammered with no word said. So the first SIGINT (or SIGTERM)
// asks the coordinator to abort the run and lets the CLI wait for the records in flight and print
// the partial report; a second one detaches at once (the abort already sent still stands).
#ifndef STAMPEDE_CLI_INTERRUPTS_H_
#define STAMPEDE_CLI_INTERRUPTS_H_

#include <atomic>
#include <functional>
#include <thread>

namespace stampede {

// The exit code after an interrupted run (128 + SIGINT, as shells report it).
inline constexpr int kInterruptedExit = 130;

class InterruptGuard {
 public:
  // While the guard lives, SIGINT and SIGTERM no longer kill the process. The first one calls
  // `on_first` (on a thread of the guard's, not in the signal handler); the second calls
  // `on_second` there too, then ends the process with kInterruptedExit. One guard at a time.
  InterruptGuard(std::function<void()> on_first, std::function<void()> on_second);
  ~InterruptGuard();  // the previous handlers again
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  bool interrupted() const { return signals_.load() > 0; }

 private:
  void Watch();

  std::function<void()> on_first_;
  std::function<void()> on_second_;
  std::atomic<int> signals_{0};
  int pipe_[2] = {-1, -1};
  std::thread watcher_;
};

}  // namespace stampede

#endif  // STAMPEDE_CLI_INTERRUPTS_H_
