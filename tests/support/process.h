// Test support: start a real child process, read what it prints, stop it.
#ifndef STAMPEDE_TESTS_SUPPORT_PROCESS_H_
#define STAMPEDE_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stampede::testing {

// A child process with stdout (and stderr, merged) captured through a pipe.
class ChildProcess {
 public:
  // argv[0] is a path; env entries ("K=V") are added to the inherited environment.
  static absl::StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                            const std::vector<std::string>& env = {});
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  // Reads output lines until one contains `needle`; returns that line. Fails on timeout or EOF.
  absl::StatusOr<std::string> WaitForLine(const std::string& needle,
                                          std::chrono::milliseconds timeout);
  // Reads all remaining output until the child closes it (or timeout), then reaps it.
  // Returns the exit code (128+signal when killed).
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);
  // Everything read so far.
  const std::string& output() const { return output_; }
  void Signal(int sig);
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}
  // Reads available output into output_; false on EOF.
  bool ReadSome(int timeout_ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  size_t scanned_ = 0;  // output_ offset of the first line not yet returned by WaitForLine
  bool eof_ = false;
  std::optional<int> exit_code_;
};

// Starts `stampede-target` (from the build's bin folder) on an ephemeral loopback port with
// the extra flags; returns the child and fills `port`.
absl::StatusOr<ChildProcess> StartTarget(const std::vector<std::string>& flags, int* port);

// Path of a binary built into build/bin (the folder of the running test binary).
std::string BinPath(const std::string& name);

// Runs a command to completion, capturing its output. Returns the exit code.
struct RunResult {
  int exit_code = -1;
  std::string output;
};
absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& env = {},
                                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_PROCESS_H_
