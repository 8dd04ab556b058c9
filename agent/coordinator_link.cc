#include "agent/coordinator_link.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/heartbeat_pacer.h"
#include "agent/reconnect_backoff.h"
#include "agent/spool_files.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

// A connection that lasted this long was a working link: the next reconnect starts from the
// minimum backoff again.
constexpr absl::Duration kStableConnection = absl::Seconds(10);

// The error of a RunFinished for a run whose engine the agent stopped itself (it was shut down):
// the schedule did not end, and the coordinator must not take the run as complete.
constexpr absl::string_view kShutDownError =
    "the agent was shut down before the run's schedule ended";

// 128 random bits as 32 hex digits.
std::string NewInstanceId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&id, "%08x", random());
  return id;
}

std::string CodeName(int32_t code) {
  const std::string name =
      code >= 0 && code <= 16 ? absl::StatusCodeToString(static_cast<absl::StatusCode>(code)) : "";
  return name.empty() ? absl::StrCat(code) : name;
}

// How the link is secured, for the connecting line.
std::string TlsMode(const TlsFiles& tls) {
  if (tls.ca.empty()) return "off";
  return tls.cert.empty() ? "on" : "mutual";
}

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.1f", absl::ToDoubleSeconds(d)); }

}  // namespace

CoordinatorLink::CoordinatorLink(LinkOptions options, const Clock* clock)
    : options_(std::move(options)),
      clock_(clock),
      log_(options_.log ? options_.log : LogFn(LogToStderr)),
      instance_id_(NewInstanceId()),
      budget_(std::make_shared<SpoolBudget>(options_.spool_max_bytes, options_.memory_max_bytes)),
      failures_(options_.failure_reminder, clock) {
  if (!options_.spool_dir.empty()) OpenSpool();
}

void CoordinatorLink::Log(LogLevel level, const std::string& line) const {
  if (LogEnabled(options_.log_level, level)) log_(line);
}

LogFn CoordinatorLink::SpoolLog() const {
  return [this](const std::string& line) { Log(LogLevel::kWarn, line); };
}

CoordinatorLink::~CoordinatorLink() {
  Shutdown();
  std::map<std::string, std::shared_ptr<AgentRun>> runs;
  {
    absl::MutexLock lock(&mu_);
    StopEnginesLocked();
    runs.swap(runs_);
  }
  for (auto& [id, run] : runs) {
    if (run->thread.joinable()) run->thread.join();
  }
  runs.clear();  // the spools (their files stay for the next process)
  if (spool_lock_fd_ >= 0) ::close(spool_lock_fd_);
}

void CoordinatorLink::StopEnginesLocked() {
  for (auto& [id, run] : runs_) {
    if (run->engine == nullptr || run->engine_done) continue;
    run->stopped_by_shutdown = true;
    run->engine->Stop();
  }
}

void CoordinatorLink::OpenSpool() {
  absl::StatusOr<int> lock_fd = LockSpoolDirectory(options_.spool_dir);
  if (!lock_fd.ok()) {
    spool_status_ = lock_fd.status();
    return;
  }
  spool_lock_fd_ = *lock_fd;
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(options_.spool_dir, ec)) {
    std::error_code is_dir_ec;
    if (entry.is_directory(is_dir_ec) && IsSafeRunId(entry.path().filename().string())) {
      dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  absl::MutexLock lock(&mu_);
  for (const auto& dir : dirs) {
    auto run = std::make_shared<AgentRun>();
    run->id = dir.filename().string();
    run->spool = BatchSpool::Recover(dir.string(), budget_, SpoolLog());
    run->recovered = true;
    run->engine_done = true;
    run->finished = run->spool->recovered_finished();
    const SpoolStats stats = run->spool->stats();
    const size_t batches = run->spool->unacked();
    counters_.unreadable_files += stats.unreadable_files;
    counters_.partial_files += stats.partial_files;
    // A warning: the previous process ended with records undelivered.
    Log(LogLevel::kWarn,
        absl::StrCat("event=spool_recovered run=", LogValue(run->id), " batches=", batches,
                     " finished=", run->finished.has_value() ? "yes" : "no", " unreadable_files=",
                     stats.unreadable_files, " partial_files=", stats.partial_files));
    if (batches == 0 && !run->finished.has_value()) {
      run->spool->Discard();  // nothing left to deliver
      continue;
    }
    ++counters_.recovered_runs;
    counters_.recovered_batches += batches;
    counters_.recovered_finished += run->finished.has_value();
    runs_[run->id] = std::move(run);
  }
}

void CoordinatorLink::ForgetIfDelivered(const std::shared_ptr<AgentRun>& run) {
  std::shared_ptr<AgentRun> done;
  {
    absl::MutexLock lock(&mu_);
    if (!run->recovered || run->finished.has_value() || run->spool->unacked() > 0) return;
    auto it = runs_.find(run->id);
    if (it == runs_.end() || it->second != run) return;
    done = std::move(it->second);
    runs_.erase(it);
  }
  Forget(std::move(done));
}

void CoordinatorLink::Forget(std::shared_ptr<AgentRun> run) {
  if (run->thread.joinable()) run->thread.join();
  run->spool->Discard();
  absl::MutexLock lock(&mu_);
  ++counters_.runs_forgotten;
  if (run->recovered) {
    // At the level of the spool_recovered warning it settles.
    Log(LogLevel::kWarn, absl::StrCat("event=recovered_run_delivered run=", LogValue(run->id)));
  }
}

LinkCounters CoordinatorLink::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

std::vector<std::string> CoordinatorLink::active_runs() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  for (const auto& [id, run] : runs_) ids.push_back(id);
  return ids;
}

void CoordinatorLink::Shutdown() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  wake_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

bool CoordinatorLink::registered() const {
  absl::MutexLock lock(&mu_);
  return registered_;
}

int CoordinatorLink::runs_finished() const {
  absl::MutexLock lock(&mu_);
  return runs_finished_;
}

void CoordinatorLink::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

bool CoordinatorLink::Busy() const {
  for (const auto& [id, run] : runs_) {
    if (!run->engine_done) return true;
  }
  return false;
}

absl::Status CoordinatorLink::Run() {
  if (!spool_status_.ok()) return spool_status_;
  // Bad TLS files are a configuration error: say so instead of retrying forever.
  if (auto credentials = MakeChannelCredentials(options_.tls); !credentials.ok()) {
    return credentials.status();
  }
  Log(LogLevel::kInfo, LogFields({{"event", "connecting"},
                                  {"coordinator", options_.coordinator},
                                  {"name", options_.name},
                                  {"region", options_.region},
                                  {"tls", TlsMode(options_.tls)}}));
  ReconnectBackoff backoff(options_.min_backoff, options_.max_backoff, kStableConnection, clock_);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    Log(LogLevel::kDebug, absl::StrCat("event=connect_attempt attempt=", failures_.attempts() + 1,
                                       " coordinator=", LogValue(options_.coordinator)));
    backoff.ConnectionStarted();
    const ConnectionEnd end = ServeConnection();
    if (!end.rejected.empty()) {
      // The coordinator answered and said no: retrying would get the same answer.
      const LinkFailure why = ClassifyRefusal(end.status, end.rejected);
      Log(LogLevel::kError, LogFields({{"event", "refused"},
                                       {"cause", why.cause},
                                       {"coordinator", options_.coordinator},
                                       {"what", why.what},
                                       {"reason", why.detail},
                                       {"hint", why.hint}}));
      const std::string message = absl::StrCat(why.what, ": ", end.rejected);
      return why.cause == "bad_token" ? absl::UnauthenticatedError(message)
                                      : absl::PermissionDeniedError(message);
    }
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;  // Shutdown() ended the stream: nothing failed
    }
    LogConnectionEnd(end);
    const absl::Duration wait = backoff.ConnectionEnded();
    absl::MutexLock lock(&mu_);
    if (stopping_) break;
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
  }
  // Stop what is still running; records stay in the spool (nowhere to send them now; with a
  // spool directory the next process sends them).
  absl::MutexLock lock(&mu_);
  Log(LogLevel::kInfo,
      absl::StrCat("event=stopped runs_held=", runs_.size(), " running=", Busy() ? "yes" : "no"));
  StopEnginesLocked();
  return absl::OkStatus();
}

void CoordinatorLink::LogConnectionEnd(const ConnectionEnd& end) {
  if (end.registered) {
    lost_at_ns_ = clock_->MonotonicNs();
    uint64_t unacked = 0;
    size_t runs = 0;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, run] : runs_) unacked += run->spool->unacked();
      runs = runs_.size();
    }
    Log(LogLevel::kWarn, absl::StrCat(LogFields({{"event", "link_lost"},
                                                 {"coordinator", options_.coordinator},
                                                 {"reason", end.status.error_message().empty()
                                                                ? "the coordinator ended the stream"
                                                                : end.status.error_message()}}),
                                      " runs=", runs, " unacked_batches=", unacked));
    return;
  }
  const LinkFailure why = ClassifyLinkFailure(end.status, options_.tls);
  switch (failures_.Failed(why.cause)) {
    case FailureLog::Say::kFailure:
      Log(LogLevel::kWarn, absl::StrCat(LogFields({{"event", "connect_failed"},
                                                   {"cause", why.cause},
                                                   {"coordinator", options_.coordinator},
                                                   {"what", why.what},
                                                   {"hint", why.hint},
                                                   {"detail", why.detail}}),
                                        " attempt=", failures_.attempts()));
      break;
    case FailureLog::Say::kStillFailing:
      Log(LogLevel::kWarn, absl::StrCat(LogFields({{"event", "still_failing"},
                                                   {"cause", why.cause},
                                                   {"coordinator", options_.coordinator},
                                                   {"what", why.what}}),
                                        " attempts=", failures_.attempts(),
                                        " for_s=", Seconds(failures_.failing_for())));
      break;
    case FailureLog::Say::kNothing:
      break;
  }
}

void CoordinatorLink::LogRegistered(const std::string& agent_id) {
  const int failed = failures_.attempts();
  // A line that settles a warning (connect_failed, link_lost) is written at the warning's level,
  // so that whoever reads only warnings sees the trouble end too.
  if (!ever_registered_) {
    Log(failed > 0 ? LogLevel::kWarn : LogLevel::kInfo,
        absl::StrCat(LogFields({{"event", "registered"},
                                {"agent", agent_id},
                                {"coordinator", options_.coordinator},
                                {"instance", instance_id_}}),
                     " failed_attempts=", failed));
  } else {
    const absl::Duration down = absl::Nanoseconds(clock_->MonotonicNs() - lost_at_ns_);
    Log(LogLevel::kWarn,
        absl::StrCat(LogFields({{"event", "link_resumed"},
                                {"agent", agent_id},
                                {"coordinator", options_.coordinator},
                                {"down_s", Seconds(down)}}),
                     " resent_batches=", resent_batches_, " failed_attempts=", failed));
  }
  ever_registered_ = true;
  failures_.Succeeded();
}

CoordinatorLink::ConnectionEnd CoordinatorLink::ServeConnection() {
  ConnectionEnd end;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto credentials = MakeChannelCredentials(options_.tls);
  if (!credentials.ok()) {  // checked in Run(); files may have vanished since
    end.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              std::string(credentials.status().message()));
    return end;
  }
  auto channel = grpc::CreateCustomChannel(options_.coordinator, *credentials, args);
  auto stub = AgentLink::NewStub(channel);
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return end;
    context_ = &context;
  }
  auto stream = stub->Connect(&context);

  AgentMessage reg;
  Register* r = reg.mutable_register_();
  r->set_name(options_.name);
  r->set_region(options_.region);
  for (const auto& [k, v] : options_.labels) (*r->mutable_labels())[k] = v;
  r->set_cores(static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency())));
  r->set_version(STAMPEDE_VERSION);
  r->set_token(options_.token);
  r->set_instance_id(instance_id_);
  {
    absl::MutexLock lock(&mu_);
    resent_batches_ = 0;
    for (auto& [id, run] : runs_) {
      r->add_active_runs(id);
      run->spool->ResendAll();
      resent_batches_ += run->spool->unacked();
      run->finish_sent = false;
    }
    outbox_.clear();
    connection_open_ = true;
  }
  CoordinatorMessage message;
  if (!stream->Write(reg)) {
    {
      absl::MutexLock lock(&mu_);
      connection_open_ = false;
    }
    // The call is over (it never connected, or was closed at once): its status says why.
    while (stream->Read(&message)) {
    }
    end.status = stream->Finish();
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    return end;
  }
  std::thread writer([&] { WriterLoop(stream.get()); });

  while (stream->Read(&message)) {
    switch (message.kind_case()) {
      case CoordinatorMessage::kPing: {
        AgentMessage pong;
        pong.mutable_pong()->set_id(message.ping().id());
        pong.mutable_pong()->set_coordinator_send_ns(message.ping().coordinator_send_ns());
        pong.mutable_pong()->set_agent_receive_ns(clock_->WallNs());
        absl::MutexLock lock(&mu_);
        outbox_.push_back(std::move(pong));
        wake_ = true;
        break;
      }
      case CoordinatorMessage::kStart:
        HandleStart(message.start());
        break;
      case CoordinatorMessage::kStop: {
        Log(LogLevel::kInfo, LogFields({{"event", "run_stopping"},
                                        {"run", message.stop().run_id()},
                                        {"reason", message.stop().reason()}}));
        absl::MutexLock lock(&mu_);
        auto it = runs_.find(message.stop().run_id());
        if (it != runs_.end() && it->second->engine != nullptr) it->second->engine->Stop();
        break;
      }
      case CoordinatorMessage::kAck: {
        std::shared_ptr<AgentRun> run;
        {
          absl::MutexLock lock(&mu_);
          auto it = runs_.find(message.ack().run_id());
          if (it != runs_.end()) run = it->second;
        }
        if (LogEnabled(options_.log_level, LogLevel::kDebug)) {
          log_(absl::StrCat("event=batch_acked run=", LogValue(message.ack().run_id()),
                            " seq=", message.ack().seq()));
        }
        if (run == nullptr) break;
        run->spool->Ack(message.ack().seq());  // outside the link's lock: deletes a file
        ForgetIfDelivered(run);
        break;
      }
      case CoordinatorMessage::kBatchRejected:
        HandleRejected(message.batch_rejected());
        break;
      case CoordinatorMessage::kFinishAck: {
        std::shared_ptr<AgentRun> done;
        {
          absl::MutexLock lock(&mu_);
          auto it = runs_.find(message.finish_ack());
          if (it != runs_.end() && it->second->engine_done) {
            done = std::move(it->second);
            runs_.erase(it);
          }
        }
        if (done != nullptr) Forget(std::move(done));
        break;
      }
      case CoordinatorMessage::kRejected:
        // Bounded: it goes into a log line and the exit message.
        end.rejected = message.rejected().substr(0, 500);
        if (end.rejected.empty()) end.rejected = "(no reason given)";
        break;
      case CoordinatorMessage::kAcceptedAgentId: {
        if (end.registered) break;  // said once per connection
        end.registered = true;
        {
          absl::MutexLock lock(&mu_);
          registered_ = true;
        }
        LogRegistered(message.accepted_agent_id().substr(0, 200));
        break;
      }
      case CoordinatorMessage::kHeartbeat:
      case CoordinatorMessage::KIND_NOT_SET:
        break;
    }
    if (!end.rejected.empty()) break;
  }
  {
    absl::MutexLock lock(&mu_);
    connection_open_ = false;
    registered_ = false;
    wake_ = true;
  }
  writer.join();
  // After a refusal the coordinator ends the call with a status that says what it refused
  // (UNAUTHENTICATED: the token): read to the end, then take it. Otherwise the stream has ended
  // already and Finish() only collects why.
  if (!end.rejected.empty()) {
    while (stream->Read(&message)) {
    }
  }
  end.status = stream->Finish();
  absl::MutexLock lock(&mu_);
  context_ = nullptr;
  return end;
}

void CoordinatorLink::WriterLoop(
    grpc::ClientReaderWriter<AgentMessage, CoordinatorMessage>* stream) {
  HeartbeatPacer heartbeat(options_.heartbeat, clock_);
  while (true) {
    std::deque<AgentMessage> outbox;
    // Shared ownership: the reader may forget a run (finish_ack) while this pass uses it.
    std::vector<std::shared_ptr<AgentRun>> runs;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&wake_), heartbeat.UntilDue());
      wake_ = false;
      if (!connection_open_ || stopping_) return;
      outbox.swap(outbox_);
      for (auto& [id, run] : runs_) runs.push_back(run);
    }
    bool ok = true;
    bool wrote = false;  // only real writes count: an idle pass must not suppress heartbeats
    for (AgentMessage& m : outbox) {
      // The pong's send time is taken as late as possible: right before it goes out.
      if (m.has_pong()) m.mutable_pong()->set_agent_send_ns(clock_->WallNs());
      ok = ok && stream->Write(m);
      wrote = true;
    }
    for (const auto& run : runs) {
      while (ok) {
        auto batch = run->spool->NextToSend();
        if (!batch.has_value()) break;
        AgentMessage m;
        *m.mutable_batch() = std::move(*batch);
        ok = stream->Write(m);
        wrote = true;
      }
      std::optional<AgentMessage> finish;
      {
        absl::MutexLock lock(&mu_);
        if (ok && run->finished.has_value() && !run->finish_sent) {
          run->finish_sent = true;
          finish.emplace();
          *finish->mutable_finished() = *run->finished;
        }
      }
      if (finish.has_value()) {
        ok = stream->Write(*finish);
        wrote = true;
      }
    }
    if (ok && wrote) heartbeat.Wrote();
    // A run whose requests are slow sends nothing for a while; the coordinator must still hear
    // from the agent, or it would declare it lost.
    if (ok && heartbeat.Due()) {
      AgentMessage hb;
      hb.mutable_heartbeat()->set_sent_ns(clock_->WallNs());
      ok = stream->Write(hb);
      heartbeat.Wrote();
    }
    if (!ok) return;  // the reader sees the broken stream too and reconnects
  }
}

std::string CoordinatorLink::CheckTargetAllowed(const Plan& plan) const {
  if (options_.allowed_hosts.empty()) return "";
  CURLU* url = curl_url();
  char* host = nullptr;
  std::string name;
  if (curl_url_set(url, CURLUPART_URL, plan.target().url().c_str(), 0) == CURLUE_OK &&
      curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != nullptr) {
    name = absl::AsciiStrToLower(host);
  }
  curl_free(host);
  curl_url_cleanup(url);
  for (const std::string& allowed : options_.allowed_hosts) {
    const std::string a = absl::AsciiStrToLower(allowed);
    if (a == name) return "";
    if (absl::StartsWith(a, "*.") && absl::EndsWith(name, a.substr(1))) return "";
  }
  return absl::StrCat("target host \"", name, "\" is not in this agent's --allow-host list");
}

void CoordinatorLink::HandleRejected(const BatchRejected& rejected) {
  std::shared_ptr<AgentRun> run;
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(rejected.run_id());
    if (it != runs_.end()) run = it->second;
  }
  const bool held = run != nullptr && run->spool->Reject(rejected.seq());
  {
    absl::MutexLock lock(&mu_);
    counters_.rejected_batches += held;
  }
  // The reason comes from the coordinator: bounded, and escaped by LogValue.
  Log(LogLevel::kWarn, absl::StrCat("event=batch_rejected run=", LogValue(rejected.run_id()),
                                    " seq=", rejected.seq(), " code=", CodeName(rejected.code()),
                                    " reason=", LogValue(rejected.reason().substr(0, 500)),
                                    " held=", held ? "yes" : "no"));
  if (run != nullptr) ForgetIfDelivered(run);
}

void CoordinatorLink::HandleStart(const StartRun& start) {
  const std::string refused = CheckTargetAllowed(start.plan());
  absl::MutexLock lock(&mu_);
  if (runs_.count(start.run_id())) {
    Log(LogLevel::kDebug, LogFields({{"event", "start_repeated"}, {"run", start.run_id()}}));
    return;  // a repeated StartRun after a reconnect
  }
  if (Busy() || !refused.empty()) {
    // Answer with a failed finish so the coordinator does not wait for this agent.
    AgentMessage m;
    m.mutable_finished()->set_run_id(start.run_id());
    m.mutable_finished()->set_error(refused.empty() ? "agent is busy with another run" : refused);
    Log(LogLevel::kWarn,
        LogFields(
            {{"event", "run_refused"}, {"run", start.run_id()}, {"reason", m.finished().error()}}));
    outbox_.push_back(std::move(m));
    wake_ = true;
    return;
  }
  auto run = std::make_shared<AgentRun>();
  run->id = start.run_id();
  std::string run_dir;
  if (!options_.spool_dir.empty()) {
    if (IsSafeRunId(run->id)) {
      run_dir = absl::StrCat(options_.spool_dir, "/", run->id);
    } else {
      Log(LogLevel::kWarn, absl::StrCat("event=spool_unavailable run=", LogValue(run->id),
                                        " error=", LogValue("the run id is not a safe file name"),
                                        " effect=batches_kept_in_memory_only"));
    }
  }
  run->spool = std::make_unique<BatchSpool>(run_dir, budget_, SpoolLog());
  EngineOptions options;
  options.run_id = start.run_id();
  options.agent_id = options_.name;
  options.threads = options_.threads > 0 ? options_.threads : start.threads();
  run->spool->SetListener([this] { Wake(); });
  run->engine = std::make_unique<Engine>(start.plan(), options, run->spool.get(), clock_);
  // The start instant comes in this agent's wall clock; the engine schedules on the monotonic
  // clock, so translate through "now" on both.
  const int64_t start_mono = clock_->MonotonicNs() + (start.start_at_agent_ns() - clock_->WallNs());
  Log(LogLevel::kInfo,
      absl::StrCat(LogFields({{"event", "run_started"}, {"run", start.run_id()}}),
                   " threads=", options.threads > 0 ? absl::StrCat(options.threads) : "auto",
                   " stages=", start.plan().stages_size(),
                   " starts_in_ms=", (start_mono - clock_->MonotonicNs()) / 1'000'000,
                   " spool=", run->spool->has_directory() ? "disk" : "memory"));
  AgentRun* raw = run.get();
  raw->thread = std::thread([this, raw, start_mono] {
    absl::Status status = raw->engine->Run(start_mono);
    RunFinished finished;
    finished.set_run_id(raw->id);
    finished.set_batches(raw->engine->batches());
    const EngineProgress progress = raw->engine->Progress();
    finished.set_requests(progress.completed);
    const SpoolStats stats = raw->spool->stats();
    finished.set_undurable_batches(stats.undurable_batches);
    finished.set_dropped_records(stats.dropped_records);
    bool shut_down = false;
    {
      absl::MutexLock lock(&mu_);
      shut_down = raw->stopped_by_shutdown;
    }
    if (!status.ok()) {
      finished.set_error(std::string(status.message()));
    } else if (shut_down) {
      finished.set_error(std::string(kShutDownError));
    }
    // On disk before it is first sent: a process restarted from here on resends it.
    (void)raw->spool->PersistFinished(finished);  // a failure is logged; it is still sent
    // One line per run: what it did, and what the spool lost. A warning when the run did not
    // end cleanly or records were lost or not made durable; else info (an embedded agent in
    // `stampede run`, at warnings only, stays quiet).
    const bool trouble = !finished.error().empty() || finished.undurable_batches() > 0 ||
                         finished.dropped_records() > 0;
    Log(trouble ? LogLevel::kWarn : LogLevel::kInfo,
        absl::StrCat("event=run_finished run=", LogValue(raw->id),
                     " requests=", finished.requests(), " errors=", progress.errors, " batches=",
                     finished.batches(), " undurable_batches=", finished.undurable_batches(),
                     " dropped_records=", finished.dropped_records(),
                     " spool=", raw->spool->has_directory() ? "disk" : "memory",
                     finished.error().empty() ? "" : " error=",
                     finished.error().empty() ? "" : LogValue(finished.error())));
    absl::MutexLock lock(&mu_);
    raw->finished = finished;
    raw->engine_done = true;
    ++runs_finished_;
    wake_ = true;
  });
  runs_[start.run_id()] = std::move(run);
}

}  // namespace stampede
