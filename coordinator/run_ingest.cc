// RunManager, ingest: what agents send during a run. A batch is validated before it touches any
// state, deduplicated by (run, agent, seq), merged, appended to the store, and acknowledged only
// from the store's commit callback: an acknowledged batch is on disk, so an agent may forget it.
// An agent's part of a run is finished once its RunFinished came and every batch it announced is
// committed; that state is stored before the finish is acknowledged.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log_line.h"
#include "coordinator/batch_validator.h"
#include "coordinator/run_manager.h"

namespace stampede {

void RunManager::OnAgentMessage(AgentSession& session, const AgentMessage& message) {
  session.Touch();
  switch (message.kind_case()) {
    case AgentMessage::kPong:
      session.OnPong(message.pong());
      break;
    case AgentMessage::kBatch:
      OnBatch(session, message.batch());
      break;
    case AgentMessage::kFinished:
      OnFinished(session, message.finished());
      break;
    case AgentMessage::kHeartbeat:
    case AgentMessage::kRegister:  // a second Register is harmless: identity is fixed
    case AgentMessage::KIND_NOT_SET:
      break;
  }
}

void RunManager::RejectBatch(AgentSession& session, const RecordBatch& batch,
                             const absl::Status& why) {
  {
    absl::MutexLock lock(&mu_);
    ++rejected_batches_;
  }
  // One line per refused batch: refusals are rare (a bug or a hostile sender) and each one is
  // worth seeing. The reason names the field; it quotes nothing long.
  Log(LogLevel::kWarn, LogFields({{"event", "batch_rejected"},
                                  {"agent", session.id()},
                                  {"run", batch.run_id()},
                                  {"seq", absl::StrCat(batch.seq())},
                                  {"reason", why.message()}}));
  CoordinatorMessage m;
  BatchRejected* rejected = m.mutable_batch_rejected();
  rejected->set_run_id(batch.run_id());
  rejected->set_seq(batch.seq());
  rejected->set_code(static_cast<int32_t>(why.code()));
  rejected->set_reason(std::string(why.message()));
  session.Send(std::move(m));
}

void RunManager::OnBatch(AgentSession& session, const RecordBatch& batch) {
  BatchLimits limits;
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(batch.run_id());
    if (run == runs_.end()) {
      // Never started here, or finished longer ago than the late window: nothing to store it in.
      refused = absl::NotFoundError(
          absl::StrCat("run \"", batch.run_id().substr(0, 64),
                       "\" is not known here (never started, or finished longer ago than the "
                       "late window)"));
    } else if (auto a = run->second->agents.find(session.id()); a == run->second->agents.end()) {
      refused = absl::PermissionDeniedError(
          absl::StrCat("agent \"", session.id(), "\" is not part of run ", run->first));
    } else {
      const Run& r = *run->second;
      RunAgent& agent = a->second;
      switch (agent.ledger.Lookup(batch.seq())) {
        case SeqLedger::Seen::kCommitted: {
          // A resend after a reconnect: stored once already, acknowledge again.
          CoordinatorMessage ack;
          ack.mutable_ack()->set_run_id(batch.run_id());
          ack.mutable_ack()->set_seq(batch.seq());
          session.Send(std::move(ack));
          return;
        }
        case SeqLedger::Seen::kPending:
          return;  // its first copy is on the way to the store; the commit acknowledges it
        case SeqLedger::Seen::kNew:
          break;
      }
      refused = agent.ledger.CheckWindow(batch.seq());
      limits.agent_id = session.id();
      limits.stages = r.plan.stages_size();
      limits.timeout_ns = r.request_timeout_ns;
      limits.run_start_ns = r.start_ns;
      limits.now_ns = clock_->WallNs();
      limits.clock_offset_ns = agent.meta.clock_offset_ns;
      limits.clock_uncertainty_ns = agent.meta.clock_uncertainty_ns;
      limits.slack_ns = absl::ToInt64Nanoseconds(options_.timestamp_slack);
    }
  }
  if (!refused.ok()) {
    RejectBatch(session, batch, refused);
    return;
  }
  // Outside the lock: a batch of up to a million records is checked record by record.
  if (absl::Status s = ValidateBatch(batch, limits); !s.ok()) {
    RejectBatch(session, batch, s);
    return;
  }
  RunAggregator* aggregator = nullptr;
  AgentMeta meta;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(batch.run_id());
    if (run == runs_.end()) return;  // forgotten meanwhile; the agent resends, and is told then
    auto a = run->second->agents.find(session.id());
    if (a == run->second->agents.end()) return;
    RunAgent& agent = a->second;
    // Another copy (a reconnect racing the first) may have got here first.
    if (agent.ledger.Lookup(batch.seq()) != SeqLedger::Seen::kNew) return;
    agent.ledger.MarkPending(batch.seq());
    aggregator = run->second->aggregator.get();
    meta = agent.meta;
  }
  // Outside the lock: aggregation and the store queue are thread-safe, and batches from
  // different agents proceed in parallel. Merged before the commit (a failed commit fails the
  // run: see OnCommitted).
  aggregator->AddBatch(meta, batch);
  store_->AppendBatch(
      batch.run_id(), meta, batch,
      [this, run_id = batch.run_id(), agent_id = session.id(), seq = batch.seq()](
          const absl::Status& status) { OnCommitted(run_id, agent_id, seq, status); });
}

void RunManager::OnCommitted(const std::string& run_id, const std::string& agent_id, uint64_t seq,
                             const absl::Status& status) {
  std::optional<AgentUpdate> update;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(run_id);
    if (run == runs_.end()) return;
    Run& r = *run->second;
    auto a = r.agents.find(agent_id);
    if (a == r.agents.end()) return;
    RunAgent& agent = a->second;
    if (!status.ok()) {
      Log(LogLevel::kError, absl::StrCat(LogFields({{"event", "store_error"},
                                                    {"agent", agent_id},
                                                    {"run", run_id},
                                                    {"reason", status.message()}}),
                                         " seq=", seq));
      // The store cannot keep records: no acknowledgement (the agent keeps the batch), and the
      // run cannot be complete. Its merged view already holds the batch, so a resend must not
      // be merged again: the run fails rather than count twice.
      agent.ledger.Forget(seq);
      if (r.state.phase == RunPhase::kRunning || r.state.phase == RunPhase::kAborted) {
        r.state = RunState::Failed(
            absl::StrCat("the store could not commit records: ", status.message()));
      }
      for (auto& [id, other] : r.agents) {
        if (!other.state.terminal()) other.state = AgentRunState::Failed("store write failed");
      }
      return;
    }
    agent.ledger.MarkCommitted(seq);
    if (LogEnabled(LogLevel::kDebug)) {
      options_.log(absl::StrCat(
          LogFields({{"event", "batch_committed"}, {"agent", agent_id}, {"run", run_id}}),
          " seq=", seq));
    }
    if (auto session = SessionOf(agent_id)) {
      CoordinatorMessage ack;
      ack.mutable_ack()->set_run_id(run_id);
      ack.mutable_ack()->set_seq(seq);
      session->Send(std::move(ack));
    }
    if (r.done) r.stale_report = true;  // a late record: the stored report is rebuilt
    update = MaybeFinished(r, agent);
  }
  if (update.has_value()) Apply(*update);
}

void RunManager::OnFinished(AgentSession& session, const RunFinished& finished) {
  std::optional<AgentUpdate> update;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(finished.run_id());
    if (run == runs_.end()) {
      // A run unknown here (or long finished): the agent may forget it; its batches were refused.
      session.set_state(SessionState{});
      CoordinatorMessage m;
      m.set_finish_ack(finished.run_id());
      session.Send(std::move(m));
      return;
    }
    Run& r = *run->second;
    auto a = r.agents.find(session.id());
    if (a == r.agents.end()) return;
    RunAgent& agent = a->second;
    session.set_state(SessionState{});
    agent.undurable_batches = finished.undurable_batches();
    agent.dropped_records = finished.dropped_records();
    if (!finished.error().empty()) {
      if (agent.state.phase != AgentRunPhase::kFinished) {
        agent.state = AgentRunState::Failed(finished.error().substr(0, 512));
      }
      update = AgentUpdate{r.id, session.id(), StateName(agent.state), std::nullopt,
                           SessionOf(session.id())};
    } else {
      agent.expected_batches = finished.batches();
      update = MaybeFinished(r, agent);
      if (!update.has_value() && agent.state.terminal()) {
        // Its part is over anyway (aborted, failed): acknowledge, so it may forget the run.
        update = AgentUpdate{r.id, session.id(), StateName(agent.state), agent.expected_batches,
                             SessionOf(session.id())};
      }
    }
    if (r.done) r.stale_report = true;
  }
  if (update.has_value()) Apply(*update);
}

std::optional<RunManager::AgentUpdate> RunManager::MaybeFinished(Run& run, RunAgent& agent) {
  if (!agent.expected_batches.has_value() || agent.ledger.committed() < *agent.expected_batches) {
    return std::nullopt;
  }
  // Lost means "stopped hearing from": an agent that comes back with everything is finished.
  if (agent.state.phase != AgentRunPhase::kRunning && agent.state.phase != AgentRunPhase::kLost) {
    return std::nullopt;
  }
  agent.state = AgentRunState{AgentRunPhase::kFinished, ""};
  return AgentUpdate{run.id, agent.meta.id, StateName(agent.state), agent.expected_batches,
                     SessionOf(agent.meta.id)};
}

void RunManager::Apply(const AgentUpdate& update) {
  // Stored first: a coordinator that restarts after acknowledging must not wait for batches the
  // agent has forgotten.
  if (absl::Status s = store_->UpdateRunAgent(update.run_id, update.agent_id, update.state,
                                              update.expected_batches);
      !s.ok()) {
    Log(LogLevel::kError, LogFields({{"event", "store_error"},
                                     {"agent", update.agent_id},
                                     {"run", update.run_id},
                                     {"reason", s.message()}}));
    return;  // not acknowledged: the agent sends its RunFinished again after a reconnect
  }
  Log(LogLevel::kInfo, LogFields({{"event", "agent_done"},
                                  {"agent", update.agent_id},
                                  {"run", update.run_id},
                                  {"state", update.state}}));
  if (update.finish_ack_to != nullptr) {
    CoordinatorMessage m;
    m.set_finish_ack(update.run_id);
    update.finish_ack_to->Send(std::move(m));
  }
}

}  // namespace stampede
