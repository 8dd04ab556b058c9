// The agent <-> coordinator link under failure, in one process: a real CoordinatorServer, agents
// as CoordinatorLink objects dialling it through a TcpProxy each (so the test can cut their
// connections at will), and an HTTP target on loopback. The invariant: no record is lost and
// none is counted twice when the link drops mid-run — the store and the merged report hold
// exactly the requests the agents made.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/coordinator_link.h"
#include "common/clock.h"
#include "coordinator/agent_session.h"
#include "coordinator/run_manager.h"
#include "coordinator/server.h"
#include "coordinator/store.h"
#include "tests/support/bad_server.h"
#include "tests/support/e2e.h"
#include "tests/support/tcp_proxy.h"

namespace stampede {
namespace {

using testing::Query;

using testing::BadServer;
using testing::Misbehaviour;
using testing::TcpProxy;

// Polls `done` every 10 ms until it holds or `timeout` passes; returns its last value.
template <typename F>
bool PollUntil(F done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int64_t QueryInt(const std::string& db, const std::string& sql) {
  const auto rows = Query(db, sql);
  if (rows.size() != 1 || rows[0].size() != 1) {
    ADD_FAILURE() << sql << ": expected one value, got " << rows.size() << " rows";
    return -1;
  }
  int64_t v = 0;
  EXPECT_TRUE(absl::SimpleAtoi(rows[0][0], &v)) << rows[0][0];
  return v;
}

// A resolved plan (payload bytes loaded), as `stampede run` would send it.
Plan PlanFor(const std::string& url) {
  Plan plan;
  plan.set_name("link");
  plan.mutable_target()->set_url(url);
  plan.mutable_target()->set_method("POST");
  (*plan.mutable_target()->mutable_headers())["Content-Type"] = "application/json";
  plan.mutable_target()->mutable_timeout()->set_seconds(5);
  plan.mutable_target()->set_payload_file("payload.json");
  plan.mutable_target()->add_resolved_payloads("{\"x\":1}");
  return plan;
}

// Open model, constant arrivals: exactly rate x duration requests per agent.
void AddOpenStage(Plan& plan, double rate, int64_t duration_ms) {
  Stage* s = plan.add_stages();
  s->set_rate(rate);
  s->mutable_duration()->set_seconds(duration_ms / 1000);
  s->mutable_duration()->set_nanos(static_cast<int32_t>((duration_ms % 1000) * 1'000'000));
}

std::string Url(int port) { return absl::StrCat("http://127.0.0.1:", port, "/score"); }

int PortOf(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  return port;
}

// A coordinator, a target, and N agents each dialling the coordinator through its own proxy.
class LinkCluster {
 public:
  struct Agent {
    std::string name;
    std::unique_ptr<TcpProxy> proxy;
    std::unique_ptr<CoordinatorLink> link;
    std::thread thread;
    absl::Status result;
  };

  ~LinkCluster() { Stop(); }

  // `allowed_hosts[i]`, when given, restricts agent i's targets (--allow-host).
  void Start(const std::filesystem::path& dir, int agents, absl::Duration grace,
             const std::vector<std::vector<std::string>>& allowed_hosts = {}) {
    db_ = (dir / "stampede.db").string();
    auto target = BadServer::Start(Misbehaviour::kOk);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.db_path = db_;
    options.manager.agent_grace = grace;
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    const int coordinator_port = PortOf(server_->address());
    const char* regions[] = {"eastus", "westeurope", "southeastasia"};
    for (int i = 0; i < agents; ++i) {
      auto a = std::make_unique<Agent>();
      a->name = absl::StrCat("agent-", i);
      auto proxy = TcpProxy::Start(coordinator_port);
      ASSERT_TRUE(proxy.ok()) << proxy.status();
      a->proxy = std::move(*proxy);
      LinkOptions link;
      link.coordinator = absl::StrCat("127.0.0.1:", a->proxy->port());
      link.name = a->name;
      link.region = regions[i % 3];
      link.threads = 1;
      // Small backoffs so that reconnects happen within the run; a heartbeat well inside the
      // shortest grace used here, so that a connected agent is never taken for a silent one.
      link.min_backoff = absl::Milliseconds(20);
      link.max_backoff = absl::Milliseconds(200);
      link.heartbeat = absl::Milliseconds(100);
      if (static_cast<size_t>(i) < allowed_hosts.size()) link.allowed_hosts = allowed_hosts[i];
      a->link = std::make_unique<CoordinatorLink>(link);
      Agent* raw = a.get();
      a->thread = std::thread([raw] { raw->result = raw->link->Run(); });
      agents_.push_back(std::move(a));
    }
    const bool all_idle = PollUntil(
        [&] {
          int idle = 0;
          for (const AgentInfo& info : server_->manager().ListAgents()) {
            idle += info.state() == "idle";
          }
          return idle == agents;
        },
        std::chrono::seconds(10));
    ASSERT_TRUE(all_idle) << "agents did not register";
  }

  void Stop() {
    for (auto& a : agents_) a->link->Shutdown();
    for (auto& a : agents_) {
      if (a->thread.joinable()) a->thread.join();
      EXPECT_TRUE(a->result.ok()) << a->name << ": " << a->result;
    }
    agents_.clear();  // links (stopping their runs), then proxies
    server_.reset();
    target_.reset();
  }

  RunManager& manager() { return server_->manager(); }
  Store& store() { return server_->store(); }
  const std::string& db() const { return db_; }
  Agent& agent(int i) { return *agents_[i]; }
  int target_port() const { return target_->port(); }

  // Live requests the coordinator has ingested from one agent (from the live report).
  uint64_t IngestedFrom(const std::string& run_id, const std::string& agent) {
    auto report = manager().GetReport(run_id);
    if (!report.ok()) return 0;
    for (const AgentResult& r : report->by_agent()) {
      if (r.agent().name() == agent) return r.totals().requests();
    }
    return 0;
  }
  uint64_t IngestedTotal(const std::string& run_id) {
    auto progress = manager().GetProgress(run_id);
    return progress.ok() ? progress->totals().requests() : 0;
  }

 private:
  std::string db_;
  std::unique_ptr<BadServer> target_;
  std::unique_ptr<CoordinatorServer> server_;
  std::vector<std::unique_ptr<Agent>> agents_;
};

std::string StartRunOrDie(RunManager& manager, const Plan& plan) {
  auto started = manager.StartRun(plan);
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? started->run_id() : "";
}

// The exactness checks shared by the link-drop tests: the run finished cleanly, and report,
// store and raw SQL all hold exactly `per_agent` requests per agent, with no record twice.
void ExpectExactlyOnce(LinkCluster& cluster, const std::string& run_id, int agents,
                       int64_t per_agent) {
  const int64_t expected = agents * per_agent;
  auto report = cluster.manager().GetReport(run_id);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->state(), "finished");
  EXPECT_EQ(report->totals().requests(), static_cast<uint64_t>(expected));
  EXPECT_EQ(report->totals().errors(), 0u);
  ASSERT_EQ(report->by_agent_size(), agents);
  for (const AgentResult& r : report->by_agent()) {
    EXPECT_EQ(r.state(), "finished") << r.agent().name();
    EXPECT_EQ(r.totals().requests(), static_cast<uint64_t>(per_agent)) << r.agent().name();
  }

  auto stored = cluster.store().CountRecords(run_id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, static_cast<uint64_t>(expected));

  const std::string where = absl::StrCat(" WHERE run_id='", run_id, "'");
  EXPECT_EQ(QueryInt(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM records", where)), expected);
  // A batch ingested twice would repeat its rows exactly: with one worker per agent and
  // constant arrivals, every (agent, intended start) is distinct, so distinct rows = rows.
  EXPECT_EQ(QueryInt(cluster.db(),
                     absl::StrCat("SELECT COUNT(*) FROM (SELECT DISTINCT agent, ts_ns FROM records",
                                  where, ")")),
            expected);
  const auto per = Query(cluster.db(), absl::StrCat("SELECT agent, COUNT(*) FROM records", where,
                                                    " GROUP BY agent ORDER BY agent"));
  ASSERT_EQ(per.size(), static_cast<size_t>(agents));
  for (int i = 0; i < agents; ++i) {
    EXPECT_EQ(per[i][0], absl::StrCat("agent-", i));
    EXPECT_EQ(per[i][1], absl::StrCat(per_agent)) << per[i][0];
  }
  // The stored run row agrees with the report. Polled: the row is written just after the run
  // is marked done (see StoredRunIsFinalWhenWaitDoneReturns for that race).
  const std::string row_sql = absl::StrCat("SELECT state, requests FROM runs", where);
  PollUntil(
      [&] {
        const auto r = Query(cluster.db(), row_sql);
        return !r.empty() && r[0][0] != "running";
      },
      std::chrono::seconds(5));
  const auto row = Query(cluster.db(), row_sql);
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0], "finished");
  EXPECT_EQ(row[0][1], absl::StrCat(expected));
}

TEST(Link, LinkDropMidRunLosesNothing) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  LinkCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.Start(dir, 2, absl::Seconds(10)));
  Plan plan = PlanFor(Url(cluster.target_port()));
  AddOpenStage(plan, 300, 3000);  // 900 per agent
  const std::string run_id = StartRunOrDie(cluster.manager(), plan);
  ASSERT_FALSE(run_id.empty());

  // Mid-run: both agents have delivered part of their schedule (~1 s in).
  ASSERT_TRUE(PollUntil(
      [&] {
        return cluster.IngestedFrom(run_id, "agent-0") >= 300 &&
               cluster.IngestedFrom(run_id, "agent-1") >= 300;
      },
      std::chrono::seconds(10)));
  // First the acks stop reaching the agents while their batches still reach the coordinator
  // (~3 batches each in 300 ms): ingested, but still in the agents' spools.
  const uint64_t before_hold = cluster.IngestedTotal(run_id);
  for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetHoldReplies(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t while_held = cluster.IngestedTotal(run_id);
  EXPECT_GT(while_held, before_hold) << "batches should still arrive while acks are held";
  // Then what the agents send stops arriving too (~2 batches each in 200 ms): sent, never
  // received.
  for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetHoldRequests(true);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_LT(cluster.IngestedTotal(run_id), 1800u) << "the run ended before the cut";
  // Then both links drop (held batches and acks with them) and the agents are held off for a
  // while: they keep running their schedule and spool what they cannot send. On reconnect they
  // must resend everything unacknowledged: batches lost in transit, and batches the coordinator
  // already has (which it must not count again).
  for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetAccepting(false);
  for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->CutAll();
  for (int i = 0; i < 2; ++i) {
    cluster.agent(i).proxy->SetHoldReplies(false);
    cluster.agent(i).proxy->SetHoldRequests(false);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetAccepting(true);

  ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(30)));
  ExpectExactlyOnce(cluster, run_id, 2, 900);
  for (int i = 0; i < 2; ++i) {
    EXPECT_GE(cluster.agent(i).proxy->connections(), 2u) << "agent-" << i << " never reconnected";
  }
}

TEST(Link, RepeatedCutsStillExact) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  LinkCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.Start(dir, 2, absl::Seconds(10)));
  Plan plan = PlanFor(Url(cluster.target_port()));
  AddOpenStage(plan, 300, 3000);
  const std::string run_id = StartRunOrDie(cluster.manager(), plan);
  ASSERT_FALSE(run_id.empty());

  // Three cuts, each once the coordinator has more records than at the previous one (so each
  // falls on a live, re-established link). Cut 0 is a plain drop; cut 1 comes after 150 ms of
  // withheld acks (ingested batches get resent) and holds the agents off for 200 ms; cut 2
  // comes after 150 ms in which nothing gets through either way (batches lost in transit).
  const uint64_t thresholds[] = {200, 700, 1200};
  for (int cut = 0; cut < 3; ++cut) {
    ASSERT_TRUE(PollUntil([&] { return cluster.IngestedTotal(run_id) >= thresholds[cut]; },
                          std::chrono::seconds(15)))
        << "cut " << cut << ": ingested " << cluster.IngestedTotal(run_id);
    if (cut > 0) {
      for (int i = 0; i < 2; ++i) {
        cluster.agent(i).proxy->SetHoldReplies(true);
        cluster.agent(i).proxy->SetHoldRequests(cut == 2);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
    }
    if (cut == 1) {
      for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetAccepting(false);
    }
    for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->CutAll();
    for (int i = 0; i < 2; ++i) {
      cluster.agent(i).proxy->SetHoldReplies(false);
      cluster.agent(i).proxy->SetHoldRequests(false);
    }
    if (cut == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      for (int i = 0; i < 2; ++i) cluster.agent(i).proxy->SetAccepting(true);
    }
  }

  ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(30)));
  ExpectExactlyOnce(cluster, run_id, 2, 900);
  for (int i = 0; i < 2; ++i) {
    // The first connection plus one per cut (a cut may catch an agent between connections, in
    // which case it cuts nothing; that is rare, so >= 3 is the robust floor, 4 the usual).
    EXPECT_GE(cluster.agent(i).proxy->connections(), 3u) << "agent-" << i;
  }
}

// Where the coordinator's messages to a fake agent go: kept for inspection; clock pings are
// answered at once with a zero offset, as a well-synchronised agent would.
class FakeAgentWriter final : public MessageWriter {
 public:
  bool Write(const CoordinatorMessage& message) override {
    AgentSession* session = nullptr;
    {
      absl::MutexLock lock(&mu_);
      messages_.push_back(message);
      session = session_;
    }
    if (message.has_ping() && session != nullptr) {
      ClockPong pong;
      pong.set_id(message.ping().id());
      pong.set_coordinator_send_ns(message.ping().coordinator_send_ns());
      const int64_t now = RealClock::Get().WallNs();
      pong.set_agent_receive_ns(now);
      pong.set_agent_send_ns(now);
      session->OnPong(pong);
    }
    return true;
  }
  void set_session(AgentSession* session) {
    absl::MutexLock lock(&mu_);
    session_ = session;
  }
  int Acks(const std::string& run_id, uint64_t seq) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& m : messages_) {
      n += m.has_ack() && m.ack().run_id() == run_id && m.ack().seq() == seq;
    }
    return n;
  }
  int FinishAcks(const std::string& run_id) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& m : messages_) n += m.finish_ack() == run_id;
    return n;
  }
  bool GotStart(const std::string& run_id) {
    absl::MutexLock lock(&mu_);
    for (const auto& m : messages_) {
      if (m.has_start() && m.start().run_id() == run_id) return true;
    }
    return false;
  }

 private:
  absl::Mutex mu_;
  std::vector<CoordinatorMessage> messages_ ABSL_GUARDED_BY(mu_);
  AgentSession* session_ ABSL_GUARDED_BY(mu_) = nullptr;
};

RecordBatch MakeBatch(const std::string& run_id, const std::string& agent, uint64_t seq,
                      int records, int64_t base_ns) {
  RecordBatch b;
  b.set_run_id(run_id);
  b.set_agent_id(agent);
  b.set_seq(seq);
  b.set_base_time_ns(base_ns);
  for (int i = 0; i < records; ++i) {
    b.add_start_offset_ns((static_cast<int64_t>(seq) * 1000 + i) * 1'000'000);
    b.add_latency_us(1000 + i);
    b.add_service_us(1000 + i);
    b.add_status(200);
    b.add_error(ERROR_NONE);
    b.add_bytes_sent(100);
    b.add_bytes_received(50);
    b.add_stage(0);
    b.add_worker(0);
  }
  return b;
}

AgentMessage BatchMessage(const RecordBatch& batch) {
  AgentMessage m;
  *m.mutable_batch() = batch;
  return m;
}

TEST(Link, ResentBatchCountedOnce) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  // Writers outlive the manager (its sessions write to them until they are closed).
  FakeAgentWriter writer1;
  FakeAgentWriter writer2;
  auto store = Store::Open((dir / "stampede.db").string());
  ASSERT_TRUE(store.ok()) << store.status();
  RunManagerOptions options;
  options.agent_grace = absl::Seconds(10);
  RunManager manager(store->get(), &RealClock::Get(), options);

  Register reg;
  reg.set_name("agent-x");
  reg.set_instance_id("agent-x-process-1");
  reg.set_region("eastus");
  reg.set_cores(1);
  auto session1 = manager.RegisterAgent(reg, &writer1);
  ASSERT_TRUE(session1.ok()) << session1.status();
  writer1.set_session(session1->get());

  Plan plan = PlanFor("http://127.0.0.1:9/score");  // never contacted: no engine runs here
  AddOpenStage(plan, 100, 1000);
  auto started = manager.StartRun(plan);
  ASSERT_TRUE(started.ok()) << started.status();
  const std::string run_id = started->run_id();
  ASSERT_TRUE(PollUntil([&] { return writer1.GotStart(run_id); }, std::chrono::seconds(5)));

  const int64_t base = RealClock::Get().WallNs();
  const RecordBatch b0 = MakeBatch(run_id, "agent-x", 0, 10, base);
  const RecordBatch b1 = MakeBatch(run_id, "agent-x", 1, 5, base);
  // seq 0 delivered twice on one connection (the agent resent it before its ack came), seq 1
  // once. A copy that arrives while the first is on its way to the store is not stored again;
  // the commit acknowledges the batch once.
  manager.OnAgentMessage(**session1, BatchMessage(b0));
  manager.OnAgentMessage(**session1, BatchMessage(b0));
  manager.OnAgentMessage(**session1, BatchMessage(b1));
  ASSERT_TRUE((*store)->Flush().ok());
  ASSERT_TRUE(
      PollUntil([&] { return writer1.Acks(run_id, 0) == 1 && writer1.Acks(run_id, 1) == 1; },
                std::chrono::seconds(5)))
      << "acks for seq 0: " << writer1.Acks(run_id, 0) << ", seq 1: " << writer1.Acks(run_id, 1);
  auto live = manager.GetReport(run_id);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->totals().requests(), 15u);
  auto progress = manager.GetProgress(run_id);
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ(progress->totals().requests(), 15u);

  // The agent reconnects (the same process: a new session under the same name replaces the old
  // one, which may linger) and resends everything unacknowledged: seq 0 once more. Acked on the
  // new connection, not counted.
  reg.add_active_runs(run_id);
  auto session2 = manager.RegisterAgent(reg, &writer2);
  ASSERT_TRUE(session2.ok()) << session2.status();
  writer2.set_session(session2->get());
  EXPECT_TRUE((*session1)->closed()) << "the old session must be replaced";
  manager.OnAgentMessage(**session2, BatchMessage(b0));
  ASSERT_TRUE(PollUntil([&] { return writer2.Acks(run_id, 0) == 1; }, std::chrono::seconds(5)));
  live = manager.GetReport(run_id);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->totals().requests(), 15u);

  RunFinished finished;
  finished.set_run_id(run_id);
  finished.set_batches(2);
  finished.set_requests(15);
  AgentMessage finish;
  *finish.mutable_finished() = finished;
  manager.OnAgentMessage(**session2, finish);
  ASSERT_TRUE(PollUntil([&] { return writer2.FinishAcks(run_id) == 1; }, std::chrono::seconds(5)));
  ASSERT_TRUE(manager.WaitDone(run_id, absl::Seconds(10)));

  auto report = manager.GetReport(run_id);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->state(), "finished");
  EXPECT_EQ(report->totals().requests(), 15u);
  ASSERT_EQ(report->by_agent_size(), 1);
  EXPECT_EQ(report->by_agent(0).state(), "finished");
  EXPECT_EQ(report->by_agent(0).totals().requests(), 15u);
  auto stored = (*store)->CountRecords(run_id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(*stored, 15u);

  // A late resend after the run is final: acked again (so the agent can drop it), not stored
  // twice.
  manager.OnAgentMessage(**session2, BatchMessage(b1));
  ASSERT_TRUE(PollUntil([&] { return writer2.Acks(run_id, 1) == 1; }, std::chrono::seconds(5)));
  ASSERT_TRUE((*store)->Flush().ok());
  stored = (*store)->CountRecords(run_id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, 15u);
  report = manager.GetReport(run_id);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->totals().requests(), 15u);
  (*session2)->Close();
}

TEST(Link, AgentLostOnlyAfterGrace) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  LinkCluster cluster;
  // 1 s rather than less: between its last clock pong and its first batch (~0.4 s: start
  // margin plus the first flush) a healthy agent sends nothing at all while it holds a run (see
  // ConnectedAgentWithSlowRequestsIsNotLost), and must not be taken for a lost one.
  ASSERT_NO_FATAL_FAILURE(cluster.Start(dir, 2, absl::Seconds(1)));
  Plan plan = PlanFor(Url(cluster.target_port()));
  AddOpenStage(plan, 300, 3000);
  const std::string run_id = StartRunOrDie(cluster.manager(), plan);
  ASSERT_FALSE(run_id.empty());

  ASSERT_TRUE(PollUntil([&] { return cluster.IngestedFrom(run_id, "agent-1") >= 150; },
                        std::chrono::seconds(10)));
  // agent-1 loses its link for the rest of the run.
  TcpProxy& proxy = *cluster.agent(1).proxy;
  proxy.SetAccepting(false);
  proxy.CutAll();
  const auto cut_at = std::chrono::steady_clock::now();

  // Not lost before the grace has passed: for most of the grace agent-1 stays "running"...
  auto state_of_agent_1 = [&] {
    auto live = cluster.manager().GetReport(run_id);
    if (!live.ok()) return std::string("?");
    for (const AgentResult& r : live->by_agent()) {
      if (r.agent().name() == "agent-1") return r.state();
    }
    return std::string("?");
  };
  int checks = 0;
  while (true) {
    const std::string state = state_of_agent_1();
    if (std::chrono::steady_clock::now() - cut_at >= std::chrono::milliseconds(800)) break;
    EXPECT_EQ(state, "running") << "declared lost before the grace (1 s) passed";
    ++checks;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(checks, 0);
  // ...and is lost soon after it, well before the run's other agent finishes (~3 s).
  EXPECT_TRUE(PollUntil([&] { return state_of_agent_1() == "lost"; }, std::chrono::seconds(3)));
  ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(30)));
  auto report = cluster.manager().GetReport(run_id);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->state(), "finished-with-lost-agents");
  std::map<std::string, AgentResult> by_name;
  for (const AgentResult& r : report->by_agent()) by_name[r.agent().name()] = r;
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["agent-0"].state(), "finished");
  EXPECT_EQ(by_name["agent-0"].totals().requests(), 900u);
  EXPECT_EQ(by_name["agent-1"].state(), "lost");
  const uint64_t lost_agent = by_name["agent-1"].totals().requests();
  EXPECT_GE(lost_agent, 150u);
  EXPECT_LT(lost_agent, 900u);

  // Everything that reached the store is in the report, and nothing else.
  auto stored = cluster.store().CountRecords(run_id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(report->totals().requests(), *stored);
  EXPECT_EQ(*stored, 900u + lost_agent);
  const std::string where = absl::StrCat(" WHERE run_id='", run_id, "'");
  EXPECT_EQ(QueryInt(cluster.db(),
                     absl::StrCat("SELECT COUNT(*) FROM records", where, " AND agent='agent-1'")),
            static_cast<int64_t>(lost_agent));
  // Polled: run_agents rows are written just after the run is marked done (see
  // StoredRunIsFinalWhenWaitDoneReturns).
  const std::string states_sql =
      absl::StrCat("SELECT agent_id, state FROM run_agents", where, " ORDER BY agent_id");
  PollUntil([&] { return Query(cluster.db(), states_sql).size() == 2; }, std::chrono::seconds(5));
  const auto states = Query(cluster.db(), states_sql);
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0][1], "finished");
  EXPECT_EQ(states[1][1], "lost");

  // The partition heals: the lost agent (the same process, which ran its whole schedule) comes
  // back and resends what it held. "Lost" meant "stopped hearing from": its records are stored,
  // its part of the run finishes, and the stored report is rebuilt with them. Nothing is lost.
  const uint64_t connections_before = proxy.connections();
  proxy.SetAccepting(true);
  ASSERT_TRUE(
      PollUntil([&] { return cluster.agent(1).link->registered(); }, std::chrono::seconds(10)));
  EXPECT_GT(proxy.connections(), connections_before);
  ASSERT_TRUE(PollUntil(
      [&] {
        auto stored_report = cluster.store().GetReport(run_id);
        return stored_report.ok() && stored_report->totals().requests() == 1800u &&
               stored_report->state() == "finished";
      },
      std::chrono::seconds(20)))
      << "the late records were not folded into the stored report";
  auto after = cluster.store().CountRecords(run_id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, 1800u);
  EXPECT_EQ(QueryInt(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM (SELECT DISTINCT agent, "
                                                "ts_ns FROM records",
                                                where, ")")),
            1800)
      << "no record twice";
  auto final_report = cluster.manager().GetReport(run_id);
  ASSERT_TRUE(final_report.ok());
  EXPECT_EQ(final_report->totals().requests(), 1800u);
  EXPECT_EQ(final_report->state(), "finished");
  PollUntil([&] { return Query(cluster.db(), states_sql)[1][1] == "finished"; },
            std::chrono::seconds(5));
  EXPECT_EQ(Query(cluster.db(), states_sql)[1][1], "finished");
}

// Regression: a connected, healthy agent whose requests are all slower than the agent grace
// must not be declared lost. The agent once sent no heartbeats while it held a run (its writer
// counted every pass as a write), and workers send no empty batches, so the coordinator saw
// a silent session and dropped its later records.
TEST(Link, ConnectedAgentWithSlowRequestsIsNotLost) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  auto stall = BadServer::Start(Misbehaviour::kStall);
  ASSERT_TRUE(stall.ok()) << stall.status();
  LinkCluster cluster;
  // Agents heartbeat every 100 ms (LinkCluster), far inside the 700 ms grace.
  ASSERT_NO_FATAL_FAILURE(cluster.Start(dir, 1, absl::Milliseconds(700)));
  Plan plan = PlanFor(Url((*stall)->port()));
  plan.mutable_target()->mutable_timeout()->set_seconds(2);  // the only request takes 2 s
  Stage* s = plan.add_stages();
  s->set_concurrency(1);
  s->set_requests(1);
  const std::string run_id = StartRunOrDie(cluster.manager(), plan);
  ASSERT_FALSE(run_id.empty());
  ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(20)));
  auto report = cluster.manager().GetReport(run_id);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->state(), "finished");
  ASSERT_EQ(report->by_agent_size(), 1);
  EXPECT_EQ(report->by_agent(0).state(), "finished");
  EXPECT_EQ(report->totals().requests(), 1u);
  EXPECT_EQ(report->totals().by_error().count("timeout"), 1u);
  EXPECT_EQ(cluster.agent(0).proxy->connections(), 1u) << "the link never dropped";
}

// Regression: when WaitDone returns (and with it `stampede run`/`watch`), the stored run row
// and its run_agents rows are final. Finalize once set `done` before writing them, so
// `stampede runs` and `report --db` read a stale "running" row right after a run.
TEST(Link, StoredRunIsFinalWhenWaitDoneReturns) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  LinkCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.Start(dir, 2, absl::Seconds(10)));
  for (int i = 0; i < 5; ++i) {
    Plan plan = PlanFor(Url(cluster.target_port()));
    Stage* s = plan.add_stages();
    s->set_concurrency(1);
    s->set_requests(20);
    const std::string run_id = StartRunOrDie(cluster.manager(), plan);
    ASSERT_FALSE(run_id.empty());
    ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(10)));
    const std::string where = absl::StrCat(" WHERE run_id='", run_id, "'");
    const auto row = Query(cluster.db(), absl::StrCat("SELECT state, requests, report IS NOT NULL "
                                                      "FROM runs",
                                                      where));
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(row[0][0], "finished") << run_id << ": stored state right after WaitDone";
    EXPECT_EQ(row[0][1], "40") << run_id << ": stored requests right after WaitDone";
    EXPECT_EQ(row[0][2], "1") << run_id << ": no stored report right after WaitDone";
    EXPECT_EQ(QueryInt(cluster.db(), absl::StrCat("SELECT COUNT(*) FROM run_agents", where)), 2)
        << run_id << ": run_agents rows right after WaitDone";
  }
}

// An agent restricted to other hosts refuses the plan (and says why); one allowed to this host
// runs it. The run ends, with the refusal as the refusing agent's state.
TEST(Link, AgentRefusesTargetsOutsideItsAllowList) {
  const auto dir = testing::UniqueTestDir("stampede-link");
  LinkCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.Start(
      dir, 2, absl::Seconds(5), {{"*.example.internal"}, {"model.example.internal", "127.0.0.1"}}));
  Plan plan = PlanFor(Url(cluster.target_port()));
  AddOpenStage(plan, 100, 500);
  const std::string run_id = StartRunOrDie(cluster.manager(), plan);
  ASSERT_FALSE(run_id.empty());
  ASSERT_TRUE(cluster.manager().WaitDone(run_id, absl::Seconds(30)));
  auto report = cluster.manager().GetReport(run_id);
  ASSERT_TRUE(report.ok()) << report.status();
  std::map<std::string, AgentResult> by_name;
  for (const AgentResult& r : report->by_agent()) by_name[r.agent().name()] = r;
  EXPECT_THAT(by_name["agent-0"].state(),
              ::testing::HasSubstr("target host \"127.0.0.1\" is not in this agent's "
                                   "--allow-host list"));
  EXPECT_EQ(by_name["agent-0"].totals().requests(), 0u);
  EXPECT_EQ(by_name["agent-1"].state(), "finished");
  EXPECT_EQ(by_name["agent-1"].totals().requests(), 50u);
  // A refusal, not a lost agent: the run says so, and the report names the reason.
  EXPECT_EQ(report->state(), "finished-with-failed-agents");
  ASSERT_EQ(report->threshold_failures_size(), 1);
  EXPECT_THAT(report->threshold_failures(0),
              ::testing::HasSubstr("agent(s) refused or failed: agent-0 (target host"));
}

}  // namespace
}  // namespace stampede
