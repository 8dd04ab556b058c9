// A hostile or broken agent against a real `stampede serve`: a client that holds the token and
// speaks the agent link, but sends what no honest agent would (issue 9, findings 1, 5 and 6).
// Every such message must be refused with a reason naming the field, nothing of it stored, the
// coordinator process alive and serving, and the honest part of the run counted exactly.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "control.grpc.pb.h"
#include "tests/support/e2e.h"
#include "tests/support/process.h"

namespace stampede {
namespace {

using testing::BinPath;
using testing::ChildProcess;

constexpr char kToken[] = "s3cret-token-for-the-link";

int64_t WallNs() { return absl::ToUnixNanos(absl::Now()); }

// One agent-link stream to the coordinator, driven by the test. A reader thread answers clock
// pings at once (so runs can start) and queues every other message for the test to wait on.
class FakeAgent {
 public:
  explicit FakeAgent(const std::string& address)
      : stub_(
            AgentLink::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    stream_ = stub_->Connect(&context_);
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~FakeAgent() {
    {
      absl::MutexLock lock(&write_mu_);
      stream_->WritesDone();
    }
    context_.TryCancel();
    reader_.join();
  }

  bool Send(const AgentMessage& message) {
    absl::MutexLock lock(&write_mu_);
    return stream_->Write(message);
  }

  // Sends a Register and returns the coordinator's answer: "accepted" or the refusal text.
  std::string Register(const std::string& name, const std::string& instance_id,
                       const std::string& token = kToken) {
    AgentMessage m;
    stampede::Register* reg = m.mutable_register_();
    reg->set_name(name);
    reg->set_region("eastus");
    reg->set_cores(1);
    reg->set_version("hostile");
    reg->set_token(token);
    reg->set_instance_id(instance_id);
    if (!Send(m)) return "stream closed";
    auto answer = WaitFor(
        [](const CoordinatorMessage& c) { return c.has_accepted_agent_id() || c.has_rejected(); });
    if (!answer.has_value()) return "no answer";
    return answer->has_accepted_agent_id() ? "accepted" : answer->rejected();
  }

  // The first queued message `want` accepts (earlier ones that it does not are dropped).
  std::optional<CoordinatorMessage> WaitFor(
      const std::function<bool(const CoordinatorMessage&)>& want,
      absl::Duration timeout = absl::Seconds(15)) {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      while (!queue_.empty()) {
        CoordinatorMessage m = std::move(queue_.front());
        queue_.pop_front();
        if (want(m)) return m;
      }
      if (closed_ ||
          mu_.AwaitWithDeadline(absl::Condition(
                                    +[](FakeAgent* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) {
                                      return !a->queue_.empty() || a->closed_;
                                    },
                                    this),
                                deadline) == false) {
        if (queue_.empty()) return std::nullopt;
      }
    }
  }

  bool closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  void ReadLoop() {
    CoordinatorMessage m;
    while (stream_->Read(&m)) {
      if (m.has_ping()) {
        AgentMessage pong;
        pong.mutable_pong()->set_id(m.ping().id());
        pong.mutable_pong()->set_coordinator_send_ns(m.ping().coordinator_send_ns());
        pong.mutable_pong()->set_agent_receive_ns(WallNs());
        pong.mutable_pong()->set_agent_send_ns(WallNs());
        Send(pong);
        continue;
      }
      absl::MutexLock lock(&mu_);
      queue_.push_back(m);
    }
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  std::unique_ptr<AgentLink::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, CoordinatorMessage>> stream_;
  absl::Mutex write_mu_;
  absl::Mutex mu_;
  std::deque<CoordinatorMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

// `stampede serve` on an ephemeral loopback port with a token file; fills `address`.
std::unique_ptr<ChildProcess> StartServe(const std::filesystem::path& dir, std::string* address) {
  const std::string token_file = (dir / "token").string();
  std::ofstream(token_file) << kToken << "\n";
  std::filesystem::permissions(
      token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return testing::StartServeProcess({"--listen", "127.0.0.1:0", "--db",
                                     (dir / "stampede.db").string(), "--token-file", token_file},
                                    address);
}

// A batch of `n` plausible records starting just after the run's start, in the agent's clock.
RecordBatch GoodBatch(const std::string& run_id, uint64_t seq, int64_t start_at_agent_ns, int n) {
  RecordBatch b;
  b.set_run_id(run_id);
  b.set_seq(seq);
  b.set_base_time_ns(start_at_agent_ns);
  for (int i = 0; i < n; ++i) {
    b.add_start_offset_ns(int64_t{i} * 1'000'000);
    b.add_latency_us(1500);
    b.add_service_us(1400);
    b.add_status(200);
    b.add_error(ERROR_NONE);
    b.add_bytes_sent(120);
    b.add_bytes_received(40);
    b.add_stage(0);
    b.add_worker(0);
  }
  return b;
}

AgentMessage AsMessage(const RecordBatch& batch) {
  AgentMessage m;
  *m.mutable_batch() = batch;
  return m;
}

struct BadBatch {
  std::string what;
  std::function<void(RecordBatch*)> spoil;
  std::string field;  // the reason must name it
  int code;           // canonical status code
};

TEST(HostileAgent, BadBatchesAreRefusedNamingTheFieldAndTheRunStaysExact) {
  const auto dir = testing::UniqueTestDir("stampede-hostile");
  std::string address;
  auto serve = StartServe(dir, &address);
  ASSERT_NE(serve, nullptr);

  FakeAgent agent(address);
  ASSERT_EQ(agent.Register("hostile", "pid-1"), "accepted");

  // The run, started the way the CLI starts it.
  auto coordinator =
      Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  StartRunRequest request;
  request.set_token(kToken);
  request.mutable_plan()->mutable_target()->set_url("http://127.0.0.1:9/score");
  request.mutable_plan()->add_stages()->set_concurrency(1);
  request.mutable_plan()->mutable_stages(0)->set_requests(1000);
  StartRunResponse response;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    const grpc::Status s = coordinator->StartRun(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << serve->output();
  }
  const std::string run_id = response.run_id();
  auto start = agent.WaitFor([](const CoordinatorMessage& m) { return m.has_start(); });
  ASSERT_TRUE(start.has_value());
  ASSERT_EQ(start->start().run_id(), run_id);
  const int64_t start_at = start->start().start_at_agent_ns();
  // Records may not start in the future: wait (polling the clock) until the run has begun.
  while (WallNs() < start_at + 20'000'000)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  constexpr int kInvalid = 3;   // grpc::StatusCode::INVALID_ARGUMENT
  constexpr int kNotFound = 5;  // NOT_FOUND
  const std::vector<BadBatch> bad = {
      {"seq 2^64-1 (crashed the coordinator: the ledger resize wrapped)",
       [](RecordBatch* b) { b->set_seq(UINT64_MAX); }, "seq", kInvalid},
      {"seq 2^40 (an allocation failure escaped the handler)",
       [](RecordBatch* b) { b->set_seq(uint64_t{1} << 40); }, "seq", kInvalid},
      {"columns of different lengths", [](RecordBatch* b) { b->add_status(200); }, "status",
       kInvalid},
      {"status 999", [](RecordBatch* b) { b->set_status(1, 999); }, "status[1]", kInvalid},
      {"latency -1 (4294967295 µs)", [](RecordBatch* b) { b->set_latency_us(2, UINT32_MAX); },
       "latencyUs[2]", kInvalid},
      {"a timestamp from 1868",
       [](RecordBatch* b) { b->set_base_time_ns(-3'200'000'000'000'000'000); }, "startOffsetNs[0]",
       kInvalid},
      {"an unknown error class",
       [](RecordBatch* b) { b->set_error(0, static_cast<ErrorClass>(77)); }, "error[0]", kInvalid},
      {"a stage the plan does not have", [](RecordBatch* b) { b->set_stage(3, 9); }, "stage[3]",
       kInvalid},
      {"a run that is not known here", [](RecordBatch* b) { b->set_run_id("r-nonesuch"); },
       "r-nonesuch", kNotFound},
  };
  uint64_t seq = 100;  // each bad batch under a seq of its own that a later good batch never uses
  for (const BadBatch& c : bad) {
    SCOPED_TRACE(c.what);
    RecordBatch b = GoodBatch(run_id, seq++, start_at, 5);
    c.spoil(&b);
    ASSERT_TRUE(agent.Send(AsMessage(b))) << "the coordinator closed the stream";
    auto refused = agent.WaitFor([&](const CoordinatorMessage& m) {
      return m.has_batch_rejected() && m.batch_rejected().seq() == b.seq();
    });
    ASSERT_TRUE(refused.has_value()) << "no BatchRejected for seq " << b.seq() << "\n"
                                     << serve->output();
    EXPECT_EQ(refused->batch_rejected().code(), c.code) << refused->batch_rejected().reason();
    EXPECT_TRUE(absl::StrContains(refused->batch_rejected().reason(), c.field))
        << refused->batch_rejected().reason();
    EXPECT_LT(refused->batch_rejected().reason().size(), 400u);
  }

  // The honest part of the run: two batches of 7 records, and the agent's account of them.
  for (uint64_t s : {0, 1}) {
    ASSERT_TRUE(agent.Send(AsMessage(GoodBatch(run_id, s, start_at, 7))));
    auto ack = agent.WaitFor(
        [&](const CoordinatorMessage& m) { return m.has_ack() && m.ack().seq() == s; });
    ASSERT_TRUE(ack.has_value()) << "batch " << s << " was not acknowledged\n" << serve->output();
  }
  AgentMessage finished;
  finished.mutable_finished()->set_run_id(run_id);
  finished.mutable_finished()->set_batches(2);
  finished.mutable_finished()->set_requests(14);
  ASSERT_TRUE(agent.Send(finished));
  ASSERT_TRUE(agent.WaitFor([](const CoordinatorMessage& m) { return m.has_finish_ack(); }))
      << serve->output();

  // The report and the store hold the 14 honest records and nothing of the refused batches.
  RunReport report;
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext context;
    RunRef ref;
    ref.set_token(kToken);
    ref.set_run_id(run_id);
    if (coordinator->GetReport(&context, ref, &report).ok() && report.state() != "running") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(report.state(), "finished");
  EXPECT_EQ(report.totals().requests(), 14u);
  const auto rows = testing::Query((dir / "stampede.db").string(),
                                   absl::StrCat("SELECT COUNT(*), COUNT(DISTINCT status) FROM "
                                                "records WHERE run_id='",
                                                run_id, "'"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "14");
  EXPECT_EQ(rows[0][1], "1");  // status 200 only: no 999 slipped in
  const auto total = testing::Query((dir / "stampede.db").string(), "SELECT COUNT(*) FROM records");
  ASSERT_EQ(total.size(), 1u);
  EXPECT_EQ(total[0][0], "14");

  // Still alive and logging why: one line per refusal, naming the field.
  auto logged = serve->WaitForLine("event=batch_rejected", std::chrono::seconds(10));
  ASSERT_TRUE(logged.ok()) << serve->output();
  EXPECT_TRUE(absl::StrContains(*logged, "reason=")) << *logged;
  serve->Signal(SIGTERM);
  auto exited = serve->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(exited.ok());
  EXPECT_EQ(*exited, 0) << serve->output();
}

TEST(HostileAgent, NoOneTakesOverAConnectedNameAndHostileRegistrationsAreRefused) {
  const auto dir = testing::UniqueTestDir("stampede-hostile");
  std::string address;
  auto serve = StartServe(dir, &address);
  ASSERT_NE(serve, nullptr);

  FakeAgent victim(address);
  ASSERT_EQ(victim.Register("victim", "pid-1"), "accepted");

  // Another process under the same name (finding 5: it used to evict the connected agent and
  // receive its plans, bearer key included).
  FakeAgent thief(address);
  const std::string refused = thief.Register("victim", "pid-2");
  EXPECT_TRUE(absl::StrContains(refused, "already connected")) << refused;

  // Hostile fields, each refused with a reason that names it and quotes little of it.
  struct Case {
    std::string name, token, want;
  };
  const std::vector<Case> cases = {
      {std::string(1 << 20, 'n'), kToken, "name"},
      {"bad\nname", kToken, "name"},
      {"", kToken, "name"},
      {"fine", "wrong-token", "token"},
  };
  for (const Case& c : cases) {
    FakeAgent other(address);
    const std::string answer = other.Register(c.name, "pid-3", c.token);
    EXPECT_NE(answer, "accepted");
    EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(answer), c.want)) << answer.substr(0, 200);
    EXPECT_LT(answer.size(), 400u);
  }

  // The victim is still the one connected under its name, and its stream still works.
  auto coordinator =
      Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  ListAgentsRequest list;
  list.set_token(kToken);
  ListAgentsResponse agents;
  ASSERT_TRUE(coordinator->ListAgents(&context, list, &agents).ok());
  ASSERT_EQ(agents.agents_size(), 1);
  EXPECT_EQ(agents.agents(0).name(), "victim");
  EXPECT_FALSE(victim.closed());
  AgentMessage beat;
  beat.mutable_heartbeat()->set_sent_ns(WallNs());
  beat.mutable_heartbeat()->set_state("idle");
  EXPECT_TRUE(victim.Send(beat));
  EXPECT_FALSE(victim.closed());
}

}  // namespace
}  // namespace stampede
