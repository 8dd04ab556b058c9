// The agent link on any sequence of messages: a run with one agent, then whatever an agent (or
// anyone holding the token) may send on the stream, interleaved with reconnects, registrations
// under other names and the passage of time. No sequence may crash the coordinator, hang it, or
// break exact accounting: at the end the run's merged count equals the records its store holds.
//
// Input: frames of [1 byte kind][2 bytes length][length bytes]. Kind 0: an AgentMessage from the
// agent ("RUN" as a run id stands for the real one, which the fuzzer cannot guess); kind 1: the
// agent reconnects (same process) and the bytes are a Register; kind 2: a Register on a new
// connection (another process, another name...); kind 3: time passes (length x 100 ms) and the
// manager ticks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "coordinator/run_manager.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/support/memory_store.h"

namespace stampede {
namespace {

// Answers clock pings at once (so StartRun completes); keeps nothing else.
class Connection final : public MessageWriter {
 public:
  Connection(RunManager* manager, const FakeClock* clock) : manager_(manager), clock_(clock) {}
  void set_session(AgentSession* session) {
    absl::MutexLock lock(&mu_);
    session_ = session;
  }
  bool Write(const CoordinatorMessage& message) override {
    AgentSession* session;
    {
      absl::MutexLock lock(&mu_);
      session = session_;
    }
    if (message.has_ping() && session != nullptr) {
      AgentMessage pong;
      pong.mutable_pong()->set_id(message.ping().id());
      pong.mutable_pong()->set_coordinator_send_ns(message.ping().coordinator_send_ns());
      pong.mutable_pong()->set_agent_receive_ns(clock_->WallNs());
      pong.mutable_pong()->set_agent_send_ns(clock_->WallNs());
      manager_->OnAgentMessage(*session, pong);
    }
    return true;
  }

 private:
  RunManager* const manager_;
  const FakeClock* const clock_;
  absl::Mutex mu_;
  AgentSession* session_ ABSL_GUARDED_BY(mu_) = nullptr;
};

void Substitute(std::string* run_id, const std::string& real) {
  if (*run_id == "RUN") *run_id = real;
}

}  // namespace
}  // namespace stampede

// Protobuf logs every string field with invalid UTF-8 it parses: millions of lines that slow the
// run and bury a finding. The parse result is what the harness looks at.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stampede;  // NOLINT: a harness
  FakeClock clock(1'000'000'000);
  testing::MemoryStore store;
  RunManagerOptions options;
  options.monitor_thread = false;
  options.clock_pings = 1;
  options.log = [](const std::string&) {};  // refusals are expected here, by the thousand
  std::vector<std::unique_ptr<Connection>> connections;  // outlive the manager's sessions
  std::vector<std::shared_ptr<AgentSession>> sessions;
  auto manager = std::make_unique<RunManager>(&store, &clock, options);

  auto connect = [&](const Register& reg) -> std::shared_ptr<AgentSession> {
    connections.push_back(std::make_unique<Connection>(manager.get(), &clock));
    auto session = manager->RegisterAgent(reg, connections.back().get());
    if (!session.ok()) return nullptr;
    connections.back()->set_session(session->get());
    sessions.push_back(*session);
    return *session;
  };
  Register reg;
  reg.set_name("a");
  reg.set_region("eastus");
  reg.set_instance_id("p1");
  std::shared_ptr<AgentSession> agent = connect(reg);
  if (agent == nullptr) abort();
  Plan plan;
  plan.mutable_target()->set_url("http://127.0.0.1:9/score");
  plan.add_stages()->set_concurrency(1);
  plan.mutable_stages(0)->set_requests(10);
  auto started = manager->StartRun(plan);
  if (!started.ok()) abort();
  const std::string run = started->run_id();

  size_t at = 0;
  while (at + 3 <= size) {
    const uint8_t kind = data[at] % 4;
    const size_t length = std::min<size_t>(size - at - 3, data[at + 1] | (data[at + 2] << 8));
    const uint8_t* bytes = data + at + 3;
    at += 3 + length;
    if (kind == 0 && agent != nullptr) {
      AgentMessage m;
      if (!m.ParseFromArray(bytes, static_cast<int>(length))) continue;
      if (m.has_batch()) Substitute(m.mutable_batch()->mutable_run_id(), run);
      if (m.has_finished()) Substitute(m.mutable_finished()->mutable_run_id(), run);
      manager->OnAgentMessage(*agent, m);
    } else if (kind == 1 || kind == 2) {
      Register r;
      if (!r.ParseFromArray(bytes, static_cast<int>(length))) continue;
      if (kind == 1) {
        r.set_name("a");
        r.set_region("eastus");
        r.set_instance_id("p1");
        r.add_active_runs(run);
        if (agent != nullptr) agent->Close();
      }
      std::shared_ptr<AgentSession> s = connect(r);
      if (kind == 1) agent = s;
    } else if (kind == 3) {
      clock.AdvanceNs(static_cast<int64_t>(length) * 100'000'000);
      manager->Tick();
    }
  }
  clock.AdvanceNs(60'000'000'000);
  manager->Tick();
  // Exact accounting, whatever came: the merged views count what the store holds.
  auto report = manager->GetReport(run);
  auto stored = store.CountRecords(run);
  if (!report.ok() || !stored.ok() || report->totals().requests() != *stored) abort();
  for (auto& s : sessions) s->Close();
  manager.reset();
  return 0;
}
