#include "tests/support/memory_store.h"

#include "absl/strings/str_cat.h"

namespace stampede::testing {

absl::Status MemoryStore::CreateRun(const RunSummary& summary, const std::string&,
                                    const std::vector<StoredRunAgent>&) {
  absl::MutexLock lock(&mu_);
  if (!runs_.emplace(summary.run_id(), summary).second) {
    return absl::AlreadyExistsError(summary.run_id());
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::UpdateRun(const RunSummary& summary, const RunReport* report) {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(summary.run_id());
  if (it == runs_.end()) return absl::NotFoundError(summary.run_id());
  it->second = summary;
  if (report != nullptr) reports_[summary.run_id()] = *report;
  return absl::OkStatus();
}

absl::Status MemoryStore::UpdateRunAgent(const std::string& run_id, const std::string&,
                                         const std::string&, std::optional<uint64_t>) {
  absl::MutexLock lock(&mu_);
  return runs_.count(run_id) ? absl::OkStatus() : absl::NotFoundError(run_id);
}

absl::Status MemoryStore::PutRunAgent(const std::string& run_id, const AgentResult&) {
  absl::MutexLock lock(&mu_);
  return runs_.count(run_id) ? absl::OkStatus() : absl::NotFoundError(run_id);
}

void MemoryStore::AppendBatch(const std::string& run_id, const AgentMeta& agent,
                              const RecordBatch& batch, CommitCallback on_commit) {
  {
    absl::MutexLock lock(&mu_);
    if (ledger_.emplace(run_id, agent.id, batch.seq()).second) {
      records_[run_id] += static_cast<uint64_t>(batch.latency_us_size());
    }
  }
  if (on_commit) on_commit(absl::OkStatus());
}

absl::StatusOr<std::vector<RunSummary>> MemoryStore::ListRuns() {
  absl::MutexLock lock(&mu_);
  std::vector<RunSummary> out;
  for (const auto& [id, run] : runs_) out.push_back(run);
  return out;
}

absl::StatusOr<RunSummary> MemoryStore::GetRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return absl::NotFoundError(run_id);
  return it->second;
}

absl::StatusOr<RunReport> MemoryStore::GetReport(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = reports_.find(run_id);
  if (it == reports_.end()) return absl::NotFoundError(run_id);
  return it->second;
}

absl::StatusOr<uint64_t> MemoryStore::CountRecords(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  return records_[run_id];
}

absl::StatusOr<std::vector<StoredRun>> MemoryStore::LoadUnfinishedRuns() {
  return std::vector<StoredRun>();
}

absl::Status MemoryStore::ReadRecords(
    const std::string&, size_t,
    const std::function<void(const std::string& agent_id, const RecordBatch& batch)>&) {
  return absl::OkStatus();
}

}  // namespace stampede::testing
