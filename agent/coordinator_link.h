// Agent mode: dial out to the coordinator, register, answer clock pings, run the plans it pushes
// and stream every record batch back until acknowledged. Survives a dropped link: it reconnects
// with backoff, finishes its schedule meanwhile (it holds the whole plan), and resends whatever
// the coordinator has not acknowledged.
#ifndef STAMPEDE_AGENT_COORDINATOR_LINK_H_
#define STAMPEDE_AGENT_COORDINATOR_LINK_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/batch_spool.h"
#include "agent/engine.h"
#include "common/clock.h"
#include "common/grpc_tls.h"
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
};

class CoordinatorLink {
 public:
  explicit CoordinatorLink(LinkOptions options, const Clock* clock = &RealClock::Get());
  ~CoordinatorLink();  // Shutdown()s and waits for runs to stop

  // Serves until Shutdown(). Returns PermissionDenied/InvalidArgument when the coordinator
  // refuses the agent; OK after Shutdown(). Reconnects after dropped links by itself.
  absl::Status Run();
  // Any thread: ends Run() (a run in progress is stopped; its records so far are kept).
  void Shutdown();

  bool registered() const;
  int runs_finished() const;

 private:
  struct AgentRun {
    std::string id;
    std::unique_ptr<Engine> engine;
    BatchSpool spool;
    std::thread thread;
    bool engine_done = false;
    RunFinished finished;
    bool finish_sent = false;  // on the current connection
  };

  // One connection: register, serve, return when the stream ends. `rejected` set on refusal.
  void ServeConnection(std::string* rejected);
  void WriterLoop(grpc::ClientReaderWriter<AgentMessage, CoordinatorMessage>* stream);
  void HandleStart(const StartRun& start);
  // Empty when the plan's target host is allowed, else why not.
  std::string CheckTargetAllowed(const Plan& plan) const;
  void Wake();
  bool Busy() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LinkOptions options_;
  const Clock* const clock_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool connection_open_ ABSL_GUARDED_BY(mu_) = false;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  int runs_finished_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<AgentMessage> outbox_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<AgentRun>> runs_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_COORDINATOR_LINK_H_
