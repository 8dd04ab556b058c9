// What the benchmarks read about their own process from /proc: memory and per-thread CPU time.
#ifndef STAMPEDE_BENCH_PROC_STATS_H_
#define STAMPEDE_BENCH_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace stampede::bench {

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 when absent.
int64_t ProcStatusKib(const std::string& field);

// Per thread, from /proc/self/task/<tid>/{comm,schedstat}.
struct TaskTimes {
  std::string name;
  uint64_t on_cpu_ns = 0;   // schedstat field 1: time on a CPU
  uint64_t waiting_ns = 0;  // schedstat field 2: runnable, waiting for a CPU
};
std::map<pid_t, TaskTimes> SnapshotTasks();

// The summed times of the threads named `name` (found = false when there is none).
struct ThreadTimes {
  bool found = false;
  double on_cpu_s = 0;
  double waiting_for_cpu_s = 0;
};
ThreadTimes ThreadSchedTimes(const std::string& name);

}  // namespace stampede::bench

#endif  // STAMPEDE_BENCH_PROC_STATS_H_
