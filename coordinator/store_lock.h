// Who may use a store file, held as an flock(2) on "<store>.lock" (released by the kernel when
// the process dies, even by SIGKILL). A `stampede serve` holds it exclusively: it owns the runs
// in the store, and after a crash resumes them. Embedded coordinators (`stampede run` without a
// coordinator) share it; the first of them to find it free finalizes what a crashed embedded run
// left "running" (its agents died with it), and nobody touches the runs of a live one.
#ifndef STAMPEDE_COORDINATOR_STORE_LOCK_H_
#define STAMPEDE_COORDINATOR_STORE_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace stampede {

class StoreLock {
 public:
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  // The exclusive hold of a coordinator service; FailedPrecondition naming the file when another
  // coordinator (service or embedded) uses the store.
  static absl::StatusOr<std::unique_ptr<StoreLock>> Exclusive(const std::string& store_path);
  // A shared hold for an embedded coordinator. `*alone` tells whether no other coordinator used
  // the store when it was taken (so that runs left "running" there are stale).
  // FailedPrecondition when a coordinator service holds the store.
  static absl::StatusOr<std::unique_ptr<StoreLock>> Shared(const std::string& store_path,
                                                           bool* alone);

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_STORE_LOCK_H_
