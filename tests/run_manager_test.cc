// RunManager's decisions in time, driven by a FakeClock and without sleeping: when a
// disconnected or silent agent becomes "lost", when a run is finalised and with which state.
// Agents are fakes behind the MessageWriter seam (no network): each answers the coordinator's
// clock pings at once, with timestamps from the fake clock, and the test plays its batches,
// finishes, heartbeats, disconnects and reconnects through the same RunManager entry points the
// gRPC handler uses. The store is a real one in a temp folder.
#include "coordinator/run_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/agent_session.h"
#include "coordinator/store.h"
#include "tests/support/e2e.h"

namespace stampede {
namespace {

using ::testing::Contains;

constexpr absl::Duration kGrace = absl::Seconds(5);
constexpr int64_t kGraceNs = 5'000'000'000;
constexpr int64_t kMs = 1'000'000;
// How far each fake agent's wall clock is ahead of the coordinator's.
constexpr int64_t kAgentClockAheadNs = 7 * kMs;

// One connection of a fake agent: what the coordinator wrote to it, and pongs sent straight
// back. Write() runs on the session's writer thread.
class FakeConnection final : public MessageWriter {
 public:
  FakeConnection(RunManager* manager, const FakeClock* clock) : manager_(manager), clock_(clock) {}

  void set_session(AgentSession* session) {
    absl::MutexLock lock(&mu_);
    session_ = session;
  }

  bool Write(const CoordinatorMessage& message) override {
    AgentSession* session = nullptr;
    {
      absl::MutexLock lock(&mu_);
      written_.push_back(message);
      session = session_;
    }
    if (message.has_ping() && session != nullptr) {
      // The agent's clock runs kAgentClockAheadNs ahead; the fake clock does not move, so the
      // round trip is 0 and the estimated offset exact.
      AgentMessage pong;
      pong.mutable_pong()->set_id(message.ping().id());
      pong.mutable_pong()->set_coordinator_send_ns(message.ping().coordinator_send_ns());
      pong.mutable_pong()->set_agent_receive_ns(clock_->WallNs() + kAgentClockAheadNs);
      pong.mutable_pong()->set_agent_send_ns(clock_->WallNs() + kAgentClockAheadNs);
      manager_->OnAgentMessage(*session, pong);
    }
    return true;
  }

  // Waits (for the session's writer thread, not for time to pass) until a written message
  // satisfies `match`; returns it, or nullopt after 10 s.
  std::optional<CoordinatorMessage> WaitFor(
      const std::function<bool(const CoordinatorMessage&)>& match) {
    struct Args {
      FakeConnection* self;
      const std::function<bool(const CoordinatorMessage&)>* match;
      std::optional<CoordinatorMessage> found;
    } args{this, &match, std::nullopt};
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                               for (const CoordinatorMessage& m : a->self->written_) {
                                 if ((*a->match)(m)) {
                                   a->found = m;
                                   return true;
                                 }
                               }
                               return false;
                             },
                             &args),
                         absl::Seconds(10));
    return args.found;
  }

 private:
  RunManager* const manager_;
  const FakeClock* const clock_;
  absl::Mutex mu_;
  AgentSession* session_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<CoordinatorMessage> written_ ABSL_GUARDED_BY(mu_);
};

// An agent as the coordinator sees it through its stream handler.
class FakeAgent {
 public:
  FakeAgent(RunManager* manager, const FakeClock* clock, std::string name)
      : manager_(manager), clock_(clock), name_(std::move(name)) {}
  ~FakeAgent() {
    if (session_ != nullptr) session_->Close();
  }

  const std::string& name() const { return name_; }
  FakeConnection& connection() { return *connections_.back(); }

  // A new connection (the first, or a reconnect of the same process holding `active_runs`):
  // Register, as AgentLinkService does.
  void Connect(const std::vector<std::string>& active_runs = {}) {
    auto session = TryConnect(active_runs);
    ASSERT_TRUE(session.ok()) << session.status();
  }
  absl::StatusOr<std::shared_ptr<AgentSession>> TryConnect(
      const std::vector<std::string>& active_runs = {}) {
    connections_.push_back(std::make_unique<FakeConnection>(manager_, clock_));
    Register reg;
    reg.set_name(name_);
    reg.set_region("eastus");
    reg.set_cores(1);
    reg.set_instance_id(absl::StrCat(name_, "-process-", process_));
    for (const std::string& run : active_runs) reg.add_active_runs(run);
    auto session = manager_->RegisterAgent(reg, connections_.back().get());
    if (!session.ok()) return session.status();
    session_ = *session;
    connections_.back()->set_session(session_.get());
    return session;
  }
  // The agent process died and a new one (same name, new instance id) starts.
  void Restart() {
    if (session_ != nullptr) session_->Close();
    ++process_;
  }
  // The stream ended, as AgentLinkService sees it.
  void Disconnect() { session_->Close(); }

  void Send(const AgentMessage& message) { manager_->OnAgentMessage(*session_, message); }
  void Heartbeat() {
    AgentMessage m;
    m.mutable_heartbeat()->set_sent_ns(clock_->WallNs());
    Send(m);
  }
  // Batch `seq` of the run: `records` requests, 1 ms apart, one per (seq, i).
  void SendBatch(const std::string& run_id, uint64_t seq, int records) {
    AgentMessage m;
    RecordBatch* b = m.mutable_batch();
    b->set_run_id(run_id);
    b->set_agent_id(name_);
    b->set_seq(seq);
    b->set_base_time_ns(clock_->WallNs() + kAgentClockAheadNs);
    for (int i = 0; i < records; ++i) {
      b->add_start_offset_ns((static_cast<int64_t>(seq) * 1000 + i) * kMs);
      b->add_latency_us(1000);
      b->add_service_us(1000);
      b->add_status(200);
      b->add_error(ERROR_NONE);
      b->add_bytes_sent(10);
      b->add_bytes_received(20);
      b->add_stage(0);
      b->add_worker(0);
    }
    Send(m);
  }
  // Batch `seq`: `records` requests 1 ms apart from `start_ns` (coordinator clock), each taking
  // `latency_us`.
  void SendBatchAt(const std::string& run_id, uint64_t seq, int64_t start_ns, int records,
                   uint32_t latency_us) {
    AgentMessage m;
    RecordBatch* b = m.mutable_batch();
    b->set_run_id(run_id);
    b->set_agent_id(name_);
    b->set_seq(seq);
    b->set_base_time_ns(start_ns + kAgentClockAheadNs);
    for (int i = 0; i < records; ++i) {
      b->add_start_offset_ns(i * kMs);
      b->add_latency_us(latency_us);
      b->add_service_us(latency_us);
      b->add_status(200);
      b->add_error(ERROR_NONE);
      b->add_bytes_sent(10);
      b->add_bytes_received(20);
      b->add_stage(0);
      b->add_worker(0);
    }
    Send(m);
  }
  void SendFinished(const std::string& run_id, uint64_t batches, const std::string& error = "") {
    AgentMessage m;
    m.mutable_finished()->set_run_id(run_id);
    m.mutable_finished()->set_batches(batches);
    m.mutable_finished()->set_error(error);
    Send(m);
  }

 private:
  RunManager* const manager_;
  const FakeClock* const clock_;
  const std::string name_;
  std::vector<std::unique_ptr<FakeConnection>> connections_;  // kept: sessions point at them
  std::shared_ptr<AgentSession> session_;
  int process_ = 1;
};

// A resolved plan (payload loaded), as `stampede run` sends it. No request is ever made.
Plan TestPlan() {
  Plan plan;
  plan.set_name("fake");
  plan.mutable_target()->set_url("http://127.0.0.1:9/score");
  plan.mutable_target()->set_method("POST");
  plan.mutable_target()->set_payload_file("payload.json");
  plan.mutable_target()->add_resolved_payloads("{\"x\":1}");
  Stage* s = plan.add_stages();
  s->set_rate(10);
  s->mutable_duration()->set_seconds(1);
  return plan;
}

class RunManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open((dir_.path() / "stampede.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    RunManagerOptions options;
    options.agent_grace = kGrace;
    options.monitor_thread = false;  // the test calls Tick()
    manager_ = std::make_unique<RunManager>(store_.get(), &clock_, options);
  }
  void TearDown() override {
    agents_.clear();
    manager_.reset();
  }

  FakeAgent& AddAgent(const std::string& name) {
    agents_.push_back(std::make_unique<FakeAgent>(manager_.get(), &clock_, name));
    agents_.back()->Connect();
    return *agents_.back();
  }

  std::string StartRun(const Plan& plan = TestPlan()) {
    auto started = manager_->StartRun(plan);
    EXPECT_TRUE(started.ok()) << started.status();
    return started.ok() ? started->run_id() : "";
  }

  RunReport Report(const std::string& run_id) {
    auto report = manager_->GetReport(run_id);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : RunReport();
  }
  bool Done(const std::string& run_id) {
    auto progress = manager_->GetProgress(run_id);
    EXPECT_TRUE(progress.ok()) << progress.status();
    return progress.ok() && progress->done();
  }
  std::string RunStateName(const std::string& run_id) { return Report(run_id).state(); }
  std::string AgentState(const std::string& run_id, const std::string& agent) {
    const RunReport report = Report(run_id);
    for (const AgentResult& r : report.by_agent()) {
      if (r.agent().name() == agent) return r.state();
    }
    ADD_FAILURE() << agent << " is not in the report of " << run_id;
    return "";
  }
  std::string StoredState(const std::string& run_id) {
    auto row = store_->GetRun(run_id);
    EXPECT_TRUE(row.ok()) << row.status();
    return row.ok() ? row->state() : "";
  }
  // Batches are acknowledged (and count towards an agent's finish) once the store has committed
  // them: wait for that.
  void Committed() { ASSERT_TRUE(store_->Flush().ok()); }
  std::string ListedState(const std::string& agent) {
    for (const AgentInfo& a : manager_->ListAgents()) {
      if (a.name() == agent) return a.state();
    }
    return "(not listed)";
  }

  testing::ScopedTempDir dir_{"run-manager"};
  FakeClock clock_{1'000'000'000};
  std::unique_ptr<Store> store_;
  std::unique_ptr<RunManager> manager_;
  std::vector<std::unique_ptr<FakeAgent>> agents_;
};

TEST_F(RunManagerTest, ClockSyncAnsweredFromTheFakeClockSchedulesTheStartInAgentTime) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  EXPECT_EQ(ListedState("a"), absl::StrCat("running ", run));
  auto start = a.connection().WaitFor([](const CoordinatorMessage& m) { return m.has_start(); });
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(start->start().run_id(), run);
  // The start instant on the coordinator's clock, translated by the measured offset (exact: the
  // fake clock did not move during the pings).
  EXPECT_EQ(start->start().start_at_agent_ns(), Report(run).started_ns() + kAgentClockAheadNs);
  EXPECT_EQ(RunStateName(run), "running");
}

TEST_F(RunManagerTest, BatchesAndFinishFinishTheRunOnTheNextTick) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 5);
  a.SendBatch(run, 1, 5);
  a.SendFinished(run, 3);  // announces a third batch, not in yet
  manager_->Tick();
  EXPECT_EQ(AgentState(run, "a"), "running");
  EXPECT_FALSE(Done(run));
  a.SendBatch(run, 2, 5);
  Committed();
  EXPECT_EQ(AgentState(run, "a"), "finished");
  // Its finish is acknowledged once the last batch is counted, so the agent can forget the run.
  EXPECT_TRUE(a.connection()
                  .WaitFor([&](const CoordinatorMessage& m) { return m.finish_ack() == run; })
                  .has_value());
  EXPECT_FALSE(Done(run));  // finalising is Tick()'s job
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished");
  EXPECT_EQ(report.totals().requests(), 15u);
  EXPECT_THAT(report.threshold_failures(), ::testing::IsEmpty());
  EXPECT_EQ(StoredState(run), "finished");
  auto stored = store_->CountRecords(run);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 15u);
  EXPECT_EQ(ListedState("a"), "idle");
}

TEST_F(RunManagerTest, DisconnectedAgentIsLostOnlyAfterTheGrace) {
  FakeAgent& a = AddAgent("a");
  FakeAgent& b = AddAgent("b");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 4);
  a.SendFinished(run, 1);
  Committed();
  clock_.AdvanceNs(1'000 * kMs);
  b.SendBatch(run, 0, 3);
  b.Disconnect();
  EXPECT_EQ(ListedState("b"), "(not listed)");

  clock_.AdvanceNs(kGraceNs - kMs);
  manager_->Tick();
  EXPECT_EQ(AgentState(run, "b"), "running");
  EXPECT_FALSE(Done(run));

  clock_.AdvanceNs(2 * kMs);
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished-with-lost-agents");
  EXPECT_EQ(AgentState(run, "a"), "finished");
  EXPECT_EQ(AgentState(run, "b"), "lost");
  // What it sent before it was lost stays in the run.
  EXPECT_EQ(report.totals().requests(), 7u);
  EXPECT_THAT(report.threshold_failures(), Contains("agent(s) lost: b"));
  EXPECT_EQ(StoredState(run), "finished-with-lost-agents");
}

TEST_F(RunManagerTest, SilentAgentIsLostAfterTheGraceAndHeartbeatsKeepItIn) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  // Heartbeats inside the grace: still in the run well past one grace since the start.
  for (int i = 0; i < 3; ++i) {
    clock_.AdvanceNs(kGraceNs - kMs);
    a.Heartbeat();
    manager_->Tick();
  }
  EXPECT_EQ(AgentState(run, "a"), "running");
  // Then silence, still connected: exactly the grace is not yet too long; a moment more is.
  clock_.AdvanceNs(kGraceNs);
  manager_->Tick();
  EXPECT_EQ(AgentState(run, "a"), "running");
  clock_.AdvanceNs(1);
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(AgentState(run, "a"), "lost");
  EXPECT_EQ(RunStateName(run), "finished-with-lost-agents");
  EXPECT_EQ(StoredState(run), "finished-with-lost-agents");
}

TEST_F(RunManagerTest, AgentReconnectingWithinTheGraceKeepsItsRun) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 5);
  a.Disconnect();
  clock_.AdvanceNs(kGraceNs - kMs);
  manager_->Tick();
  a.Connect({run});  // the same process, still holding the run
  EXPECT_EQ(ListedState("a"), absl::StrCat("running ", run));
  // Past the grace counted from the disconnect: the reconnect cancelled it.
  clock_.AdvanceNs(kGraceNs - kMs);
  manager_->Tick();
  EXPECT_EQ(AgentState(run, "a"), "running");
  // It resends what was not acknowledged (batch 0 again: counted once), then the rest.
  a.SendBatch(run, 0, 5);
  a.SendBatch(run, 1, 5);
  a.SendFinished(run, 2);
  Committed();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(RunStateName(run), "finished");
  EXPECT_EQ(AgentState(run, "a"), "finished");
  EXPECT_EQ(Report(run).totals().requests(), 10u);
  auto stored = store_->CountRecords(run);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 10u);
}

TEST_F(RunManagerTest, AbortEndsTheRunAsAborted) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 5);
  auto summary = manager_->Abort(run);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->state(), "aborted");
  auto stop = a.connection().WaitFor([](const CoordinatorMessage& m) { return m.has_stop(); });
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->stop().run_id(), run);
  EXPECT_EQ(stop->stop().reason(), "aborted by user");
  manager_->Tick();
  EXPECT_FALSE(Done(run));  // the agent has not stopped yet
  // It stops and reports what it sent.
  a.SendBatch(run, 1, 2);
  a.SendFinished(run, 2);
  Committed();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "aborted");
  EXPECT_EQ(AgentState(run, "a"), "aborted");
  EXPECT_EQ(report.totals().requests(), 7u);
  EXPECT_THAT(report.threshold_failures(), Contains("run aborted"));
  EXPECT_EQ(StoredState(run), "aborted");
}

// abortOnFail: a minute-long run whose p99 goes over its limit from second 3 on. Each second
// the agent sends that second's records; the coordinator judges the last full 3 s window
// (ending a second before the current one) and aborts once it fails.
class AbortOnFailTest : public RunManagerTest {
 protected:
  static Plan WatchedPlan(bool abort_on_fail) {
    Plan plan = TestPlan();
    plan.mutable_stages(0)->mutable_duration()->set_seconds(60);
    plan.mutable_thresholds()->set_p99_ms(250);
    plan.mutable_thresholds()->set_abort_on_fail(abort_on_fail);
    if (abort_on_fail) plan.mutable_thresholds()->mutable_abort_window()->set_seconds(3);
    return plan;
  }
  // Second `s` of the run: 10 requests, slow (400 ms) from second 3 on; then a tick with the
  // clock 0.9 s into that second.
  void PlaySecond(FakeAgent& a, const std::string& run, int64_t start_ns, int s) {
    const int64_t second_ns = start_ns + s * 1'000'000'000LL;
    clock_.AdvanceNs(second_ns + 900 * kMs - clock_.WallNs());
    a.SendBatchAt(run, static_cast<uint64_t>(s), second_ns + 100 * kMs, 10,
                  s >= 3 ? 400'000 : 10'000);
    Committed();
    manager_->Tick();
  }
};

TEST_F(AbortOnFailTest, AbortsWhenTheLastWindowFailsWithTheReasonInTheReport) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun(WatchedPlan(true));
  const int64_t start_ns = Report(run).started_ns();
  for (int s = 0; s <= 4; ++s) PlaySecond(a, run, start_ns, s);
  // At second 4 the window is seconds 0-2: all fast.
  EXPECT_EQ(RunStateName(run), "running");
  PlaySecond(a, run, start_ns, 5);  // window 1-3: a third of it at 400 ms
  EXPECT_EQ(RunStateName(run), "aborted");
  auto stop = a.connection().WaitFor([](const CoordinatorMessage& m) { return m.has_stop(); });
  ASSERT_TRUE(stop.has_value());
  EXPECT_THAT(stop->stop().reason(),
              ::testing::MatchesRegex("aborted: p99 40[0-9.]+ms > 250ms over the last 3s"));
  a.SendFinished(run, 6);
  Committed();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "aborted");
  EXPECT_EQ(report.totals().requests(), 60u);
  EXPECT_THAT(report.threshold_failures(), Contains(stop->stop().reason()));
  EXPECT_THAT(report.threshold_failures(), ::testing::Not(Contains("run aborted")));
}

TEST_F(AbortOnFailTest, WithoutAbortOnFailTheRunGoesOn) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun(WatchedPlan(false));
  const int64_t start_ns = Report(run).started_ns();
  for (int s = 0; s <= 15; ++s) PlaySecond(a, run, start_ns, s);
  EXPECT_EQ(RunStateName(run), "running");
  // Its merged p99 is over the limit all the same: judged when it ends.
  EXPECT_THAT(Report(run).threshold_failures(), Contains(::testing::StartsWith("p99 40")));
}

TEST_F(RunManagerTest, AbortedRunWhoseAgentNeverAnswersEndsAfterTheGrace) {
  AddAgent("a");
  const std::string run = StartRun();
  ASSERT_TRUE(manager_->Abort(run).ok());
  clock_.AdvanceNs(kGraceNs);
  manager_->Tick();
  EXPECT_FALSE(Done(run));
  clock_.AdvanceNs(kMs);
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(RunStateName(run), "aborted");
  EXPECT_EQ(AgentState(run, "a"), "lost");
  EXPECT_EQ(StoredState(run), "aborted");
}

TEST_F(RunManagerTest, AgentThatFailsCarriesItsReasonIntoTheReport) {
  FakeAgent& a = AddAgent("a");
  FakeAgent& b = AddAgent("b");
  const std::string run = StartRun();
  a.SendFinished(run, 0, "agent is busy with another run");
  b.SendBatch(run, 0, 3);
  b.SendFinished(run, 1);
  Committed();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(AgentState(run, "a"), "failed: agent is busy with another run");
  EXPECT_EQ(AgentState(run, "b"), "finished");
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished-with-failed-agents");
  EXPECT_THAT(report.threshold_failures(),
              Contains("agent(s) refused or failed: a (agent is busy with another run)"));
}

// ---- One identity per agent. ----

TEST_F(RunManagerTest, ASecondAgentUnderAConnectedNameIsRefused) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  FakeAgent impostor(manager_.get(), &clock_, "a");
  impostor.Restart();  // another process: another instance id
  auto refused = impostor.TryConnect({run});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("already connected"));
  // The agent keeps its session and its run.
  EXPECT_EQ(ListedState("a"), absl::StrCat("running ", run));
  a.SendBatch(run, 0, 2);
  Committed();
  EXPECT_EQ(Report(run).totals().requests(), 2u);
}

TEST_F(RunManagerTest, ARestartedAgentLosesItsShareAtOnceAndWhatItSpooledStillCounts) {
  FakeAgent& a = AddAgent("a");
  FakeAgent& b = AddAgent("b");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 5);
  a.Restart();       // killed mid-run; systemd starts it again under the same name
  a.Connect({run});  // it lists the run: batch 1 is in its spool on disk
  EXPECT_EQ(AgentState(run, "a"), "lost") << "a new process does not run the old schedule";
  EXPECT_EQ(ListedState("a"), "idle");
  a.SendBatch(run, 1, 3);
  b.SendBatch(run, 0, 4);
  b.SendFinished(run, 1);
  Committed();
  manager_->Tick();  // no clock moved: the run ends on time, not a grace later
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished-with-lost-agents");
  EXPECT_EQ(report.totals().requests(), 12u);
  auto stored = store_->CountRecords(run);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, 12u);
}

// ---- Records that arrive late are stored; "lost" means "stopped hearing from". ----

TEST_F(RunManagerTest, ALostAgentThatComesBackWithEverythingFinishesTheRunAfterAll) {
  FakeAgent& a = AddAgent("a");
  FakeAgent& b = AddAgent("b");
  const std::string run = StartRun();
  a.SendBatch(run, 0, 5);
  a.Disconnect();  // a partition longer than the grace
  b.SendBatch(run, 0, 4);
  b.SendFinished(run, 1);
  Committed();
  clock_.AdvanceNs(kGraceNs + kMs);
  b.Heartbeat();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(RunStateName(run), "finished-with-lost-agents");
  EXPECT_EQ(Report(run).totals().requests(), 9u);

  // The partition heals: the same process reconnects and delivers what it held.
  a.Connect({run});
  a.SendBatch(run, 0, 5);  // acknowledged before the partition? Not here: counted once anyway
  a.SendBatch(run, 1, 6);
  a.SendFinished(run, 2);
  Committed();
  EXPECT_TRUE(a.connection()
                  .WaitFor([&](const CoordinatorMessage& m) { return m.finish_ack() == run; })
                  .has_value());
  manager_->Tick();  // the stored report is rebuilt with the late records
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished");
  EXPECT_EQ(AgentState(run, "a"), "finished");
  EXPECT_EQ(report.totals().requests(), 15u);
  EXPECT_THAT(report.threshold_failures(), ::testing::IsEmpty());
  EXPECT_EQ(StoredState(run), "finished");
  auto stored_report = store_->GetReport(run);
  ASSERT_TRUE(stored_report.ok());
  EXPECT_EQ(stored_report->totals().requests(), 15u);
}

// ---- A link that no message can break. ----

struct BadBatch {
  const char* name;
  std::function<void(RecordBatch*)> spoil;
  absl::StatusCode code;
  const char* reason;  // a part of the refusal's message
};

class RunManagerBadBatchTest : public RunManagerTest,
                               public ::testing::WithParamInterface<BadBatch> {};

TEST_P(RunManagerBadBatchTest, IsRefusedWholeAndNothingOfItIsStored) {
  FakeAgent& a = AddAgent("a");
  const std::string run = StartRun();
  AgentMessage m;
  RecordBatch* b = m.mutable_batch();
  b->set_run_id(run);
  b->set_agent_id("a");
  b->set_seq(0);
  b->set_base_time_ns(clock_.WallNs() + kAgentClockAheadNs);
  for (int i = 0; i < 3; ++i) {
    b->add_start_offset_ns(i * kMs);
    b->add_latency_us(1000);
    b->add_service_us(900);
    b->add_status(200);
    b->add_error(ERROR_NONE);
    b->add_bytes_sent(10);
    b->add_bytes_received(20);
    b->add_stage(0);
    b->add_worker(0);
  }
  GetParam().spoil(b);
  a.Send(m);
  auto rejected =
      a.connection().WaitFor([](const CoordinatorMessage& c) { return c.has_batch_rejected(); });
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->batch_rejected().code(), static_cast<int>(GetParam().code));
  EXPECT_THAT(rejected->batch_rejected().reason(), ::testing::HasSubstr(GetParam().reason));
  EXPECT_EQ(manager_->rejected_batches(), 1u);
  Committed();
  EXPECT_EQ(*store_->CountRecords(run), 0u);
  EXPECT_EQ(Report(run).totals().requests(), 0u);
  // The link still works: a good batch is stored and acknowledged.
  a.SendBatch(run, 0, 2);
  Committed();
  EXPECT_TRUE(a.connection()
                  .WaitFor([&](const CoordinatorMessage& c) {
                    return c.has_ack() && c.ack().run_id() == run && c.ack().seq() == 0;
                  })
                  .has_value());
  EXPECT_EQ(*store_->CountRecords(run), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Findings, RunManagerBadBatchTest,
    ::testing::Values(
        BadBatch{"seq_2_64_minus_1", [](RecordBatch* b) { b->set_seq(UINT64_MAX); },
                 absl::StatusCode::kInvalidArgument, "batch.seq"},
        BadBatch{"seq_2_40", [](RecordBatch* b) { b->set_seq(uint64_t{1} << 40); },
                 absl::StatusCode::kInvalidArgument, "batch.seq"},
        BadBatch{"short_status_column", [](RecordBatch* b) { b->mutable_status()->RemoveLast(); },
                 absl::StatusCode::kInvalidArgument, "batch.status: 2 values for 3 records"},
        BadBatch{"status_999", [](RecordBatch* b) { b->set_status(1, 999); },
                 absl::StatusCode::kInvalidArgument, "batch.status[1]: 999"},
        BadBatch{"unknown_error_class",
                 [](RecordBatch* b) { b->set_error(2, static_cast<ErrorClass>(42)); },
                 absl::StatusCode::kInvalidArgument, "batch.error[2]"},
        BadBatch{"latency_minus_1", [](RecordBatch* b) { b->set_latency_us(0, 4294967295u); },
                 absl::StatusCode::kInvalidArgument, "batch.latencyUs[0]"},
        BadBatch{"service_beyond_latency", [](RecordBatch* b) { b->set_service_us(0, 5000); },
                 absl::StatusCode::kInvalidArgument, "batch.serviceUs[0]"},
        BadBatch{"timestamp_from_1868",
                 [](RecordBatch* b) { b->set_base_time_ns(-3'200'000'000'000'000'000); },
                 absl::StatusCode::kInvalidArgument, "batch.startOffsetNs[0]"},
        BadBatch{"stage_beyond_the_plan", [](RecordBatch* b) { b->set_stage(0, 7); },
                 absl::StatusCode::kInvalidArgument, "batch.stage[0]"},
        BadBatch{"another_agents_batch", [](RecordBatch* b) { b->set_agent_id("b"); },
                 absl::StatusCode::kInvalidArgument, "batch.agentId"},
        BadBatch{"unknown_run", [](RecordBatch* b) { b->set_run_id("r-nobody-started"); },
                 absl::StatusCode::kNotFound, "not known here"}),
    [](const ::testing::TestParamInfo<BadBatch>& info) { return info.param.name; });

TEST_F(RunManagerTest, RegistrationsWithHostileFieldsAreRefusedNamingTheField) {
  struct Case {
    std::function<void(Register*)> spoil;
    const char* field;
  };
  const std::vector<Case> cases = {
      {[](Register* r) { r->set_name(std::string(1 << 20, 'x')); }, "register.name"},
      {[](Register* r) { r->set_name(""); }, "register.name"},
      {[](Register* r) { r->set_name("bad\nname"); }, "register.name"},
      {[](Register* r) { r->set_region(std::string(1 << 20, 'r')); }, "register.region"},
      {[](Register* r) { (*r->mutable_labels())["k"] = std::string(4096, 'v'); },
       "register.labels.k"},
      {[](Register* r) { r->set_instance_id(std::string(100, 'i')); }, "register.instanceId"},
  };
  for (const Case& c : cases) {
    FakeConnection connection(manager_.get(), &clock_);
    Register reg;
    reg.set_name("ok-name");
    reg.set_region("eastus");
    c.spoil(&reg);
    auto session = manager_->RegisterAgent(reg, &connection);
    ASSERT_FALSE(session.ok()) << c.field;
    EXPECT_EQ(session.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(session.status().message()), ::testing::HasSubstr(c.field));
    EXPECT_LT(session.status().message().size(), 300u) << "the message quotes a short excerpt";
  }
  EXPECT_THAT(manager_->ListAgents(), ::testing::IsEmpty());
}

// ---- A coordinator restarted on the same store. ----

TEST_F(RunManagerTest, ARestartedCoordinatorResumesTheRunAndStoresEachRecordOnce) {
  std::string run;
  {
    FakeAgent a(manager_.get(), &clock_, "a");
    a.Connect();
    run = StartRun();
    a.SendBatch(run, 0, 5);
    a.SendBatch(run, 1, 5);
    Committed();
    a.Disconnect();
  }
  // The coordinator dies (nothing finalised) and a new one opens the same store.
  manager_.reset();
  RunManagerOptions options;
  options.agent_grace = kGrace;
  options.monitor_thread = false;
  manager_ = std::make_unique<RunManager>(store_.get(), &clock_, options);
  ASSERT_TRUE(manager_->Recover(RecoveryMode::kResume).ok());
  EXPECT_EQ(RunStateName(run), "running");
  EXPECT_EQ(Report(run).totals().requests(), 10u) << "the merged view is rebuilt from the store";
  manager_->Tick();
  EXPECT_FALSE(Done(run)) << "its agent has the resume grace to come back";

  // The same agent process comes back, resends what it had not had acknowledged (batch 1) and
  // the rest.
  FakeAgent& a = AddAgent("a");
  a.Disconnect();
  a.Connect({run});
  EXPECT_EQ(ListedState("a"), absl::StrCat("running ", run)) << "busy with its old run";
  a.SendBatch(run, 1, 5);
  a.SendBatch(run, 2, 5);
  a.SendFinished(run, 3);
  Committed();
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "finished");
  EXPECT_EQ(report.totals().requests(), 15u);
  EXPECT_EQ(*store_->CountRecords(run), 15u);
  EXPECT_EQ(StoredState(run), "finished");
}

TEST_F(RunManagerTest, ARunWhoseAgentsDoNotComeBackIsInterruptedNotLeftRunning) {
  std::string run;
  {
    FakeAgent a(manager_.get(), &clock_, "a");
    a.Connect();
    run = StartRun();
    a.SendBatch(run, 0, 5);
    Committed();
    a.Disconnect();
  }
  manager_.reset();
  RunManagerOptions options;
  options.agent_grace = kGrace;
  options.resume_grace = absl::Seconds(30);
  options.monitor_thread = false;
  manager_ = std::make_unique<RunManager>(store_.get(), &clock_, options);
  ASSERT_TRUE(manager_->Recover(RecoveryMode::kResume).ok());
  clock_.AdvanceNs(29'000 * kMs);
  manager_->Tick();
  EXPECT_FALSE(Done(run));
  clock_.AdvanceNs(1'001 * kMs);
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  const RunReport report = Report(run);
  EXPECT_EQ(report.state(), "interrupted");
  EXPECT_EQ(report.totals().requests(), 5u) << "what was stored is reported";
  EXPECT_THAT(report.threshold_failures(), Contains(::testing::HasSubstr("did not come back")));
  EXPECT_EQ(StoredState(run), "interrupted");
}

TEST_F(RunManagerTest, AbortingARecoveredRunDoesNotWaitForAgentsThatAreNotThere) {
  std::string run;
  {
    FakeAgent a(manager_.get(), &clock_, "a");
    a.Connect();
    run = StartRun();
    a.Disconnect();
  }
  manager_.reset();
  RunManagerOptions options;
  options.monitor_thread = false;
  manager_ = std::make_unique<RunManager>(store_.get(), &clock_, options);
  ASSERT_TRUE(manager_->Recover(RecoveryMode::kResume).ok());
  ASSERT_TRUE(manager_->Abort(run).ok());
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(RunStateName(run), "aborted");
}

TEST_F(RunManagerTest, AnEmbeddedCoordinatorFinalizesWhatACrashedEmbeddedRunLeft) {
  std::string run;
  {
    FakeAgent a(manager_.get(), &clock_, "a");
    a.Connect();
    run = StartRun();
    a.SendBatch(run, 0, 3);
    Committed();
    a.Disconnect();
  }
  manager_.reset();
  RunManagerOptions options;
  options.monitor_thread = false;
  manager_ = std::make_unique<RunManager>(store_.get(), &clock_, options);
  ASSERT_TRUE(manager_->Recover(RecoveryMode::kInterrupt).ok());
  manager_->Tick();
  ASSERT_TRUE(Done(run));
  EXPECT_EQ(RunStateName(run), "interrupted");
  EXPECT_EQ(StoredState(run), "interrupted");
}

}  // namespace
}  // namespace stampede
