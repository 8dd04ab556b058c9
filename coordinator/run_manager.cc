#include "coordinator/run_manager.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/load_split.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

constexpr absl::Duration kMonitorInterval = absl::Milliseconds(50);

bool LabelsMatch(const google::protobuf::Map<std::string, std::string>& want,
                 const google::protobuf::Map<std::string, std::string>& have) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

std::string DescribeSelection(const AgentSelection& sel) {
  std::vector<std::string> parts;
  if (sel.count() > 0) parts.push_back(absl::StrCat(sel.count(), " agent(s)"));
  if (sel.regions_size() > 0) {
    parts.push_back(absl::StrCat("regions ", absl::StrJoin(sel.regions(), ",")));
  }
  if (!sel.labels().empty()) {
    std::vector<std::string> labels;
    for (const auto& [k, v] : sel.labels()) labels.push_back(absl::StrCat(k, "=", v));
    std::sort(labels.begin(), labels.end());
    parts.push_back(absl::StrCat("labels ", absl::StrJoin(labels, ",")));
  }
  return parts.empty() ? "any agent" : absl::StrJoin(parts, ", ");
}

}  // namespace

RunManager::RunManager(Store* store, const Clock* clock, RunManagerOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {
  if (options_.monitor_thread) monitor_ = std::thread([this] { MonitorLoop(); });
}

RunManager::~RunManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (monitor_.joinable()) monitor_.join();
}

absl::Status RunManager::CheckToken(const std::string& token) const {
  if (!options_.token.empty() && token != options_.token) {
    return absl::PermissionDeniedError("bad or missing token (see --token / STAMPEDE_TOKEN)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<AgentSession>> RunManager::RegisterAgent(const Register& reg,
                                                                        MessageWriter* writer) {
  if (absl::Status s = CheckToken(reg.token()); !s.ok()) return s;
  if (reg.name().empty()) return absl::InvalidArgumentError("register: agent name is empty");
  // The agent's name is its identity: a reconnecting agent replaces its old session, so batches
  // it resends are credited to the same agent of the run.
  auto session = std::make_shared<AgentSession>(reg.name(), reg, writer, clock_);
  std::shared_ptr<AgentSession> old;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(reg.name());
    if (it != sessions_.end()) old = it->second;
    sessions_[reg.name()] = session;
    for (auto& [id, run] : runs_) {
      auto a = run->agents.find(reg.name());
      if (a == run->agents.end() || a->second.state.terminal()) continue;
      session->set_state(SessionState::Running(id));
    }
  }
  if (old != nullptr) old->Close();
  return session;
}

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

void RunManager::OnBatch(AgentSession& session, const RecordBatch& batch) {
  CoordinatorMessage ack;
  ack.mutable_ack()->set_run_id(batch.run_id());
  ack.mutable_ack()->set_seq(batch.seq());
  RunAggregator* aggregator = nullptr;
  AgentMeta meta;
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(batch.run_id());
    if (run == runs_.end()) {
      // Unknown run (e.g. the coordinator restarted): ack so the agent does not resend forever.
      session.Send(std::move(ack));
      return;
    }
    auto a = run->second->agents.find(session.id());
    // A finished run (or an agent already declared lost) takes no more records: its report is
    // final, and the store must agree with it.
    if (a == run->second->agents.end() || run->second->done || run->second->finalizing ||
        a->second.state.terminal()) {
      session.Send(std::move(ack));
      return;
    }
    RunAgent& agent = a->second;
    if (batch.seq() >= agent.seen.size()) agent.seen.resize(batch.seq() + 1, false);
    if (agent.seen[batch.seq()]) {
      session.Send(std::move(ack));  // a resend after a reconnect: ingested once already
      return;
    }
    agent.seen[batch.seq()] = true;
    aggregator = run->second->aggregator.get();
    meta = agent.meta;
  }
  // Outside the lock: aggregation and the store queue are thread-safe, and batches from
  // different agents proceed in parallel.
  aggregator->AddBatch(meta, batch);
  store_->AppendRecords(batch.run_id(), meta, batch);
  {
    absl::MutexLock lock(&mu_);
    auto run = runs_.find(batch.run_id());
    if (run != runs_.end()) {
      auto a = run->second->agents.find(session.id());
      if (a != run->second->agents.end()) {
        ++a->second.ingested;
        if (a->second.expected_batches && a->second.ingested == *a->second.expected_batches &&
            a->second.state.phase == AgentRunPhase::kRunning) {
          a->second.state = AgentRunState{AgentRunPhase::kFinished, ""};
          // Its RunFinished came before this last batch was counted: ack the finish now, so
          // the agent can forget the run.
          CoordinatorMessage m;
          m.set_finish_ack(batch.run_id());
          session.Send(std::move(m));
        }
      }
    }
  }
  session.Send(std::move(ack));
}

void RunManager::OnFinished(AgentSession& session, const RunFinished& finished) {
  absl::MutexLock lock(&mu_);
  auto run = runs_.find(finished.run_id());
  if (run == runs_.end()) {
    CoordinatorMessage m;
    m.set_finish_ack(finished.run_id());
    session.Send(std::move(m));
    return;
  }
  auto a = run->second->agents.find(session.id());
  if (a == run->second->agents.end()) return;
  RunAgent& agent = a->second;
  if (!finished.error().empty()) {
    if (!agent.state.terminal()) agent.state = AgentRunState::Failed(finished.error());
  } else {
    agent.expected_batches = finished.batches();
    if (agent.ingested == finished.batches() && agent.state.phase == AgentRunPhase::kRunning) {
      agent.state = AgentRunState{AgentRunPhase::kFinished, ""};
    }
  }
  session.set_state(SessionState{});
  // Ack once everything is in (or the agent's part of the run is over: lost, aborted, failed):
  // the agent may then drop the run. Before that it keeps resending.
  if (agent.state.terminal() || run->second->done) {
    CoordinatorMessage m;
    m.set_finish_ack(finished.run_id());
    session.Send(std::move(m));
  }
}

std::vector<AgentInfo> RunManager::ListAgents() const {
  std::vector<AgentInfo> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, s] : sessions_) {
    if (!s->closed()) out.push_back(s->Info());
  }
  return out;
}

std::vector<std::shared_ptr<AgentSession>> RunManager::SelectAgents(const Plan& plan,
                                                                    std::string* error) {
  const AgentSelection& sel = plan.agents();
  // Candidates grouped by region, so that a count is spread over the regions round-robin.
  std::map<std::string, std::vector<std::shared_ptr<AgentSession>>> by_region;
  std::vector<std::string> connected;
  for (const auto& [id, s] : sessions_) {
    if (s->closed()) continue;
    const AgentInfo info = s->Info();
    connected.push_back(absl::StrCat(info.name(), " (", info.region(), ", ", info.state(), ")"));
    if (s->state().phase != SessionPhase::kIdle) continue;
    if (sel.regions_size() > 0 && std::find(sel.regions().begin(), sel.regions().end(),
                                            info.region()) == sel.regions().end()) {
      continue;
    }
    if (!LabelsMatch(sel.labels(), info.labels())) continue;
    by_region[info.region()].push_back(s);
  }
  std::vector<std::string> order;
  for (const auto& r : sel.regions()) {
    if (by_region.count(r) && std::find(order.begin(), order.end(), r) == order.end()) {
      order.push_back(r);
    }
  }
  for (const auto& [r, v] : by_region) {
    if (std::find(order.begin(), order.end(), r) == order.end()) order.push_back(r);
  }
  std::vector<std::shared_ptr<AgentSession>> chosen;
  size_t total = 0;
  for (const auto& [r, v] : by_region) total += v.size();
  const size_t want = sel.count() > 0 ? static_cast<size_t>(sel.count()) : total;
  for (size_t round = 0; chosen.size() < want; ++round) {
    bool any = false;
    for (const auto& r : order) {
      if (round < by_region[r].size() && chosen.size() < want) {
        chosen.push_back(by_region[r][round]);
        any = true;
      }
    }
    if (!any) break;
  }
  const std::string have = connected.empty()
                               ? "none connected"
                               : absl::StrCat("connected: ", absl::StrJoin(connected, "; "));
  if (chosen.empty()) {
    *error = absl::StrCat("no idle agents match the plan's selection (", DescribeSelection(sel),
                          "); ", have);
    return {};
  }
  if (chosen.size() < want) {
    *error = absl::StrCat("the plan wants ", want, " agents (", DescribeSelection(sel),
                          ") but only ", chosen.size(), " idle agent(s) match; ", have);
    return {};
  }
  return chosen;
}

std::string RunManager::NewRunId() {
  // Sortable by time: r-YYYYMMDD-HHMMSS-XXXX. The suffix steps through 16 bits from a random
  // start per coordinator, so ids are unique within one coordinator and two coordinators (say,
  // two embedded runs) sharing a store do not collide when they start in the same second.
  const absl::Time now = absl::FromUnixNanos(clock_->WallNs());
  absl::MutexLock lock(&mu_);
  const uint32_t suffix = static_cast<uint32_t>((run_salt_ + ++run_counter_) & 0xffff);
  return absl::StrCat("r-", absl::FormatTime("%Y%m%d-%H%M%S", now, absl::UTCTimeZone()), "-",
                      absl::StrFormat("%04x", suffix));
}

absl::StatusOr<StartRunResponse> RunManager::StartRun(const Plan& plan) {
  if (absl::Status s = ValidatePlan(plan); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("plan rejected: ", s.message()));
  }
  const Target& target = plan.target();
  if ((!target.payload_file().empty() || target.payload_files_size() > 0) &&
      target.resolved_payloads_size() == 0) {
    return absl::InvalidArgumentError(
        "plan rejected: target.payloadFile was not loaded (send plans with `stampede run`, which "
        "reads the payload)");
  }
  if (!target.bearer_token_env().empty() && target.resolved_bearer_token().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("plan rejected: target.bearerTokenEnv ",
                                                   target.bearer_token_env(),
                                                   " was not resolved by the client"));
  }
  std::vector<std::shared_ptr<AgentSession>> agents;
  {
    absl::MutexLock lock(&mu_);
    std::string error;
    agents = SelectAgents(plan, &error);
    if (agents.empty()) return absl::FailedPreconditionError(error);
    for (auto& a : agents) a->set_state(SessionState{SessionPhase::kStarting, ""});
  }
  // Clock offsets and round trips, measured now for this run, in parallel.
  std::vector<std::optional<ClockEstimate>> clocks(agents.size());
  {
    std::vector<std::thread> syncs;
    for (size_t i = 0; i < agents.size(); ++i) {
      syncs.emplace_back(
          [&, i] { clocks[i] = agents[i]->SyncClock(options_.clock_pings, absl::Seconds(3)); });
    }
    for (auto& t : syncs) t.join();
  }
  int64_t worst_rtt = 0;
  for (size_t i = 0; i < agents.size(); ++i) {
    if (!clocks[i].has_value()) {
      for (auto& a : agents) a->set_state(SessionState{});
      return absl::UnavailableError(
          absl::StrCat("agent ", agents[i]->id(), " did not answer clock pings"));
    }
    worst_rtt = std::max(worst_rtt, clocks[i]->rtt_ns);
  }

  const std::string run_id = NewRunId();
  auto run = std::make_unique<Run>();
  run->id = run_id;
  run->plan = WithoutSecrets(plan);
  run->created_ns = clock_->WallNs();
  // One instant for all: far enough ahead for the slowest agent to get its StartRun.
  run->start_ns = run->created_ns + 2 * worst_rtt + absl::ToInt64Nanoseconds(options_.start_margin);
  run->aggregator = std::make_unique<RunAggregator>(run_id, run->plan, run->start_ns);
  StartRunResponse response;
  response.set_run_id(run_id);
  const bool cluster = plan.agents().split() == "cluster";
  std::vector<CoordinatorMessage> starts;
  for (size_t i = 0; i < agents.size(); ++i) {
    AgentInfo info = agents[i]->Info();
    RunAgent ra;
    ra.meta = agents[i]->Meta();
    ra.info = info;
    run->aggregator->AddAgent(ra.meta);
    run->agents[agents[i]->id()] = std::move(ra);
    *response.add_agents() = info;

    CoordinatorMessage m;
    ::stampede::StartRun* start = m.mutable_start();
    start->set_run_id(run_id);
    *start->mutable_plan() = plan;
    if (cluster) {
      for (int s = 0; s < plan.stages_size(); ++s) {
        *start->mutable_plan()->mutable_stages(s) =
            SplitStage(plan.stages(s), static_cast<int>(agents.size()), static_cast<int>(i));
      }
    }
    start->set_start_at_agent_ns(run->start_ns + clocks[i]->offset_ns);
    start->set_threads(options_.agent_threads);
    starts.push_back(std::move(m));
  }
  RunSummary summary;
  std::string plan_json;
  google::protobuf::util::JsonPrintOptions json_options;
  (void)google::protobuf::util::MessageToJsonString(run->plan, &plan_json, json_options);
  {
    absl::MutexLock lock(&mu_);
    summary = SummaryOf(*run);
    runs_[run_id] = std::move(run);
  }
  if (absl::Status s = store_->CreateRun(summary, plan_json); !s.ok()) {
    absl::MutexLock lock(&mu_);
    runs_.erase(run_id);
    for (auto& a : agents) a->set_state(SessionState{});
    return s;
  }
  for (size_t i = 0; i < agents.size(); ++i) {
    agents[i]->set_state(SessionState::Running(run_id));
    agents[i]->Send(std::move(starts[i]));
  }
  return response;
}

RunSummary RunManager::SummaryOf(const Run& run) const {
  RunSummary s;
  s.set_run_id(run.id);
  s.set_plan_name(run.plan.name());
  s.set_state(StateName(run.state));
  s.set_started_ns(run.start_ns);
  s.set_ended_ns(run.ended_ns);
  s.set_agents(static_cast<int32_t>(run.agents.size()));
  if (run.done) {
    s.set_requests(run.final_report.totals().requests());
    s.set_errors(run.final_report.totals().errors());
  } else {
    s.set_requests(run.aggregator->requests());
  }
  return s;
}

void RunManager::FillReportHeader(const Run& run, RunReport* report) const {
  report->set_run_id(run.id);
  report->set_plan_name(run.plan.name());
  report->set_state(StateName(run.state));
  report->set_started_ns(run.start_ns);
  report->set_ended_ns(run.ended_ns);
  *report->mutable_plan() = run.plan;
  for (AgentResult& r : *report->mutable_by_agent()) {
    auto a = run.agents.find(r.agent().id());
    if (a != run.agents.end()) {
      r.set_state(StateName(a->second.state));
      *r.mutable_agent()->mutable_labels() = a->second.info.labels();
    }
  }
}

absl::StatusOr<Progress> RunManager::GetProgress(const std::string& run_id) const {
  absl::MutexLock lock(&mu_);
  auto it = runs_.find(run_id);
  if (it == runs_.end()) return absl::NotFoundError(absl::StrCat("run \"", run_id, "\" not found"));
  const Run& run = *it->second;
  Progress p = run.aggregator->LiveProgress(clock_->WallNs());
  p.set_run_id(run_id);
  p.set_state(StateName(run.state));
  p.set_done(run.done);
  return p;
}

bool RunManager::WaitDone(const std::string& run_id, absl::Duration timeout) const {
  struct Args {
    const RunManager* self;
    const std::string* id;
  } args{this, &run_id};
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    auto it = a->self->runs_.find(*a->id);
                                    return it == a->self->runs_.end() || it->second->done;
                                  },
                                  &args),
                              timeout);
}

absl::StatusOr<RunSummary> RunManager::Abort(const std::string& run_id) {
  std::vector<std::shared_ptr<AgentSession>> sessions;
  RunSummary summary;
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it == runs_.end()) {
      return absl::NotFoundError(absl::StrCat("run \"", run_id, "\" is not running here"));
    }
    Run& run = *it->second;
    if (!run.done) {
      run.state = RunState{RunPhase::kAborted, ""};
      for (const auto& [id, a] : run.agents) {
        auto s = sessions_.find(id);
        if (s != sessions_.end() && !a.state.terminal()) sessions.push_back(s->second);
      }
    }
    summary = SummaryOf(run);
  }
  for (auto& s : sessions) {
    CoordinatorMessage m;
    m.mutable_stop()->set_run_id(run_id);
    m.mutable_stop()->set_reason("aborted by user");
    s->Send(std::move(m));
  }
  return summary;
}

absl::StatusOr<RunReport> RunManager::GetReport(const std::string& run_id) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(run_id);
    if (it != runs_.end()) {
      const Run& run = *it->second;
      if (run.done) return run.final_report;
      RunReport live = run.aggregator->Report();
      FillReportHeader(run, &live);
      return live;
    }
  }
  return store_->GetReport(run_id);
}

absl::StatusOr<std::vector<RunSummary>> RunManager::ListRuns() const {
  auto stored = store_->ListRuns();
  if (!stored.ok()) return stored.status();
  // Runs in progress: the live state and counts beat the stored row.
  absl::MutexLock lock(&mu_);
  for (RunSummary& s : *stored) {
    auto it = runs_.find(s.run_id());
    if (it != runs_.end() && !it->second->done) s = SummaryOf(*it->second);
  }
  return stored;
}

void RunManager::MonitorLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kMonitorInterval);
      if (stopping_) return;
    }
    Tick();
  }
}

void RunManager::Tick() {
  std::vector<Run*> ready;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->MonotonicNs();
    const int64_t grace = absl::ToInt64Nanoseconds(options_.agent_grace);
    for (auto& [id, run] : runs_) {
      if (run->done || run->finalizing) continue;
      bool all_terminal = true;
      for (auto& [agent_id, a] : run->agents) {
        if (a.state.terminal()) continue;
        // Lost once not heard from for longer than the grace: silent while connected, or
        // disconnected (its session's last message came before the stream ended) and not
        // reconnected (a reconnect replaces the session, so the time counts from the new one).
        auto s = sessions_.find(agent_id);
        if (s == sessions_.end() || now - s->second->last_seen_ns() > grace) {
          // Its records up to now stay in the run; the rest never came.
          a.state = AgentRunState{AgentRunPhase::kLost, ""};
          continue;
        }
        all_terminal = false;
      }
      if (all_terminal) {
        run->finalizing = true;
        ready.push_back(run.get());
      }
    }
  }
  for (Run* run : ready) Finalize(run);
}

void RunManager::Finalize(Run* run) {
  // Everything ingested must be on disk before the report says the run is complete.
  absl::Status flushed = store_->Flush();
  RunReport report = run->aggregator->Report();
  std::vector<AgentResult> agents;
  RunSummary summary;
  {
    absl::MutexLock lock(&mu_);
    run->ended_ns = clock_->WallNs();
    std::vector<std::string> lost;
    const bool aborted = run->state.phase == RunPhase::kAborted;
    for (auto& [id, a] : run->agents) {
      if (aborted && a.state.phase == AgentRunPhase::kFinished) {
        a.state = AgentRunState{AgentRunPhase::kAborted, ""};
      }
      if (a.state.phase != AgentRunPhase::kFinished && a.state.phase != AgentRunPhase::kAborted) {
        lost.push_back(id);
      }
    }
    if (run->state.phase == RunPhase::kRunning) {
      run->state =
          RunState{lost.empty() ? RunPhase::kFinished : RunPhase::kFinishedWithLostAgents, ""};
    }
    if (!flushed.ok()) run->state = RunState::Failed(std::string(flushed.message()));
    FillReportHeader(*run, &report);
    // A run that did not finish cleanly has not passed, whatever its latencies say.
    if (run->state.phase == RunPhase::kAborted) report.add_threshold_failures("run aborted");
    if (!lost.empty()) {
      report.add_threshold_failures(
          absl::StrCat("agent(s) lost or failed: ", absl::StrJoin(lost, ", ")));
    }
    if (!flushed.ok()) report.add_threshold_failures(StateName(run->state));
    summary = SummaryOf(*run);
    summary.set_requests(report.totals().requests());
    summary.set_errors(report.totals().errors());
    for (const AgentResult& r : report.by_agent()) agents.push_back(r);
  }
  // The stored rows are final before anyone is told the run is done: `stampede runs` and
  // `report --db` read them as soon as `run`/`watch` return.
  for (const AgentResult& r : agents) (void)store_->PutRunAgent(run->id, r);
  (void)store_->UpdateRun(summary, &report);
  absl::MutexLock lock(&mu_);
  run->final_report = std::move(report);
  run->done = true;
  for (const auto& [id, a] : run->agents) {
    auto s = sessions_.find(id);
    if (s != sessions_.end() && !s->second->closed()) s->second->set_state(SessionState{});
  }
}

}  // namespace stampede
