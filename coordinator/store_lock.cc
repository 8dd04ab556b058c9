#include "coordinator/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

absl::StatusOr<int> OpenLockFile(const std::string& store_path) {
  const std::string path = absl::StrCat(store_path, ".lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  return fd;
}

}  // namespace

StoreLock::~StoreLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

absl::StatusOr<std::unique_ptr<StoreLock>> StoreLock::Exclusive(const std::string& store_path) {
  absl::StatusOr<int> fd = OpenLockFile(store_path);
  if (!fd.ok()) return fd.status();
  if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
    close(*fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "another coordinator is using the store ", store_path,
        " (a `stampede serve` or an embedded `stampede run`); one coordinator service per store"));
  }
  return std::unique_ptr<StoreLock>(new StoreLock(*fd));
}

absl::StatusOr<std::unique_ptr<StoreLock>> StoreLock::Shared(const std::string& store_path,
                                                             bool* alone) {
  absl::StatusOr<int> fd = OpenLockFile(store_path);
  if (!fd.ok()) return fd.status();
  // Exclusive first, to learn whether anyone else is there; then down to shared (flock
  // converts in place), so that further embedded runs may share the store.
  *alone = flock(*fd, LOCK_EX | LOCK_NB) == 0;
  if (flock(*fd, LOCK_SH | LOCK_NB) != 0) {
    close(*fd);
    return absl::FailedPreconditionError(
        absl::StrCat("a coordinator service (`stampede serve`) is using the store ", store_path,
                     "; run against it with --coordinator, or give this run its own --db"));
  }
  return std::unique_ptr<StoreLock>(new StoreLock(*fd));
}

}  // namespace stampede
