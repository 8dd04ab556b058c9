#include "common/secret_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

constexpr size_t kMaxSecretBytes = 4096;

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, const std::string& flag) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > kMaxSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is ", st.st_size,
                                                   " bytes; a token is at most ", kMaxSecretBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::string secret = content.str();
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": \"", path, "\" is empty"));
  }
  if (secret.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" has several lines; a token is one line"));
  }
  return secret;
}

}  // namespace stampede
