// The two bounds of an agent's spool, shared by the spools of all its runs (the run in progress
// and runs recovered from a previous process): bytes of batch files on disk, and bytes of batches
// held in memory. Thread-safe.
#ifndef STAMPEDE_AGENT_SPOOL_BUDGET_H_
#define STAMPEDE_AGENT_SPOOL_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stampede {

class SpoolBudget {
 public:
  static constexpr uint64_t kDefaultDiskBytes = uint64_t{1} << 30;      // 1 GiB
  static constexpr uint64_t kDefaultMemoryBytes = uint64_t{512} << 20;  // 512 MiB

  SpoolBudget(uint64_t disk_max = kDefaultDiskBytes, uint64_t memory_max = kDefaultMemoryBytes)
      : disk_max_(disk_max), memory_max_(memory_max) {}

  // Reserves n bytes when they fit under the bound; false (nothing reserved) when not.
  bool TryReserveDisk(uint64_t n) {
    absl::MutexLock lock(&mu_);
    return TryReserve(disk_used_, disk_max_, n);
  }
  bool TryReserveMemory(uint64_t n) {
    absl::MutexLock lock(&mu_);
    return TryReserve(memory_used_, memory_max_, n);
  }
  // Reserves whatever the bound: files found on disk at start are there already.
  void ForceReserveDisk(uint64_t n) {
    absl::MutexLock lock(&mu_);
    disk_used_ += n;
  }
  void ReleaseDisk(uint64_t n) {
    absl::MutexLock lock(&mu_);
    Release(disk_used_, n);
  }
  void ReleaseMemory(uint64_t n) {
    absl::MutexLock lock(&mu_);
    Release(memory_used_, n);
  }

  uint64_t disk_used() const {
    absl::MutexLock lock(&mu_);
    return disk_used_;
  }
  uint64_t memory_used() const {
    absl::MutexLock lock(&mu_);
    return memory_used_;
  }
  uint64_t disk_max() const { return disk_max_; }
  uint64_t memory_max() const { return memory_max_; }

 private:
  static bool TryReserve(uint64_t& used, uint64_t max, uint64_t n) {
    if (used + n > max) return false;
    used += n;
    return true;
  }
  static void Release(uint64_t& used, uint64_t n) { used -= n < used ? n : used; }

  const uint64_t disk_max_;
  const uint64_t memory_max_;
  mutable absl::Mutex mu_;
  uint64_t disk_used_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t memory_used_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_SPOOL_BUDGET_H_
