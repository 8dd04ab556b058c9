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
#include "coordinator/stage_progress.h"
#include "common/log_line.h"
#include "common/plan_loader.h"
#include "coordinator/registration.h"

namespace stampede {
namespace {

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

// The per-request timeout the agents apply: the plan's, else their default (10 s).
int64_t RequestTimeoutNs(const Target& target) {
  return target.has_timeout() ? DurationToNs(target.timeout()) : int64_t{10'000'000'000};
}

}  // namespace

void RunManager::Log(LogLevel level, const std::string& line) const {
  if (LogEnabled(level)) options_.log(line);
}

absl::Status RunManager::CheckToken(const std::string& token) const {
  if (!options_.token.empty() && !ConstantTimeEquals(token, options_.token)) {
    return absl::PermissionDeniedError("bad or missing token (see --token / STAMPEDE_TOKEN)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<AgentSession>> RunManager::RegisterAgent(
    const Register& reg, MessageWriter* writer, const std::vector<std::string>& certificate_names) {
  if (absl::Status s = CheckToken(reg.token()); !s.ok()) return s;
  if (absl::Status s = ValidateRegistration(reg); !s.ok()) return s;
  if (options_.bind_names_to_certificates) {
    if (absl::Status s = CheckNameMatchesCertificate(reg.name(), certificate_names); !s.ok()) {
      return s;
    }
  }
  // The agent's name is its identity: batches it resends after a reconnect are credited to the
  // same agent of the run. One live session per name: a second process under a name already
  // connected is refused (it might otherwise take over that agent's runs and receive its plans),
  // unless it is the same process reconnecting (same instance id) while its old stream lingers.
  auto session = std::make_shared<AgentSession>(reg.name(), reg, writer, clock_);
  std::shared_ptr<AgentSession> old;
  std::vector<std::string> lost_runs;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(reg.name());
    if (it != sessions_.end() && !it->second->closed()) {
      if (reg.instance_id().empty() || it->second->instance_id() != reg.instance_id()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "an agent named \"", reg.name(),
            "\" is already connected; names are identities: give each agent its own --name"));
      }
      old = it->second;
    }
    sessions_[reg.name()] = session;
    const std::set<std::string> active(reg.active_runs().begin(), reg.active_runs().end());
    for (auto& [id, run] : runs_) {
      auto a = run->agents.find(reg.name());
      if (a == run->agents.end()) continue;
      RunAgent& agent = a->second;
      agent.awaiting_return = false;
      // (Agents older than instance ids send none: they count as the same process.)
      const bool same_process = agent.instance_id == reg.instance_id();
      if (same_process && active.count(id) > 0) {
        // A reconnect: the agent still runs (or holds) its part. Heard from again, an agent that
        // was declared lost while the run went on is back in it.
        if (!run->done && agent.state.phase == AgentRunPhase::kLost) agent.state = AgentRunState{};
        if (!agent.state.terminal()) session->set_state(SessionState::Running(id));
        continue;
      }
      if (!agent.state.terminal()) {
        // A restarted agent (new process) or one that forgot the run no longer runs its schedule:
        // its part of the run is over now, not after a grace. What it spooled still comes in.
        agent.state = AgentRunState{AgentRunPhase::kLost, ""};
        lost_runs.push_back(id);
      }
    }
    // Runs it still holds that are not (or no longer) here: it is busy with them until it says
    // it is done, so that no new run is given to it meanwhile.
    if (session->state().phase == SessionPhase::kIdle) {
      for (const std::string& id : active) {
        auto run = runs_.find(id);
        const bool ours = run != runs_.end() && run->second->agents.count(reg.name()) > 0;
        if (!ours) {
          session->set_state(SessionState::Running(id));
          break;
        }
      }
    }
  }
  if (old != nullptr) old->Close();
  for (const std::string& id : lost_runs) {
    Log(LogLevel::kWarn,
        LogFields({{"event", "agent_lost"},
                   {"agent", reg.name()},
                   {"run", id},
                   {"reason", "restarted (a new process: its part of the run is over)"}}));
  }
  return session;
}

std::shared_ptr<AgentSession> RunManager::SessionOf(const std::string& agent_id) const {
  auto it = sessions_.find(agent_id);
  if (it == sessions_.end() || it->second->closed()) return nullptr;
  return it->second;
}

uint64_t RunManager::rejected_batches() const {
  absl::MutexLock lock(&mu_);
  return rejected_batches_;
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
  run->request_timeout_ns = RequestTimeoutNs(plan.target());
  StartRunResponse response;
  response.set_run_id(run_id);
  const bool cluster = plan.agents().split() == "cluster";
  std::vector<CoordinatorMessage> starts;
  for (size_t i = 0; i < agents.size(); ++i) {
    AgentInfo info = agents[i]->Info();
    RunAgent ra;
    ra.meta = agents[i]->Meta();
    ra.info = info;
    ra.instance_id = agents[i]->instance_id();
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
  std::vector<StoredRunAgent> stored;
  for (const auto& [id, agent] : run->agents) {
    StoredRunAgent row;
    row.info = agent.info;
    row.info.set_clock_offset_ns(agent.meta.clock_offset_ns);
    row.info.set_clock_uncertainty_ns(agent.meta.clock_uncertainty_ns);
    row.instance_id = agent.instance_id;
    row.state = StateName(agent.state);
    stored.push_back(std::move(row));
  }
  {
    absl::MutexLock lock(&mu_);
    summary = SummaryOf(*run);
    runs_[run_id] = std::move(run);
  }
  // Committed before any agent is told to start: a coordinator that restarts from here on finds
  // the run, its plan and its agents.
  if (absl::Status s = store_->CreateRun(summary, plan_json, stored); !s.ok()) {
    absl::MutexLock lock(&mu_);
    runs_.erase(run_id);
    for (auto& a : agents) a->set_state(SessionState{});
    return s;
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < agents.size(); ++i) {
    agents[i]->set_state(SessionState::Running(run_id));
    agents[i]->Send(std::move(starts[i]));
    names.push_back(agents[i]->id());
  }
  Log(LogLevel::kInfo, absl::StrCat(LogFields({{"event", "run_started"},
                                               {"run", run_id},
                                               {"plan", plan.name()},
                                               {"agent_names", absl::StrJoin(names, ",")}}),
                                    " agents=", agents.size(), " stages=", plan.stages_size(),
                                    " split=", cluster ? "cluster" : "per_agent", " start_in_ms=",
                                    (summary.started_ns() - clock_->WallNs()) / 1'000'000));
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
  const int64_t now = clock_->WallNs();
  Progress p = run.aggregator->LiveProgress(now);
  p.set_run_id(run_id);
  p.set_state(StateName(run.state));
  p.set_done(run.done);
  FillStageProgress(run.plan, static_cast<int>(run.agents.size()), now - run.start_ns,
                    run.aggregator->LatestStage(), &p);
  for (const auto& [id, a] : run.agents) {
    if (a.state.phase == AgentRunPhase::kLost || a.state.phase == AgentRunPhase::kFailed) {
      p.add_agents_out(absl::StrCat(a.meta.name, ": ", StateName(a.state)));
    }
  }
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

std::vector<std::shared_ptr<AgentSession>> RunManager::AbortLocked(Run& run) {
  std::vector<std::shared_ptr<AgentSession>> sessions;
  if (run.done) return sessions;
  run.state = RunState{RunPhase::kAborted, ""};
  for (auto& [id, a] : run.agents) {
    if (a.state.terminal()) continue;
    if (auto s = SessionOf(id)) {
      sessions.push_back(std::move(s));
    } else {
      // Nobody to tell: its part ends now, so the abort does not wait for it to come back.
      a.state = AgentRunState{AgentRunPhase::kLost, ""};
    }
  }
  return sessions;
}

void RunManager::SendStop(const std::vector<std::shared_ptr<AgentSession>>& sessions,
                          const std::string& run_id, const std::string& reason) {
  // The agents told to stop end their part with their RunFinished; one that does not answer is
  // lost after the grace, so an abort ends the run within it whatever the agents do.
  for (const auto& s : sessions) {
    CoordinatorMessage m;
    m.mutable_stop()->set_run_id(run_id);
    m.mutable_stop()->set_reason(reason);
    s->Send(std::move(m));
  }
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
    sessions = AbortLocked(run);
    summary = SummaryOf(run);
  }
  Log(LogLevel::kInfo, absl::StrCat(LogFields({{"event", "run_aborting"}, {"run", run_id}}),
                                    " agents_told=", sessions.size()));
  SendStop(sessions, run_id, "aborted by user");
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

}  // namespace stampede
