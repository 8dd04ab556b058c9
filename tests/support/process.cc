#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

extern char** environ;

namespace stampede::testing {
namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                 const std::vector<std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  // Build everything the child needs before fork: no allocation after it.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    setpgid(0, 0);
    execve(args[0], args.data(), envp.data());
    const char msg[] = "exec failed\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(fds[1]);
  return ChildProcess(pid, fds[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(out_fd_, other.out_fd_);
  std::swap(output_, other.output_);
  std::swap(scanned_, other.scanned_);
  std::swap(eof_, other.eof_);
  std::swap(exit_code_, other.exit_code_);
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0 && !exit_code_.has_value()) kill(pid_, sig);
}

bool ChildProcess::ReadSome(int timeout_ms) {
  if (eof_) return false;
  pollfd p{out_fd_, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r <= 0) return true;
  char buf[65536];
  ssize_t n = read(out_fd_, buf, sizeof(buf));
  if (n <= 0) {
    if (n < 0 && errno == EINTR) return true;
    eof_ = true;
    return false;
  }
  output_.append(buf, static_cast<size_t>(n));
  return true;
}

absl::StatusOr<std::string> ChildProcess::WaitForLine(const std::string& needle,
                                                      std::chrono::milliseconds timeout) {
  const int64_t deadline = NowMs() + timeout.count();
  while (true) {
    size_t nl;
    while ((nl = output_.find('\n', scanned_)) != std::string::npos) {
      std::string line = output_.substr(scanned_, nl - scanned_);
      scanned_ = nl + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("no line containing '", needle, "' within ", timeout.count(),
                       " ms; output so far:\n", output_));
    }
    if (!ReadSome(static_cast<int>(std::min<int64_t>(left, 100)))) {
      return absl::NotFoundError(absl::StrCat("process ended before printing '", needle,
                                              "'; output:\n", output_));
    }
  }
}

absl::StatusOr<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_.has_value()) return *exit_code_;
  const int64_t deadline = NowMs() + timeout.count();
  while (true) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      while (ReadSome(0)) {
        pollfd p{out_fd_, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0) break;
      }
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return *exit_code_;
    }
    int64_t left = deadline - NowMs();
    if (left <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "process ", pid_, " still running after ", timeout.count(), " ms; output:\n", output_));
    }
    if (!ReadSome(static_cast<int>(std::min<int64_t>(left, 20)))) {
      // Output closed; the child is exiting. Poll for it without spinning hard.
      pollfd none{-1, 0, 0};
      poll(&none, 0, 2);
    }
  }
}

std::string BinPath(const std::string& name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / name).string();
}

absl::StatusOr<ChildProcess> StartTarget(const std::vector<std::string>& flags, int* port) {
  std::vector<std::string> argv = {BinPath("stampede-target"), "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto child = ChildProcess::Start(argv);
  if (!child.ok()) return child.status();
  // stampede-target prints "listening on HOST:PORT" once bound.
  auto line = child->WaitForLine("listening on", std::chrono::seconds(10));
  if (!line.ok()) return line.status();
  size_t colon = line->rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(line->substr(colon + 1), port)) {
    return absl::InternalError(absl::StrCat("cannot parse port from: ", *line));
  }
  return child;
}

absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env,
                                     std::chrono::milliseconds timeout) {
  auto child = ChildProcess::Start(argv, env);
  if (!child.ok()) return child.status();
  auto code = child->Wait(timeout);
  if (!code.ok()) return code.status();
  return RunResult{*code, child->output()};
}

}  // namespace stampede::testing
