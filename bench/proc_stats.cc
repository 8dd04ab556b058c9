#include "bench/proc_stats.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace stampede::bench {

int64_t ProcStatusKib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return -1;
}

std::map<pid_t, TaskTimes> SnapshotTasks() {
  std::map<pid_t, TaskTimes> out;
  std::error_code ignored;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ignored)) {
    const pid_t tid = static_cast<pid_t>(std::atol(task.path().filename().c_str()));
    TaskTimes t;
    std::ifstream comm_in(task.path() / "comm");
    std::getline(comm_in, t.name);
    std::ifstream sched_in(task.path() / "schedstat");
    if (!(sched_in >> t.on_cpu_ns >> t.waiting_ns)) continue;
    out[tid] = t;
  }
  return out;
}

ThreadTimes ThreadSchedTimes(const std::string& name) {
  ThreadTimes times;
  for (const auto& [tid, task] : SnapshotTasks()) {
    if (task.name != name) continue;
    times.found = true;
    times.on_cpu_s += task.on_cpu_ns / 1e9;
    times.waiting_for_cpu_s += task.waiting_ns / 1e9;
  }
  return times;
}

}  // namespace stampede::bench
