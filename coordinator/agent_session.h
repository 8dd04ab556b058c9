// One connected agent, as the coordinator sees it: what it registered, its clock estimate, and
// an outbox drained by a writer thread (gRPC streams allow one writer at a time, and messages
// for an agent come from several threads: run manager, ack path, clock sync).
#ifndef STAMPEDE_COORDINATOR_AGENT_SESSION_H_
#define STAMPEDE_COORDINATOR_AGENT_SESSION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/agent_meta.h"
#include "common/clock.h"
#include "common/run_state.h"
#include "control.grpc.pb.h"
#include "coordinator/clock_sync.h"

namespace stampede {

// Where outgoing messages are written; the gRPC stream in production, a fake in tests.
class MessageWriter {
 public:
  virtual ~MessageWriter() = default;
  virtual bool Write(const CoordinatorMessage& message) = 0;
};

class AgentSession {
 public:
  AgentSession(std::string id, const Register& reg, MessageWriter* writer, const Clock* clock);
  ~AgentSession();  // Close()s

  // Queues a message for the agent; false once the session is closed. Any thread.
  bool Send(CoordinatorMessage message);
  // Stops the writer thread; later Sends fail. Called by the stream handler before it returns.
  void Close();
  bool closed() const;

  // Sends `pings` clock pings and waits up to `timeout` for the pongs; returns the best estimate
  // so far (nullopt when no pong came back). Any thread except the session's reader.
  std::optional<ClockEstimate> SyncClock(int pings, absl::Duration timeout);
  // Reader thread: a pong arrived.
  void OnPong(const ClockPong& pong);
  // Reader thread: any message arrived (liveness).
  void Touch();

  AgentInfo Info() const;
  AgentMeta Meta() const;
  const std::string& id() const { return id_; }
  // The agent process's id from its Register (empty from agents that send none).
  const std::string& instance_id() const { return registration_.instance_id(); }
  // Monotonic time of the last message from the agent (or of the connection).
  int64_t last_seen_ns() const;
  // kDisconnected once closed, whatever was set.
  SessionState state() const;
  void set_state(SessionState state);

 private:
  void WriterLoop();

  const std::string id_;
  const Register registration_;
  MessageWriter* const writer_;
  const Clock* const clock_;
  const int64_t connected_at_ns_;

  mutable absl::Mutex mu_;
  std::deque<CoordinatorMessage> outbox_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  SessionState state_ ABSL_GUARDED_BY(mu_);
  ClockEstimator clock_estimator_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ping_id_ ABSL_GUARDED_BY(mu_) = 1;
  int pongs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_seen_ns_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_thread_;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_AGENT_SESSION_H_
