// Helpers shared by the end-to-end tests: a fresh folder per test, and reading the store's
// SQLite file the way a user would.
#ifndef STAMPEDE_TESTS_SUPPORT_E2E_H_
#define STAMPEDE_TESTS_SUPPORT_E2E_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/support/process.h"

namespace stampede::testing {

// <tmp>/<prefix>-<pid>-<current test name>, emptied and created (kept afterwards, to look at).
std::filesystem::path UniqueTestDir(const std::string& prefix);

// A fresh folder under gtest's temp dir, removed when the object goes.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs one query on a read-only connection; every column as text. A failure to open or
// prepare is a test failure (and no rows).
std::vector<std::vector<std::string>> Query(const std::string& db, const std::string& sql);

// A decimal integer from a query result; a test failure if it is not one.
int64_t Int(const std::string& s);

// Calls `done` every 50 ms until it returns true (then true) or `timeout` passes (then false).
bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);

// `stampede serve ARGS...` (ARGS give --listen and --db); returns it once it listens and fills
// `address` with where. A test failure, and nullptr, when it does not start.
std::unique_ptr<ChildProcess> StartServeProcess(const std::vector<std::string>& args,
                                                std::string* address);

// GET http://127.0.0.1:port/path; the body ("" on failure).
std::string HttpGet(int port, const std::string& path);

// Requests the simulated model service (stampede-target) received: its /stats; -1 on failure.
int64_t ServerRequests(int port);

// Writes dir/payload.json and dir/plan.json (a POST to 127.0.0.1:target_port/score with the
// given JSON for "stages" and "agents"); returns the plan's path.
std::string WritePlan(const std::filesystem::path& dir, int target_port, const std::string& stages,
                      const std::string& agents);

// Real processes, as a user starts them: `stampede serve` on an ephemeral loopback port (store
// in dir/stampede.db, plus `serve_flags`) and one `stampede-agent` per region, named
// "agent-<region>", labelled pool=test, one worker thread each.
class ProcessCluster {
 public:
  // Returns once every agent is registered and idle (polled through `stampede agents`).
  absl::Status Start(const std::filesystem::path& dir, const std::vector<std::string>& regions,
                     const std::vector<std::string>& serve_flags = {});
  const std::string& address() const { return address_; }
  const std::string& db() const { return db_; }
  ChildProcess& agent(int i) { return *agents_[static_cast<size_t>(i)]; }

 private:
  std::unique_ptr<ChildProcess> serve_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
  std::string address_;
  std::string db_;
};

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_E2E_H_
