// Test support: a Store in memory, for driving the run manager without SQLite (the link fuzzer).
// Batches commit at once: AppendBatch runs the callback before it returns (the run manager calls
// it without holding its lock). Records are counted per run, not kept.
#ifndef STAMPEDE_TESTS_SUPPORT_MEMORY_STORE_H_
#define STAMPEDE_TESTS_SUPPORT_MEMORY_STORE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/store.h"

namespace stampede::testing {

class MemoryStore final : public Store {
 public:
  absl::Status CreateRun(const RunSummary& summary, const std::string& plan_json,
                         const std::vector<StoredRunAgent>& agents) override;
  absl::Status UpdateRun(const RunSummary& summary, const RunReport* report) override;
  absl::Status UpdateRunAgent(const std::string& run_id, const std::string& agent_id,
                              const std::string& state,
                              std::optional<uint64_t> expected_batches) override;
  absl::Status PutRunAgent(const std::string& run_id, const AgentResult& agent) override;
  void AppendBatch(const std::string& run_id, const AgentMeta& agent, const RecordBatch& batch,
                   CommitCallback on_commit) override;
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<RunSummary>> ListRuns() override;
  absl::StatusOr<RunSummary> GetRun(const std::string& run_id) override;
  absl::StatusOr<RunReport> GetReport(const std::string& run_id) override;
  absl::StatusOr<uint64_t> CountRecords(const std::string& run_id) override;
  absl::StatusOr<std::vector<StoredRun>> LoadUnfinishedRuns() override;
  absl::Status ReadRecords(const std::string& run_id, size_t batch_records,
                           const std::function<void(const std::string& agent_id,
                                                    const RecordBatch& batch)>& fn) override;

 private:
  absl::Mutex mu_;
  std::map<std::string, RunSummary> runs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RunReport> reports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> records_ ABSL_GUARDED_BY(mu_);
  std::set<std::tuple<std::string, std::string, uint64_t>> ledger_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_MEMORY_STORE_H_
