// The run store: SQLite (one file, WAL). Runs, the agents of each run, every per-request record
// in a table named `records` (one row per request, so that users can query them with SQL: see
// docs/queries.sql), and the ledger of ingested batches (`batches`: one row per (run, agent,
// seq)), which is what makes ingest exactly-once across coordinator restarts.
//
// Records are appended from any thread and written by one background writer thread in large
// transactions; a batch's records and its ledger row commit together, and the batch's callback
// runs only after that commit (the coordinator acknowledges a batch to its agent from there).
#ifndef STAMPEDE_COORDINATOR_STORE_H_
#define STAMPEDE_COORDINATOR_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/agent_meta.h"
#include "control.pb.h"
#include "records.pb.h"

namespace stampede {

// One agent of a run as the store keeps it from the start of the run on.
struct StoredRunAgent {
  AgentInfo info;           // id, name, region, labels, clock offset and uncertainty
  std::string instance_id;  // the agent process that was given the run (Register.instance_id)
  std::string state;        // "running", "finished", "lost", ... (common/run_state.h names)
  std::optional<uint64_t> expected_batches;  // from its RunFinished, once known
};

// A committed batch, from the ledger.
struct StoredBatch {
  std::string agent_id;
  uint64_t seq = 0;
  uint64_t records = 0;
  uint64_t late = 0;
  uint64_t dropped = 0;
};

// A run the store still has as "running": what a restarted coordinator needs to resume it.
struct StoredRun {
  RunSummary summary;
  std::string plan_json;  // secrets stripped
  std::vector<StoredRunAgent> agents;
  std::vector<StoredBatch> batches;
};

class Store {
 public:
  // Called once the batch is committed (OK), or when its transaction failed (the error). On the
  // store's writer thread: it must not block for long, and must not call Flush.
  using CommitCallback = std::function<void(const absl::Status&)>;

  // Creates the file and schema when missing (and upgrades an older schema); fails with a
  // message naming the path otherwise.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  virtual ~Store() = default;

  // A new run (summary.run_id unique) and its agents, in one transaction. `plan_json` is the
  // plan as JSON, secrets stripped.
  virtual absl::Status CreateRun(const RunSummary& summary, const std::string& plan_json,
                                 const std::vector<StoredRunAgent>& agents) = 0;
  // Updates state/times/totals, and stores the final report when given.
  virtual absl::Status UpdateRun(const RunSummary& summary, const RunReport* report) = 0;
  // An agent's part of a run changed state (and, from its RunFinished, how many batches it sent).
  virtual absl::Status UpdateRunAgent(const std::string& run_id, const std::string& agent_id,
                                      const std::string& state,
                                      std::optional<uint64_t> expected_batches) = 0;
  // The final figures of an agent of a run: inserts the row, or updates state, clock and totals
  // of the row CreateRun made (its instance id and expected batches are kept).
  virtual absl::Status PutRunAgent(const std::string& run_id, const AgentResult& agent) = 0;

  // Queues the batch: its records (each record's timestamp on the coordinator's timeline is
  // batch.base_time_ns + start_offset_ns - agent.clock_offset_ns) and its ledger row
  // (run, agent.id, batch.seq, record count, late, dropped), committed in one transaction; then
  // `on_commit` (may be null). A batch whose ledger row exists already stores nothing again and
  // is reported committed. When the writer is behind by more than a bounded amount this blocks
  // the caller (backpressure) rather than growing memory. Any thread.
  virtual void AppendBatch(const std::string& run_id, const AgentMeta& agent,
                           const RecordBatch& batch, CommitCallback on_commit) = 0;
  // Waits until every batch appended before the call is committed; returns the first write
  // error, if any. Any thread, except from a CommitCallback.
  virtual absl::Status Flush() = 0;

  virtual absl::StatusOr<std::vector<RunSummary>> ListRuns() = 0;
  virtual absl::StatusOr<RunSummary> GetRun(const std::string& run_id) = 0;
  // NotFound when the run is unknown or has no stored report yet.
  virtual absl::StatusOr<RunReport> GetReport(const std::string& run_id) = 0;
  virtual absl::StatusOr<uint64_t> CountRecords(const std::string& run_id) = 0;

  // ---- Recovery (a coordinator restarted on this store). ----
  // Every run whose state is still "running", with its agents and ledger.
  virtual absl::StatusOr<std::vector<StoredRun>> LoadUnfinishedRuns() = 0;
  // The run's stored records, agent by agent, as batches of at most `batch_records` records
  // whose timestamps are on the coordinator's timeline (base_time_ns 0, no clock offset), for
  // rebuilding its merged views. `agent_id` is the agent's id (its registered name).
  virtual absl::Status ReadRecords(
      const std::string& run_id, size_t batch_records,
      const std::function<void(const std::string& agent_id, const RecordBatch& batch)>& fn) = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_STORE_H_
