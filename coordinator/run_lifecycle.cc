// RunManager, life cycle: the passage of time (agents lost, runs finalised, late records folded
// into stored reports, old runs forgotten) and recovery after a coordinator restart.
#include <google/protobuf/util/json_util.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/histogram.h"
#include "common/log_line.h"
#include "common/plan_loader.h"
#include "common/thresholds.h"
#include "coordinator/run_manager.h"

namespace stampede {
namespace {

constexpr absl::Duration kMonitorInterval = absl::Milliseconds(50);
// Stored records are read back in batches of this many when a run's views are rebuilt.
constexpr size_t kRebuildBatchRecords = 4096;

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

std::string RunManager::JudgeWindowLocked(Run& run) {
  const Thresholds& th = run.plan.thresholds();
  if (!th.abort_on_fail() || run.state.phase != RunPhase::kRunning) return "";
  const int64_t since_start = clock_->WallNs() - run.start_ns;
  if (since_start < 0) return "";
  const int64_t current = since_start / 1'000'000'000;
  const int64_t window = AbortWindowSeconds(th);
  // The second before the current one may still have batches in flight (agents send about once
  // a second), so the window ends one second earlier; judged once the run has filled it.
  const int64_t last = current - 2;
  const int64_t first = last - window + 1;
  if (first < 0 || last == run.judged_second) return "";
  run.judged_second = last;
  std::map<std::string, MeasuredSlice> regions;
  const MeasuredSlice all =
      run.aggregator->Window(first, last, th.per_region() ? &regions : nullptr);
  const std::vector<std::string> failures =
      ThresholdFailures(CheckThresholds(th, all, regions));
  if (failures.empty()) return "";
  return absl::StrCat("aborted: ", failures.front(), " over the last ", window, "s");
}

void RunManager::Tick() {
  std::vector<Run*> ready;
  std::vector<std::pair<std::string, std::string>> lost;  // (run, agent), logged after the lock
  // abortOnFail: (run, reason, agents to tell), acted on after the lock.
  struct ThresholdAbort {
    std::string run_id;
    std::string reason;
    std::vector<std::shared_ptr<AgentSession>> sessions;
  };
  std::vector<ThresholdAbort> aborts;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = clock_->MonotonicNs();
    const int64_t grace = absl::ToInt64Nanoseconds(options_.agent_grace);
    const int64_t late_window = absl::ToInt64Nanoseconds(options_.late_window);
    for (auto it = runs_.begin(); it != runs_.end();) {
      Run& run = *it->second;
      if (run.finalizing) {
        ++it;
        continue;
      }
      if (run.done) {
        if (run.stale_report) {
          run.finalizing = true;
          ready.push_back(&run);
        } else if (now - run.done_mono_ns > late_window) {
          // Its report is in the store; late batches for it are refused from now on.
          it = runs_.erase(it);
          continue;
        }
        ++it;
        continue;
      }
      if (std::string reason = JudgeWindowLocked(run); !reason.empty()) {
        run.abort_reason = reason;
        aborts.push_back({run.id, std::move(reason), AbortLocked(run)});
      }
      bool all_terminal = true;
      for (auto& [agent_id, a] : run.agents) {
        if (a.state.terminal()) continue;
        if (now < a.lost_not_before_ns) {
          all_terminal = false;  // reloaded after a restart: it still has time to come back
          continue;
        }
        // Lost once not heard from for longer than the grace: silent while connected, or
        // disconnected (its session's last message came before the stream ended) and not
        // reconnected (a reconnect replaces the session, so the time counts from the new one).
        auto s = sessions_.find(agent_id);
        if (s == sessions_.end() || now - s->second->last_seen_ns() > grace) {
          // Its records up to now stay in the run; any that come later are stored too.
          a.state = AgentRunState{AgentRunPhase::kLost, ""};
          lost.emplace_back(run.id, agent_id);
          continue;
        }
        all_terminal = false;
      }
      if (all_terminal) {
        run.finalizing = true;
        ready.push_back(&run);
      }
      ++it;
    }
  }
  for (const auto& [run_id, agent_id] : lost) {
    Log(LogLevel::kWarn,
        LogFields({{"event", "agent_lost"},
                   {"agent", agent_id},
                   {"run", run_id},
                   {"reason", absl::StrCat("not heard from for ",
                                           absl::FormatDuration(options_.agent_grace))}}));
  }
  for (const ThresholdAbort& a : aborts) {
    Log(LogLevel::kWarn, absl::StrCat(LogFields({{"event", "run_aborting"},
                                                 {"run", a.run_id},
                                                 {"reason", a.reason}}),
                                      " agents_told=", a.sessions.size()));
    SendStop(a.sessions, a.run_id, a.reason);
  }
  // Only Tick erases runs, so the pointers stay valid here.
  for (Run* run : ready) Finalize(run);
}

void RunManager::Finalize(Run* run) {
  {
    absl::MutexLock lock(&mu_);
    run->stale_report = false;  // records from here on make it stale again
  }
  // Everything ingested must be on disk before the report says the run is complete.
  absl::Status flushed = store_->Flush();
  RunReport report = run->aggregator->Report();
  std::vector<AgentResult> agents;
  RunSummary summary;
  bool first = false;
  std::vector<std::string> lost_names;  // for the log line
  {
    absl::MutexLock lock(&mu_);
    first = !run->done;
    if (first) run->ended_ns = clock_->WallNs();
    std::vector<std::string> lost;
    std::vector<std::string> failed;  // "id (reason)": refused its part or failed, not lost
    std::vector<std::string> never_back;
    std::vector<std::string> dropped;
    const bool aborted = run->state.phase == RunPhase::kAborted;
    for (auto& [id, a] : run->agents) {
      if (aborted && a.state.phase == AgentRunPhase::kFinished) {
        a.state = AgentRunState{AgentRunPhase::kAborted, ""};
      }
      if (a.state.phase == AgentRunPhase::kFailed) {
        failed.push_back(absl::StrCat(id, " (", a.state.reason, ")"));
      } else if (a.state.phase != AgentRunPhase::kFinished &&
                 a.state.phase != AgentRunPhase::kAborted) {
        lost.push_back(id);
      }
      if (a.awaiting_return) never_back.push_back(id);
      if (a.dropped_records > 0) {
        dropped.push_back(
            absl::StrCat(id, " dropped ", a.dropped_records, " records (its spool was full)"));
      }
    }
    const RunPhase phase = run->state.phase;
    if (phase == RunPhase::kRunning || phase == RunPhase::kFinishedWithLostAgents ||
        phase == RunPhase::kFinishedWithFailedAgents || phase == RunPhase::kInterrupted ||
        phase == RunPhase::kFinished) {
      // (Again, when late records came in: a lost agent may have delivered everything since.)
      if (run->recovered && !never_back.empty()) {
        run->state = RunState{RunPhase::kInterrupted, ""};
      } else {
        run->state = RunState{!lost.empty()     ? RunPhase::kFinishedWithLostAgents
                              : !failed.empty() ? RunPhase::kFinishedWithFailedAgents
                                                : RunPhase::kFinished,
                              ""};
      }
    }
    if (!flushed.ok()) {
      run->state = RunState::Failed(absl::StrCat("the store failed: ", flushed.message()));
    }
    FillReportHeader(*run, &report);
    // A run that did not finish cleanly has not passed, whatever its latencies say.
    if (run->state.phase == RunPhase::kAborted) {
      report.add_threshold_failures(run->abort_reason.empty() ? "run aborted" : run->abort_reason);
    }
    if (run->state.phase == RunPhase::kInterrupted) {
      report.add_threshold_failures(
          absl::StrCat("run interrupted: the coordinator restarted and agent(s) ",
                       absl::StrJoin(never_back, ", "), " did not come back"));
    }
    if (!lost.empty()) {
      report.add_threshold_failures(absl::StrCat("agent(s) lost: ", absl::StrJoin(lost, ", ")));
    }
    if (!failed.empty()) {
      report.add_threshold_failures(
          absl::StrCat("agent(s) refused or failed: ", absl::StrJoin(failed, "; ")));
    }
    for (std::string& d : dropped) report.add_threshold_failures(std::move(d));
    lost_names = lost;
    if (run->state.phase == RunPhase::kFailed) report.add_threshold_failures(StateName(run->state));
    summary = SummaryOf(*run);
    summary.set_requests(report.totals().requests());
    summary.set_errors(report.totals().errors());
    summary.set_passed(report.threshold_failures_size() == 0);
    if (auto latency = Histogram::FromProto(report.totals().latency());
        latency.ok() && latency->count() > 0) {
      summary.set_p99_ms(static_cast<double>(latency->Percentile(99)) / 1000);
    }
    for (const AgentResult& r : report.by_agent()) agents.push_back(r);
  }
  // The stored rows are final before anyone is told the run is done: `stampede runs` and
  // `report --db` read them as soon as `run`/`watch` return.
  for (const AgentResult& r : agents) (void)store_->PutRunAgent(run->id, r);
  (void)store_->UpdateRun(summary, &report);
  // Finished (or aborted by its user) is news; anything else is a warning. A report rebuilt for
  // late records is said again, as such.
  const std::string state = summary.state();
  const bool clean = state == StateName(RunState{RunPhase::kFinished, ""}) ||
                     state == StateName(RunState{RunPhase::kAborted, ""});
  Log(clean ? LogLevel::kInfo : LogLevel::kWarn,
      absl::StrCat(
          LogFields({{"event", first ? "run_finished" : "run_report_rebuilt"},
                     {"run", run->id},
                     {"state", state}}),
          " agents=", summary.agents(), " requests=", summary.requests(),
          " errors=", summary.errors(), " duration_s=",
          absl::StrFormat("%.1f", (summary.ended_ns() - summary.started_ns()) / 1e9),
          lost_names.empty() ? "" : " ",
          lost_names.empty() ? "" : LogFields({{"lost", absl::StrJoin(lost_names, ",")}})));
  absl::MutexLock lock(&mu_);
  run->final_report = std::move(report);
  run->done = true;
  run->finalizing = false;
  run->done_mono_ns = clock_->MonotonicNs();
  if (first) {
    for (const auto& [id, a] : run->agents) {
      auto s = SessionOf(id);
      if (s != nullptr && s->state() == SessionState::Running(run->id))
        s->set_state(SessionState{});
    }
  }
}

absl::Status RunManager::Recover(RecoveryMode mode) {
  absl::StatusOr<std::vector<StoredRun>> runs = store_->LoadUnfinishedRuns();
  if (!runs.ok()) return runs.status();
  for (const StoredRun& stored : *runs) {
    if (absl::Status s = RecoverRun(stored, mode); !s.ok()) {
      // Not resumable (say, a plan this build cannot read): finalized as failed, never left
      // "running".
      RunSummary summary = stored.summary;
      summary.set_state(StateName(RunState::Failed(std::string(s.message()))));
      summary.set_ended_ns(clock_->WallNs());
      (void)store_->UpdateRun(summary, nullptr);
      Log(LogLevel::kError, LogFields({{"event", "recovery_failed"},
                                       {"run", stored.summary.run_id()},
                                       {"reason", s.message()}}));
    }
  }
  return absl::OkStatus();
}

absl::Status RunManager::RecoverRun(const StoredRun& stored, RecoveryMode mode) {
  auto run = std::make_unique<Run>();
  run->id = stored.summary.run_id();
  if (auto s = google::protobuf::util::JsonStringToMessage(stored.plan_json, &run->plan); !s.ok()) {
    return absl::DataLossError(absl::StrCat("its stored plan does not parse: ", s.ToString()));
  }
  run->start_ns = stored.summary.started_ns();
  run->created_ns = run->start_ns;
  run->request_timeout_ns = run->plan.target().has_timeout()
                                ? DurationToNs(run->plan.target().timeout())
                                : int64_t{10'000'000'000};
  run->recovered = true;
  run->aggregator = std::make_unique<RunAggregator>(run->id, run->plan, run->start_ns);
  const int64_t now = clock_->MonotonicNs();
  for (const StoredRunAgent& s : stored.agents) {
    RunAgent a;
    a.info = s.info;
    a.meta.id = s.info.id();
    a.meta.name = s.info.name();
    a.meta.region = s.info.region();
    a.meta.clock_offset_ns = s.info.clock_offset_ns();
    a.meta.clock_uncertainty_ns = s.info.clock_uncertainty_ns();
    a.instance_id = s.instance_id;
    absl::StatusOr<AgentRunState> state = ParseAgentRunState(s.state);
    a.state = state.ok() ? *state : AgentRunState{AgentRunPhase::kLost, ""};
    a.expected_batches = s.expected_batches;
    if (!a.state.terminal()) {
      a.awaiting_return = true;
      if (mode == RecoveryMode::kResume) {
        a.lost_not_before_ns = now + absl::ToInt64Nanoseconds(options_.resume_grace);
      } else {
        a.state = AgentRunState{AgentRunPhase::kLost, ""};  // died with the process that ran it
      }
    }
    run->aggregator->AddAgent(a.meta);
    run->agents[a.meta.id] = std::move(a);
  }
  // The ledger: what is committed is never ingested twice, and counts towards each agent's
  // announced total. Late and dropped sends are kept per batch.
  std::map<std::string, RecordBatch> counters;
  for (const StoredBatch& b : stored.batches) {
    auto a = run->agents.find(b.agent_id);
    if (a == run->agents.end()) continue;
    a->second.ledger.MarkCommitted(b.seq);
    RecordBatch& c = counters[b.agent_id];
    c.set_late(c.late() + b.late);
    c.set_dropped(c.dropped() + b.dropped);
  }
  // The merged views, rebuilt from the stored records (their timestamps are on the
  // coordinator's timeline already: the agent's offset is put back for AddBatch to take off).
  uint64_t records = 0;
  absl::Status read = store_->ReadRecords(
      run->id, kRebuildBatchRecords, [&](const std::string& agent_id, const RecordBatch& batch) {
        auto a = run->agents.find(agent_id);
        if (a == run->agents.end()) return;
        RecordBatch b = batch;
        b.set_base_time_ns(a->second.meta.clock_offset_ns);
        run->aggregator->AddBatch(a->second.meta, b);
        records += static_cast<uint64_t>(b.latency_us_size());
      });
  if (!read.ok()) return read;
  for (auto& [agent_id, c] : counters) {
    run->aggregator->AddBatch(run->agents[agent_id].meta, c);
  }
  // A warning: the coordinator stopped with this run unfinished.
  Log(LogLevel::kWarn,
      LogFields({{"event", "recovered"},
                 {"run", run->id},
                 {"records", absl::StrCat(records)},
                 {"batches", absl::StrCat(stored.batches.size())},
                 {"agents", absl::StrCat(run->agents.size())},
                 {"next", mode == RecoveryMode::kResume ? "wait_for_agents" : "interrupted"}}));
  absl::MutexLock lock(&mu_);
  runs_[run->id] = std::move(run);
  return absl::OkStatus();
}

}  // namespace stampede
