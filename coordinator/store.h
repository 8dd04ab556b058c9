// The run store: SQLite (one file, WAL). Runs, the agents of each run, and every per-request
// record in a table named `records`, one row per request, so that users can query them with SQL
// (see docs/queries.sql).
//
// Records are appended from any thread and written by one background writer thread in large
// transactions; Flush() waits until everything appended so far is committed.
#ifndef STAMPEDE_COORDINATOR_STORE_H_
#define STAMPEDE_COORDINATOR_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control.pb.h"
#include "common/agent_meta.h"
#include "records.pb.h"

namespace stampede {

class Store {
 public:
  // Creates the file and schema when missing; fails with a message naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  virtual ~Store() = default;

  // A new run (summary.run_id unique). `plan_json` is the plan as JSON, secrets stripped.
  virtual absl::Status CreateRun(const RunSummary& summary, const std::string& plan_json) = 0;
  // Updates state/times/totals, and stores the final report when given.
  virtual absl::Status UpdateRun(const RunSummary& summary, const RunReport* report) = 0;
  // Inserts or replaces the row for (run, agent).
  virtual absl::Status PutRunAgent(const std::string& run_id, const AgentResult& agent) = 0;

  // Queues the batch's records for insertion. Each record's timestamp on the coordinator's
  // timeline is batch.base_time_ns + start_offset_ns - agent.clock_offset_ns. Never blocks for
  // long: when the writer is behind by more than a bounded amount it blocks the caller
  // (backpressure) rather than growing memory. Any thread.
  virtual void AppendRecords(const std::string& run_id, const AgentMeta& agent,
                             const RecordBatch& batch) = 0;
  // Waits until every record appended before the call is committed; returns the first write
  // error, if any. Any thread.
  virtual absl::Status Flush() = 0;

  virtual absl::StatusOr<std::vector<RunSummary>> ListRuns() = 0;
  virtual absl::StatusOr<RunSummary> GetRun(const std::string& run_id) = 0;
  // NotFound when the run is unknown or has no stored report yet.
  virtual absl::StatusOr<RunReport> GetReport(const std::string& run_id) = 0;
  virtual absl::StatusOr<uint64_t> CountRecords(const std::string& run_id) = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_STORE_H_
