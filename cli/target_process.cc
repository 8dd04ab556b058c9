#include "cli/target_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace stampede {

TargetProcess::~TargetProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
  }
  if (out_ != nullptr) fclose(out_);
}

absl::StatusOr<int> TargetProcess::Start(const std::vector<std::string>& flags) {
  const std::string bin =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "stampede-target").string();
  std::vector<std::string> argv = {bin, "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  out_ = fdopen(fds[0], "r");
  if (rc != 0) {
    pid_ = -1;
    return absl::NotFoundError(absl::StrCat("cannot start ", bin, ": ", strerror(rc)));
  }
  char line[256];
  while (fgets(line, sizeof(line), out_) != nullptr) {
    std::string s(line);
    if (s.find("listening on") == std::string::npos) continue;
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(s.substr(s.rfind(':') + 1)), &port)) {
      return port;
    }
  }
  return absl::InternalError(absl::StrCat(bin, " exited before listening"));
}

}  // namespace stampede
