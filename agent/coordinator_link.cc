#include "agent/coordinator_link.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include <curl/curl.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/heartbeat_pacer.h"
#include "agent/reconnect_backoff.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

// A connection that lasted this long was a working link: the next reconnect starts from the
// minimum backoff again.
constexpr absl::Duration kStableConnection = absl::Seconds(10);

}  // namespace

CoordinatorLink::CoordinatorLink(LinkOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock) {}

CoordinatorLink::~CoordinatorLink() {
  Shutdown();
  std::map<std::string, std::shared_ptr<AgentRun>> runs;
  {
    absl::MutexLock lock(&mu_);
    runs.swap(runs_);
  }
  for (auto& [id, run] : runs) {
    run->engine->Stop();
    if (run->thread.joinable()) run->thread.join();
  }
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
  // Bad TLS files are a configuration error: say so instead of retrying forever.
  if (auto credentials = MakeChannelCredentials(options_.tls); !credentials.ok()) {
    return credentials.status();
  }
  ReconnectBackoff backoff(options_.min_backoff, options_.max_backoff, kStableConnection, clock_);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    std::string rejected;
    backoff.ConnectionStarted();
    ServeConnection(&rejected);
    if (!rejected.empty()) {
      return absl::PermissionDeniedError(absl::StrCat("coordinator refused this agent: ", rejected));
    }
    const absl::Duration wait = backoff.ConnectionEnded();
    absl::MutexLock lock(&mu_);
    if (stopping_) break;
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
  }
  // Stop what is still running; records stay in the spool (nowhere to send them now).
  absl::MutexLock lock(&mu_);
  for (auto& [id, run] : runs_) run->engine->Stop();
  return absl::OkStatus();
}

void CoordinatorLink::ServeConnection(std::string* rejected) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto credentials = MakeChannelCredentials(options_.tls);
  if (!credentials.ok()) return;  // checked in Run(); files may have vanished since
  auto channel = grpc::CreateCustomChannel(options_.coordinator, *credentials, args);
  auto stub = AgentLink::NewStub(channel);
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
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
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, run] : runs_) {
      r->add_active_runs(id);
      run->spool.ResendAll();
      run->finish_sent = false;
    }
    outbox_.clear();
    connection_open_ = true;
  }
  if (!stream->Write(reg)) {
    absl::MutexLock lock(&mu_);
    connection_open_ = false;
    context_ = nullptr;
    return;
  }
  std::thread writer([&] { WriterLoop(stream.get()); });

  CoordinatorMessage message;
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
        absl::MutexLock lock(&mu_);
        auto it = runs_.find(message.stop().run_id());
        if (it != runs_.end()) it->second->engine->Stop();
        break;
      }
      case CoordinatorMessage::kAck: {
        absl::MutexLock lock(&mu_);
        auto it = runs_.find(message.ack().run_id());
        if (it != runs_.end()) it->second->spool.Ack(message.ack().seq());
        break;
      }
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
        if (done != nullptr && done->thread.joinable()) done->thread.join();
        break;
      }
      case CoordinatorMessage::kRejected:
        *rejected = message.rejected();
        break;
      case CoordinatorMessage::kAcceptedAgentId: {
        absl::MutexLock lock(&mu_);
        registered_ = true;
        break;
      }
      case CoordinatorMessage::kHeartbeat:
      case CoordinatorMessage::KIND_NOT_SET:
        break;
    }
    if (!rejected->empty()) break;
  }
  {
    absl::MutexLock lock(&mu_);
    connection_open_ = false;
    registered_ = false;
    wake_ = true;
  }
  writer.join();
  context.TryCancel();
  (void)stream->Finish();
  absl::MutexLock lock(&mu_);
  context_ = nullptr;
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
        auto batch = run->spool.NextToSend();
        if (!batch.has_value()) break;
        AgentMessage m;
        *m.mutable_batch() = std::move(*batch);
        ok = stream->Write(m);
        wrote = true;
      }
      bool send_finish = false;
      {
        absl::MutexLock lock(&mu_);
        send_finish = run->engine_done && !run->finish_sent;
        if (send_finish) run->finish_sent = true;
      }
      if (ok && send_finish) {
        AgentMessage m;
        *m.mutable_finished() = run->finished;
        ok = stream->Write(m);
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

void CoordinatorLink::HandleStart(const StartRun& start) {
  const std::string refused = CheckTargetAllowed(start.plan());
  absl::MutexLock lock(&mu_);
  if (runs_.count(start.run_id())) return;  // a repeated StartRun after a reconnect
  if (Busy() || !refused.empty()) {
    // Answer with a failed finish so the coordinator does not wait for this agent.
    AgentMessage m;
    m.mutable_finished()->set_run_id(start.run_id());
    m.mutable_finished()->set_error(refused.empty() ? "agent is busy with another run" : refused);
    outbox_.push_back(std::move(m));
    wake_ = true;
    return;
  }
  auto run = std::make_shared<AgentRun>();
  run->id = start.run_id();
  EngineOptions options;
  options.run_id = start.run_id();
  options.agent_id = options_.name;
  options.threads = options_.threads > 0 ? options_.threads : start.threads();
  run->spool.SetListener([this] { Wake(); });
  run->engine = std::make_unique<Engine>(start.plan(), options, &run->spool, clock_);
  // The start instant comes in this agent's wall clock; the engine schedules on the monotonic
  // clock, so translate through "now" on both.
  const int64_t start_mono =
      clock_->MonotonicNs() + (start.start_at_agent_ns() - clock_->WallNs());
  AgentRun* raw = run.get();
  raw->thread = std::thread([this, raw, start_mono] {
    absl::Status status = raw->engine->Run(start_mono);
    RunFinished finished;
    finished.set_run_id(raw->id);
    finished.set_batches(raw->engine->batches());
    finished.set_requests(raw->engine->Progress().completed);
    if (!status.ok()) finished.set_error(std::string(status.message()));
    absl::MutexLock lock(&mu_);
    raw->finished = finished;
    raw->engine_done = true;
    ++runs_finished_;
    wake_ = true;
  });
  runs_[start.run_id()] = std::move(run);
}

}  // namespace stampede
