#include "agent/token_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

absl::Status Bad(const std::string& path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--token-file ", path, ": ", why));
}

}  // namespace

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  constexpr size_t kMaxBytes = 64 * 1024;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Bad(path, absl::StrCat("cannot open it (", std::strerror(errno), ")"));
  std::string token;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Bad(path, absl::StrCat("cannot read it (", std::strerror(err), ")"));
    }
    if (n == 0) break;
    token.append(buffer, static_cast<size_t>(n));
    if (token.size() > kMaxBytes) {
      ::close(fd);
      return Bad(path, "larger than 64 KiB, not a token");
    }
  }
  ::close(fd);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Bad(path, "empty");
  if (token.find_first_of("\r\n") != std::string::npos) {
    return Bad(path, "more than one line (expected the token alone)");
  }
  return token;
}

}  // namespace stampede
