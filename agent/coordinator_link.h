// Agent mode: dial out to the coordinator, register, answer clock pings, run the plans it pushes
// and stream every record batch back until acknowledged. Survives a dropped link: it reconnects
// with backoff, finishes its schedule meanwhile (it holds the whole plan), and resends whatever
// the coordinator has not acknowledged.
//
// Survives its own restart too, given a spool directory: unacknowledged batches (and a run's
// RunFinished) are on disk, and a new link over the same directory takes them over. Such runs are
// held like runs whose engine is done: listed in Register.active_runs, their batches and
// RunFinished resent, and forgotten (their directory removed) once the coordinator has all of it
// (finish_ack; for a run the previous process never finished, every batch acknowledged). Each
// link makes a random instance id, sent in every Register, so that the coordinator can tell a
// restarted agent (a new id) from one that reconnected (the same id).
#ifndef STAMPEDE_AGENT_COORDINATOR_LINK_H_
#define STAMPEDE_AGENT_COORDINATOR_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/batch_spool.h"
#include "agent/engine.h"
#include "agent/link_failure.h"
#include "agent/spool_budget.h"
#include "common/clock.h"
#include "common/grpc_tls.h"
#include "common/log_line.h"
#include "control.grpc.pb.h"

namespace stampede {

struct LinkOptions {
  std::string coordinator;  // host:port
  std::string name;
  std::string region;
  std::map<std::string, std::string> labels;
  std::string token;
  // ca: verify the coordinator over TLS; cert + key: this agent's certificate (mutual TLS).
  TlsFiles tls;
  // Worker threads; when > 0 it overrides what the coordinator asks for.
  int threads = 0;
  // Target hosts this agent accepts plans for ("host" exactly, or "*.domain" for any name
  // under it); empty accepts any. A plan for another host is refused, never run.
  std::vector<std::string> allowed_hosts;
  // A heartbeat goes out when nothing else was written for this long (see HeartbeatPacer).
  absl::Duration heartbeat = absl::Seconds(1);
  // Waits between reconnects: from min, doubling up to max (see ReconnectBackoff).
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Where unacknowledged batches are kept on disk, one directory per run (agent/spool_files.h);
  // empty: in memory only, lost if the process dies.
  std::string spool_dir;
  // The bounds of the spool (see BatchSpool): bytes of batch files, bytes of batches in memory.
  uint64_t spool_max_bytes = SpoolBudget::kDefaultDiskBytes;
  uint64_t memory_max_bytes = SpoolBudget::kDefaultMemoryBytes;
  // Where the link's key=value log lines go; empty: stderr.
  LogFn log;
  // Which of them are written (common/log_line.h): by default warnings and errors only, so that
  // the agents of an embedded run stay quiet; stampede-agent passes its --log-level (info).
  // Info: connecting, registered, link lost and resumed, runs started and finished. Warnings:
  // why connecting fails (once per cause), refused plans and batches, spool trouble.
  LogLevel log_level = LogLevel::kWarn;
  // While connecting keeps failing for the same cause, a reminder at most this often.
  absl::Duration failure_reminder = absl::Seconds(30);
};

// What the link did with its spool, for tests and the operator's log.
struct LinkCounters {
  int recovered_runs = 0;          // runs taken over from a previous process's spool
  uint64_t recovered_batches = 0;  // their batches (to be resent)
  int recovered_finished = 0;      // of those runs, the ones with a RunFinished to resend
  uint64_t unreadable_files = 0;   // spool files of those runs that did not read back (skipped)
  uint64_t partial_files = 0;      // temporary files of interrupted writes (skipped)
  uint64_t rejected_batches = 0;   // batches the coordinator refused (BatchRejected): dropped
  int runs_forgotten = 0;          // runs whose spool was removed, everything delivered
};

class CoordinatorLink {
 public:
  explicit CoordinatorLink(LinkOptions options, const Clock* clock = &RealClock::Get());
  ~CoordinatorLink();  // Shutdown()s and waits for runs to stop

  // Serves until Shutdown(). Returns Unauthenticated when the coordinator refuses the agent's
  // token, PermissionDenied when it refuses the agent otherwise (name taken, not in the client
  // certificate, a field out of bounds), InvalidArgument for unusable TLS files,
  // FailedPrecondition when another process holds the spool directory; OK after Shutdown().
  // Reconnects by itself after dropped links and failed connections (logging why, once per
  // cause).
  absl::Status Run();
  // Any thread: ends Run() (a run in progress is stopped; its records so far are kept).
  void Shutdown();

  bool registered() const;
  int runs_finished() const;
  // 32 hex digits, random, fixed for this object's life (one agent process).
  const std::string& instance_id() const { return instance_id_; }
  LinkCounters counters() const;
  // Runs held: running, or waiting for the coordinator to take their records.
  std::vector<std::string> active_runs() const;

 private:
  // Fields other than the spool (which locks itself) are guarded by the link's mu_.
  struct AgentRun {
    std::string id;
    std::unique_ptr<Engine> engine;  // null for a run recovered from a previous process
    std::unique_ptr<BatchSpool> spool;
    std::thread thread;
    bool engine_done = false;
    bool recovered = false;
    bool stopped_by_shutdown = false;     // the link stopped the engine, not the coordinator
    std::optional<RunFinished> finished;  // once the engine is done (or recovered from disk)
    bool finish_sent = false;             // on the current connection
  };

  // Takes the spool directory's lock and every run a previous process left in it.
  void OpenSpool();
  // A recovered run the previous process never finished is done once all its batches are acked.
  void ForgetIfDelivered(const std::shared_ptr<AgentRun>& run);
  // Removes a run the link holds no more: its thread joined, its spool directory removed.
  void Forget(std::shared_ptr<AgentRun> run);
  void HandleRejected(const BatchRejected& rejected);
  void StopEnginesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How one connection ended.
  struct ConnectionEnd {
    bool registered = false;  // the coordinator accepted the Register on it
    std::string rejected;     // the coordinator's refusal, when it refused the Register
    grpc::Status status;      // how the stream ended
  };
  // One connection: register, serve, return when the stream ends.
  ConnectionEnd ServeConnection();
  // The link's log, filtered by options_.log_level.
  void Log(LogLevel level, const std::string& line) const;
  // The spools' sink: everything a spool logs is trouble (a warning).
  LogFn SpoolLog() const;
  // Logs how a connection that did not end in a refusal ended: link lost, or a failure to
  // connect (FailureLog decides whether it is worth a line).
  void LogConnectionEnd(const ConnectionEnd& end);
  // Logs that the coordinator accepted the Register (the first time, or again after a loss).
  void LogRegistered(const std::string& agent_id);
  void WriterLoop(grpc::ClientReaderWriter<AgentMessage, CoordinatorMessage>* stream);
  void HandleStart(const StartRun& start);
  // Empty when the plan's target host is allowed, else why not.
  std::string CheckTargetAllowed(const Plan& plan) const;
  void Wake();
  bool Busy() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LinkOptions options_;
  const Clock* const clock_;
  const LogFn log_;
  const std::string instance_id_;
  const std::shared_ptr<SpoolBudget> budget_;
  // Not OK when the spool directory could not be locked: Run() returns it.
  absl::Status spool_status_;
  int spool_lock_fd_ = -1;

  // Only Run()'s thread (which also reads the stream) uses these.
  FailureLog failures_;
  bool ever_registered_ = false;  // registered on an earlier connection: a reconnect resumes
  uint64_t resent_batches_ = 0;   // batches queued again for the current connection
  int64_t lost_at_ns_ = 0;        // monotonic, when the registered link was last lost

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool connection_open_ ABSL_GUARDED_BY(mu_) = false;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  int runs_finished_ ABSL_GUARDED_BY(mu_) = 0;
  LinkCounters counters_ ABSL_GUARDED_BY(mu_);
  std::deque<AgentMessage> outbox_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<AgentRun>> runs_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_COORDINATOR_LINK_H_
