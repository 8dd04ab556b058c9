#include "coordinator/agent_session.h"

namespace stampede {

AgentSession::AgentSession(std::string id, const Register& reg, MessageWriter* writer,
                           const Clock* clock)
    : id_(std::move(id)),
      registration_(reg),
      writer_(writer),
      clock_(clock),
      connected_at_ns_(clock->WallNs()) {
  last_seen_ns_ = clock_->MonotonicNs();
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

AgentSession::~AgentSession() { Close(); }

bool AgentSession::Send(CoordinatorMessage message) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  outbox_.push_back(std::move(message));
  return true;
}

void AgentSession::Close() {
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  if (writer_thread_.joinable()) writer_thread_.join();
}

bool AgentSession::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

void AgentSession::WriterLoop() {
  while (true) {
    CoordinatorMessage message;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](AgentSession* s)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return s->closed_ || !s->outbox_.empty(); },
          this));
      if (outbox_.empty()) return;  // closed and drained
      message = std::move(outbox_.front());
      outbox_.pop_front();
    }
    if (!writer_->Write(message)) {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      outbox_.clear();
      return;
    }
  }
}

std::optional<ClockEstimate> AgentSession::SyncClock(int pings, absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    clock_estimator_.Reset();
    pongs_ = 0;
  }
  struct Want {
    AgentSession* session;
    int pongs;
  };
  for (int i = 0; i < pings; ++i) {
    CoordinatorMessage m;
    {
      absl::MutexLock lock(&mu_);
      m.mutable_ping()->set_id(next_ping_id_++);
    }
    m.mutable_ping()->set_coordinator_send_ns(clock_->WallNs());
    if (!Send(std::move(m))) return std::nullopt;
    // One ping at a time: a ping queued behind another would carry the first one's wait in its
    // round trip. Each waits for its pong (or its share of the timeout).
    Want want{this, i + 1};
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](Want* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                               return w->session->pongs_ >= w->pongs || w->session->closed_;
                             },
                             &want),
                         timeout / pings);
  }
  absl::MutexLock lock(&mu_);
  return clock_estimator_.Best();
}

void AgentSession::OnPong(const ClockPong& pong) {
  const int64_t t4 = clock_->WallNs();
  absl::MutexLock lock(&mu_);
  clock_estimator_.AddSample(pong.coordinator_send_ns(), pong.agent_receive_ns(),
                             pong.agent_send_ns(), t4);
  ++pongs_;
}

void AgentSession::Touch() {
  const int64_t now = clock_->MonotonicNs();
  absl::MutexLock lock(&mu_);
  last_seen_ns_ = now;
}

int64_t AgentSession::last_seen_ns() const {
  absl::MutexLock lock(&mu_);
  return last_seen_ns_;
}

SessionState AgentSession::state() const {
  absl::MutexLock lock(&mu_);
  if (closed_) return SessionState{SessionPhase::kDisconnected, ""};
  return state_;
}

void AgentSession::set_state(SessionState state) {
  absl::MutexLock lock(&mu_);
  state_ = std::move(state);
}

AgentInfo AgentSession::Info() const {
  AgentInfo info;
  info.set_id(id_);
  info.set_name(registration_.name());
  info.set_region(registration_.region());
  *info.mutable_labels() = registration_.labels();
  info.set_cores(registration_.cores());
  info.set_version(registration_.version());
  info.set_connected_at_ns(connected_at_ns_);
  info.set_state(StateName(state()));
  absl::MutexLock lock(&mu_);
  if (auto best = clock_estimator_.Best()) {
    info.set_clock_offset_ns(best->offset_ns);
    info.set_clock_uncertainty_ns(best->uncertainty_ns);
  }
  return info;
}

AgentMeta AgentSession::Meta() const {
  AgentMeta meta;
  meta.id = id_;
  meta.name = registration_.name();
  meta.region = registration_.region();
  absl::MutexLock lock(&mu_);
  if (auto best = clock_estimator_.Best()) {
    meta.clock_offset_ns = best->offset_ns;
    meta.clock_uncertainty_ns = best->uncertainty_ns;
  }
  return meta;
}

}  // namespace stampede
