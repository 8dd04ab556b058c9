// Record batches of one run that the coordinator has not acknowledged yet. The engine's workers
// put batches in (it is their RecordSink); the link sends them and drops them on ack; after a
// reconnect everything still here is sent again, so no record is lost to a dropped link.
//
// With a run directory (agent/spool_files.h has the format) every batch is also written to disk
// as it arrives, and deleted on ack, so a restarted agent process resends what the previous one
// had recorded (BatchSpool::Recover). Two bounds, shared by all of the agent's spools
// (SpoolBudget), decide where a batch lives:
//   - on disk and in memory while both have room (the usual case: batches are acked within ms);
//   - memory over its bound: a batch that is on disk is not kept in memory (or is evicted, newest
//     first), and is read back when it is its turn to be sent;
//   - disk over its bound, or a write failed (ENOSPC, EIO): the batch is kept in memory only and
//     counted as undurable (lost if the process dies before the coordinator has it);
//   - both full: the batch's records are dropped and counted. A stub of the batch (same seq, no
//     records) is still sent, so that the coordinator sees every seq of the run and can tell the
//     run's end; the records it lacks are reported as RunFinished.dropped_records.
// Without a run directory the spool is memory only: the memory bound applies, and nothing is
// counted as undurable (there is no disk to fall back from; the agent says so once at start).
#ifndef STAMPEDE_AGENT_BATCH_SPOOL_H_
#define STAMPEDE_AGENT_BATCH_SPOOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/log_line.h"
#include "agent/record_sink.h"
#include "agent/spool_budget.h"
#include "control.pb.h"
#include "records.pb.h"

namespace stampede {

struct SpoolStats {
  uint64_t undurable_batches = 0;  // kept in memory only: no room on disk, or the write failed
  uint64_t dropped_batches = 0;    // no room in memory either: records dropped (stub sent)
  uint64_t dropped_records = 0;
  uint64_t rejected_batches = 0;  // dropped on the coordinator's BatchRejected
  uint64_t unreadable_files = 0;  // batch or RunFinished files that did not read back
  uint64_t partial_files = 0;     // temporary files of an interrupted write, found at recovery
  uint64_t read_back = 0;         // batches read from disk to be sent (not held in memory)
};

class BatchSpool final : public RecordSink {
 public:
  // `run_dir` empty: memory only. Otherwise the run's directory, created here if missing (if
  // that fails, every batch is undurable, and the failure is logged).
  BatchSpool(std::string run_dir, std::shared_ptr<SpoolBudget> budget, LogFn log);
  ~BatchSpool() override;
  BatchSpool(const BatchSpool&) = delete;
  BatchSpool& operator=(const BatchSpool&) = delete;

  // Takes over what a previous agent process left in `run_dir`: its batch files (each checked;
  // unreadable ones deleted and counted), temporary files of interrupted writes (deleted,
  // counted) and its RunFinished, when it had written one. Batches stay on disk until sent.
  static std::unique_ptr<BatchSpool> Recover(std::string run_dir,
                                             std::shared_ptr<SpoolBudget> budget, LogFn log);

  // Worker threads. Writes the batch file (~100 KB: tens of µs into the page cache), never
  // touches the network.
  void Consume(const RecordBatch& batch) override;
  // The coordinator has the batch: forgotten, its file deleted.
  void Ack(uint64_t seq);
  // The coordinator will never store the batch: forgotten like an ack, and counted. False when
  // the spool did not hold it.
  bool Reject(uint64_t seq);
  // A new connection: every unacked batch is to be sent again.
  void ResendAll();
  // The next batch not yet sent on the current connection (read back from disk when it is not
  // in memory), marked sent; nullopt when none. A file that does not read back is counted,
  // logged and skipped.
  std::optional<RecordBatch> NextToSend();
  // Called (outside the spool's lock) after each new batch, to wake the sender.
  void SetListener(std::function<void()> listener);

  // Writes the run's RunFinished next to its batches, so that a restarted agent can resend it.
  // Called before the RunFinished is first sent. No-op (OK) without a directory.
  absl::Status PersistFinished(const RunFinished& finished);
  // The RunFinished a previous process had written (Recover only).
  const std::optional<RunFinished>& recovered_finished() const { return recovered_finished_; }
  // The run is over for the agent: every batch forgotten, the directory removed.
  void Discard();

  size_t unacked() const;
  size_t in_memory() const;  // batches (or stubs) held in memory
  size_t on_disk() const;    // batches with a file
  uint64_t bytes() const;    // memory held by batches, as charged to the budget
  SpoolStats stats() const;
  bool has_directory() const { return !dir_.empty(); }
  const std::string& directory() const { return dir_; }

 private:
  struct Entry {
    std::optional<RecordBatch> batch;  // nullopt: on disk only
    uint64_t memory_bytes = 0;         // charged to the budget while `batch` is held
    uint64_t file_bytes = 0;           // charged to the budget while the file exists (0: none)
    bool sent = false;
  };

  std::string FilePath(uint64_t seq) const;
  // Drops an entry's batch and its charges; true when it had a file (for the caller to delete).
  bool ReleaseLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees memory by dropping on-disk batches from memory, newest first, until `n` bytes are
  // reserved; false when there is nothing left to evict.
  bool EvictForLocked(uint64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogWriteFailureOnce(const absl::Status& status);

  const std::string dir_;
  const std::string run_id_;  // the directory's name (checked against recovered files)
  const std::shared_ptr<SpoolBudget> budget_;
  const LogFn log_;
  // False without a directory, or when it could not be created.
  bool disk_ok_ = false;
  std::optional<RunFinished> recovered_finished_;

  mutable absl::Mutex mu_;
  std::map<uint64_t, Entry> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  SpoolStats stats_ ABSL_GUARDED_BY(mu_);
  bool write_failure_logged_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_BATCH_SPOOL_H_
