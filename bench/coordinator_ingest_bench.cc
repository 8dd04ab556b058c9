// Ingest benchmark for the whole coordinator path: gRPC receive on the AgentLink stream, the
// (run, agent, seq) dedupe in RunManager::OnBatch, aggregation (RunAggregator) and the SQLite
// store. A CoordinatorServer runs in-process on 127.0.0.1 (port from the kernel); K synthetic
// agents, each with its own gRPC channel and AgentLink::Connect stream (no load engine), register,
// answer clock pings, and when StartRun arrives stream pre-built RecordBatches (seq 0..n-1) with
// at most --window batches unacknowledged, then send RunFinished. The main thread starts the run
// through RunManager::StartRun, waits until it is done (every batch ingested, the store flushed,
// the report built and stored), and checks the report's total and the stored row count against
// the records sent. Prints the rate, the process's memory (peak, and sampled every --sample-ms)
// and where the CPU went, per thread.
//
//   coordinator_ingest_bench [--records N] [--agents K] [--batch B] [--window W]
//                            [--rate R] [--sample-ms MS] [--db PATH]
//
// --records: total over all agents (default 6,000,000); --batch: records per RecordBatch (4096);
// --window: unacknowledged batches per agent (64); --rate: simulated requests/s per agent, which
// only sets how much run time a batch spans (10,000 -> a 4096-record batch covers 0.41 s);
// --sample-ms: RSS sampling period (500); --db defaults to a temporary file that is deleted
// afterwards.
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/proc_stats.h"
#include "control.grpc.pb.h"
#include "coordinator/server.h"

namespace stampede {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
using bench::ProcStatusKib;
using bench::SnapshotTasks;
using bench::TaskTimes;

constexpr const char* kRegions[] = {"eastus", "westeurope", "southeastasia"};
// Distinct batch contents per agent, cycled; only the per-send fields change.
constexpr int kTemplates = 4;
// Worker threads a synthetic agent pretends to have (RecordBatch.worker).
constexpr uint32_t kWorkers = 2;

struct Options {
  uint64_t records = 6'000'000;
  int agents = 3;
  int batch = 4096;
  int window = 64;
  double rate = 10'000;
  int sample_ms = 500;
  std::string db;
};

bool ParseFlags(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--records" && has_value) {
      options->records = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--agents" && has_value) {
      options->agents = std::atoi(argv[++i]);
    } else if (arg == "--batch" && has_value) {
      options->batch = std::atoi(argv[++i]);
    } else if (arg == "--window" && has_value) {
      options->window = std::atoi(argv[++i]);
    } else if (arg == "--rate" && has_value) {
      options->rate = std::atof(argv[++i]);
    } else if (arg == "--sample-ms" && has_value) {
      options->sample_ms = std::atoi(argv[++i]);
    } else if (arg == "--db" && has_value) {
      options->db = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--records N] [--agents K] [--batch B] [--window W] [--rate R] "
                   "[--sample-ms MS] [--db PATH]\n",
                   argv[0]);
      return false;
    }
  }
  return options->records > 0 && options->agents > 0 && options->batch > 0 && options->window > 0 &&
         options->rate > 0 && options->sample_ms > 0 &&
         options->records >= static_cast<uint64_t>(options->agents);
}

int64_t WallNs() { return absl::GetCurrentTimeNanos(); }
double SecondsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
// Thread names show in /proc/self/task/*/comm (15 characters at most).
void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// ---- Per-thread CPU time, from /proc/self/task/<tid>/{comm,schedstat}. -----------------------

// ---- Synthetic record batches. ----------------------------------------------------------------

// Batches that look like a model endpoint under load: lognormal latencies around 5 ms with a
// tail, 2% 503s (faster, ~1 ms), JSON-sized bodies, stage 0. Start offsets count from the batch's
// base time, which the sender moves forward by `span_ns` per batch, so the agent's batches tile
// the run's timeline from its origin (the StartRun instant). Records are in completion order (as
// the agent's RecordBuffer adds them), so start offsets are only roughly ascending.
std::vector<AgentMessage> MakeTemplates(int agent, int size, int64_t span_ns) {
  std::mt19937_64 rng(4321 + agent);
  std::lognormal_distribution<double> latency_ms(std::log(5.0), 0.5);
  std::lognormal_distribution<double> error_latency_ms(std::log(1.0), 0.3);
  std::uniform_real_distribution<double> uniform(0, 1);
  const double gap_ns = static_cast<double>(span_ns) / size;
  std::vector<AgentMessage> templates(kTemplates);
  for (AgentMessage& message : templates) {
    RecordBatch& batch = *message.mutable_batch();
    double completed_ns = 0;
    for (int i = 0; i < size; ++i) {
      completed_ns += gap_ns * (0.5 + uniform(rng));
      const double u = uniform(rng);
      uint32_t status = 200;
      ErrorClass error = ERROR_NONE;
      uint32_t latency_us = static_cast<uint32_t>(latency_ms(rng) * 1000);
      if (u < 0.02) {
        status = 503;
        error = ERROR_HTTP_5XX;
        latency_us = static_cast<uint32_t>(error_latency_ms(rng) * 1000);
      }
      batch.add_start_offset_ns(static_cast<int64_t>(completed_ns) - int64_t{latency_us} * 1000);
      batch.add_latency_us(latency_us);
      batch.add_service_us(latency_us - std::min<uint32_t>(latency_us, 150));
      batch.add_status(status);
      batch.add_error(error);
      batch.add_bytes_sent(1180);
      batch.add_bytes_received(status == 200 ? 2400 + static_cast<uint32_t>(u * 400) : 95);
      batch.add_stage(0);
      batch.add_worker(static_cast<uint32_t>(i) % kWorkers);
    }
  }
  return templates;
}

void Truncate(RecordBatch* b, int keep) {
  b->mutable_start_offset_ns()->Truncate(keep);
  b->mutable_latency_us()->Truncate(keep);
  b->mutable_service_us()->Truncate(keep);
  b->mutable_status()->Truncate(keep);
  b->mutable_error()->Truncate(keep);
  b->mutable_bytes_sent()->Truncate(keep);
  b->mutable_bytes_received()->Truncate(keep);
  b->mutable_stage()->Truncate(keep);
  b->mutable_worker()->Truncate(keep);
}

// ---- A synthetic agent: one channel, one AgentLink stream, two threads. ------------------------

// Shared by the agents and the main thread.
struct Shared {
  // Steady-clock ns of the first batch write of any agent (0: none yet).
  std::atomic<int64_t> first_send_ns{0};
  // Set by the main thread once it has the report: agents close their streams.
  std::atomic<bool> shutdown{false};
  // Batches sent by all agents so far: places each batch on the run's timeline (see Produce).
  std::atomic<uint64_t> next_slot{0};
};

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

class SyntheticAgent {
 public:
  SyntheticAgent(int index, uint64_t records, const Options& options, Shared* shared)
      : index_(index),
        name_(absl::StrCat("synthetic-", index)),
        region_(kRegions[index % 3]),
        records_(records),
        options_(options),
        shared_(shared),
        span_ns_(static_cast<int64_t>(options.batch / options.rate * 1e9)),
        templates_(MakeTemplates(index, options.batch, span_ns_)) {}

  void Start(const std::string& address) {
    thread_ = std::thread([this, address] { Main(address); });
  }
  // After Shared::shutdown is set: the agent half-closes its stream and its threads end.
  void WakeForShutdown() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // The accessors below are for after Join().
  const std::string& error() const { return error_; }
  uint64_t batches_sent() const { return batches_sent_; }
  uint64_t records_sent() const { return records_sent_; }
  SteadyClock::time_point last_ack_at() const { return last_ack_at_; }
  SteadyClock::time_point finish_acked_at() const { return finish_acked_at_; }

 private:
  void SetError(const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.empty()) error_ = error;
  }

  void Main(const std::string& address) {
    NameThisThread(absl::StrCat("synth-send-", index_));
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    // One TCP connection per agent, as with separate agent processes (channels with equal
    // arguments would otherwise share a subchannel).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    auto stub = AgentLink::NewStub(channel);
    grpc::ClientContext context;
    stream_ = stub->Connect(&context);

    AgentMessage reg;
    reg.mutable_register_()->set_name(name_);
    reg.mutable_register_()->set_region(region_);
    reg.mutable_register_()->set_cores(1);
    reg.mutable_register_()->set_version("bench");
    (*reg.mutable_register_()->mutable_labels())["synthetic"] = "true";
    if (!stream_->Write(reg)) {
      SetError("register: stream broke");
      (void)stream_->Finish();
      return;
    }
    std::thread reader([this] { ReadLoop(); });

    std::string run_id;
    int64_t start_at_ns = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !run_id_.empty() || closed_ || shared_->shutdown; });
      run_id = run_id_;
      start_at_ns = start_at_ns_;
    }
    if (!run_id.empty()) Produce(run_id, start_at_ns);

    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return closed_ || shared_->shutdown; });
    }
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      stream_->WritesDone();
    }
    reader.join();  // the coordinator ends the stream once it has read our half-close
    const grpc::Status status = stream_->Finish();
    if (!status.ok()) SetError(absl::StrCat("stream: ", status.error_message()));
  }

  void Produce(const std::string& run_id, int64_t start_at_ns) {
    const uint64_t batch = static_cast<uint64_t>(options_.batch);
    const uint64_t n = (records_ + batch - 1) / batch;
    for (AgentMessage& m : templates_) {
      m.mutable_batch()->set_run_id(run_id);
      m.mutable_batch()->set_agent_id(name_);
    }
    for (uint64_t seq = 0; seq < n; ++seq) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return batches_sent_ - acked_ < static_cast<uint64_t>(options_.window) || closed_ ||
                 shared_->shutdown;
        });
        if (closed_ || shared_->shutdown) {
          if (error_.empty()) error_ = "stream closed before every batch was sent";
          return;
        }
      }
      AgentMessage* m = &templates_[seq % templates_.size()];
      RecordBatch* b = m->mutable_batch();
      b->set_seq(seq);
      // One timeline for all agents, as in a real run where every agent's records are stamped
      // with about the same wall-clock time: the i-th batch sent by any agent starts at
      // i * span / K. (Per-agent time from seq alone would let agents drift apart in simulated
      // time when the coordinator serves them unevenly, which real agents cannot do.)
      const uint64_t slot = shared_->next_slot.fetch_add(1);
      b->set_base_time_ns(start_at_ns + static_cast<int64_t>(slot) * span_ns_ / options_.agents);
      // The last batch may be partial, so that exactly this agent's share is sent.
      const uint64_t want = std::min<uint64_t>(batch, records_ - seq * batch);
      AgentMessage partial;
      if (want < batch) {
        partial = *m;
        Truncate(partial.mutable_batch(), static_cast<int>(want));
        m = &partial;
      }
      if (seq == 0) {
        int64_t expected = 0;
        shared_->first_send_ns.compare_exchange_strong(expected, SteadyNs());
      }
      bool ok;
      {
        std::lock_guard<std::mutex> lock(write_mu_);
        ok = stream_->Write(*m);
      }
      if (!ok) {
        SetError("batch write failed");
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++batches_sent_;
      records_sent_ += want;
    }
    AgentMessage finished;
    finished.mutable_finished()->set_run_id(run_id);
    finished.mutable_finished()->set_batches(n);
    finished.mutable_finished()->set_requests(records_);
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (!stream_->Write(finished)) SetError("RunFinished write failed");
    }
  }

  void ReadLoop() {
    NameThisThread(absl::StrCat("synth-read-", index_));
    CoordinatorMessage message;
    while (stream_->Read(&message)) {
      switch (message.kind_case()) {
        case CoordinatorMessage::kPing: {
          AgentMessage pong;
          pong.mutable_pong()->set_id(message.ping().id());
          pong.mutable_pong()->set_coordinator_send_ns(message.ping().coordinator_send_ns());
          pong.mutable_pong()->set_agent_receive_ns(WallNs());
          std::lock_guard<std::mutex> lock(write_mu_);
          pong.mutable_pong()->set_agent_send_ns(WallNs());
          stream_->Write(pong);
          break;
        }
        case CoordinatorMessage::kStart: {
          std::lock_guard<std::mutex> lock(mu_);
          if (run_id_.empty()) {
            run_id_ = message.start().run_id();
            start_at_ns_ = message.start().start_at_agent_ns();
            cv_.notify_all();
          }
          break;
        }
        case CoordinatorMessage::kAck: {
          std::lock_guard<std::mutex> lock(mu_);
          if (message.ack().run_id() == run_id_) {
            ++acked_;
            last_ack_at_ = SteadyClock::now();
            cv_.notify_all();
          }
          break;
        }
        case CoordinatorMessage::kFinishAck: {
          std::lock_guard<std::mutex> lock(mu_);
          finish_acked_at_ = SteadyClock::now();
          break;
        }
        case CoordinatorMessage::kStop: {
          std::lock_guard<std::mutex> lock(mu_);
          if (error_.empty()) {
            error_ = absl::StrCat("coordinator stopped the run: ", message.stop().reason());
          }
          break;
        }
        case CoordinatorMessage::kRejected: {
          std::lock_guard<std::mutex> lock(mu_);
          if (error_.empty()) error_ = absl::StrCat("rejected: ", message.rejected());
          break;
        }
        case CoordinatorMessage::kBatchRejected: {
          // A refused batch would never be stored: the measurement is void.
          std::lock_guard<std::mutex> lock(mu_);
          if (error_.empty()) {
            error_ = absl::StrCat("batch ", message.batch_rejected().seq(),
                                  " refused: ", message.batch_rejected().reason());
          }
          break;
        }
        case CoordinatorMessage::kAcceptedAgentId:
        case CoordinatorMessage::kHeartbeat:
        case CoordinatorMessage::KIND_NOT_SET:
          break;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }

  const int index_;
  const std::string name_;
  const std::string region_;
  const uint64_t records_;  // this agent's share
  const Options options_;
  Shared* const shared_;
  const int64_t span_ns_;  // run time covered by one batch
  std::vector<AgentMessage> templates_;
  std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, CoordinatorMessage>> stream_;
  std::thread thread_;

  std::mutex write_mu_;  // one writer at a time on the stream: batches and pongs
  std::mutex mu_;
  std::condition_variable cv_;
  std::string run_id_;
  int64_t start_at_ns_ = 0;
  uint64_t batches_sent_ = 0;
  uint64_t records_sent_ = 0;
  uint64_t acked_ = 0;
  bool closed_ = false;
  std::string error_;
  SteadyClock::time_point last_ack_at_{};
  SteadyClock::time_point finish_acked_at_{};
};

// ---- The benchmark. ---------------------------------------------------------------------------

int Main(int argc, char** argv) {
  Options options;
  if (!ParseFlags(argc, argv, &options)) return 2;
  const bool temporary = options.db.empty();
  if (temporary) {
    options.db = (fs::temp_directory_path() /
                  absl::StrCat("stampede_coordinator_ingest_bench_", getpid(), ".db"))
                     .string();
  }

  // Threads the coordinator starts without naming them (gRPC's pollers and handler threads,
  // the run manager's monitor, agent session writers) inherit the name of the thread that
  // created them: call them "coord" rather than after the benchmark.
  NameThisThread("coord");
  ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.db_path = options.db;
  // The synthetic agents compress a run of ~200 s (at --rate) into the few seconds the ingest
  // takes, so their records lie up to that far in the coordinator's future; a real agent's never
  // do. Widen the coordinator's timestamp check for them (the check itself still runs).
  server_options.manager.timestamp_slack = absl::Hours(24);
  auto started = CoordinatorServer::Start(server_options);
  NameThisThread("bench-main");
  if (!started.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", started.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<CoordinatorServer> server = std::move(*started);

  Shared shared;
  std::vector<std::unique_ptr<SyntheticAgent>> agents;
  for (int i = 0; i < options.agents; ++i) {
    const uint64_t share = options.records / options.agents +
                           (static_cast<uint64_t>(i) < options.records % options.agents ? 1 : 0);
    agents.push_back(std::make_unique<SyntheticAgent>(i, share, options, &shared));
  }
  for (auto& agent : agents) agent->Start(server->address());
  const auto stop_agents = [&] {
    shared.shutdown = true;
    for (auto& agent : agents) agent->WakeForShutdown();
    for (auto& agent : agents) agent->Join();
  };

  const SteadyClock::time_point register_deadline = SteadyClock::now() + std::chrono::seconds(10);
  while (server->manager().ListAgents().size() < static_cast<size_t>(options.agents)) {
    if (SteadyClock::now() > register_deadline) {
      std::fprintf(stderr, "only %zu of %d synthetic agents registered within 10 s\n",
                   server->manager().ListAgents().size(), options.agents);
      stop_agents();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // Templates are built and every stream is open: this is the baseline.
  const int64_t baseline_kib = ProcStatusKib("VmRSS");
  std::atomic<bool> sampling{true};
  std::vector<int64_t> samples_kib;
  std::thread sampler([&] {
    NameThisThread("bench-rss");
    while (sampling.load()) {
      samples_kib.push_back(ProcStatusKib("VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(options.sample_ms));
    }
  });

  Plan plan;
  plan.set_name("coordinator-ingest-bench");
  plan.mutable_target()->set_url("http://127.0.0.1:9/score");
  Stage* stage = plan.add_stages();
  stage->set_concurrency(1);
  stage->set_requests(1);
  plan.mutable_agents()->set_count(options.agents);

  const std::map<pid_t, TaskTimes> tasks_before = SnapshotTasks();
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  const SteadyClock::time_point start_called = SteadyClock::now();
  auto run = server->manager().StartRun(plan);
  if (!run.ok()) {
    std::fprintf(stderr, "StartRun: %s\n", run.status().ToString().c_str());
    sampling = false;
    sampler.join();
    stop_agents();
    return 1;
  }
  const std::string run_id = run->run_id();
  const bool done = server->manager().WaitDone(run_id, absl::Minutes(10));
  const SteadyClock::time_point done_at = SteadyClock::now();
  const int64_t peak_at_done_kib = ProcStatusKib("VmHWM");
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);
  const std::map<pid_t, TaskTimes> tasks_after = SnapshotTasks();
  sampling = false;
  sampler.join();
  if (!done) {
    std::fprintf(stderr, "run %s not done after 10 minutes\n", run_id.c_str());
    stop_agents();
    return 1;
  }

  absl::StatusOr<RunReport> report = server->manager().GetReport(run_id);
  absl::StatusOr<uint64_t> stored = server->store().CountRecords(run_id);

  stop_agents();

  uint64_t sent = 0;
  SteadyClock::time_point last_ack{};
  SteadyClock::time_point last_finish_ack{};
  bool agents_ok = true;
  for (auto& agent : agents) {
    sent += agent->records_sent();
    last_ack = std::max(last_ack, agent->last_ack_at());
    last_finish_ack = std::max(last_finish_ack, agent->finish_acked_at());
    if (!agent->error().empty()) {
      std::fprintf(stderr, "agent: %s\n", agent->error().c_str());
      agents_ok = false;
    }
  }
  const SteadyClock::time_point first_send{std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::nanoseconds(shared.first_send_ns.load()))};

  // ---- Figures. ----
  const double wall_s = SecondsBetween(first_send, done_at);
  const uint64_t report_requests = report.ok() ? report->totals().requests() : 0;
  const bool report_ok = report.ok() && report_requests == options.records;
  const bool stored_ok = stored.ok() && *stored == options.records;
  std::printf("coordinator ingest: %d synthetic agents on 127.0.0.1, batches of %d, window %d\n",
              options.agents, options.batch, options.window);
  std::printf("records sent         %" PRIu64 "\n", sent);
  std::printf("run                  %s, state %s\n", run_id.c_str(),
              report.ok() ? report->state().c_str() : report.status().ToString().c_str());
  std::printf("report totals        %" PRIu64 " requests%s\n", report_requests,
              report_ok ? " (= records)" : "  MISMATCH");
  std::printf("records stored       %" PRIu64 "%s\n", stored.ok() ? *stored : 0,
              stored_ok ? " (CountRecords = records)" : "  MISMATCH");
  if (report.ok()) {
    std::printf("report               %d timeline seconds, %d agents, %.1f MiB serialized\n",
                report->timeline_size(), report->by_agent_size(),
                report->ByteSizeLong() / 1048576.0);
  }
  std::printf("StartRun             %.3f s (clock sync with every agent)\n",
              SecondsBetween(start_called, first_send));
  std::printf("first batch -> last ack      %.2f s\n", SecondsBetween(first_send, last_ack));
  std::printf(
      "first batch -> run done      %.2f s  (flushed, report built; last finish_ack at "
      "%.2f s)\n",
      wall_s, SecondsBetween(first_send, last_finish_ack));
  std::printf("stored and aggregated        %.0f records/s\n", options.records / wall_s);
  const int64_t peak_kib = ProcStatusKib("VmHWM");
  std::printf("RSS baseline         %.1f MiB (server up, agents registered, templates built)\n",
              baseline_kib / 1024.0);
  std::printf(
      "RSS peak (VmHWM)     %.1f MiB at run done, %.1f MiB at exit (after GetReport, "
      "CountRecords and closing the streams)\n",
      peak_at_done_kib / 1024.0, peak_kib / 1024.0);
  if (samples_kib.size() > static_cast<size_t>(1000 / options.sample_ms) + 1) {
    // Skip the first second: queues and windows fill up then.
    const size_t skip = std::min<size_t>(samples_kib.size() - 1, 1000 / options.sample_ms);
    const auto [lo, hi] = std::minmax_element(samples_kib.begin() + skip, samples_kib.end());
    std::printf("RSS after 1 s        min %.1f / max %.1f MiB over %zu samples\n", *lo / 1024.0,
                *hi / 1024.0, samples_kib.size() - skip);
  }
  std::printf("RSS samples (MiB, every %d ms):", options.sample_ms);
  for (size_t i = 0; i < samples_kib.size(); ++i) {
    std::printf("%s%.0f", i == 0 ? " " : ",", samples_kib[i] / 1024.0);
  }
  std::printf("\n");

  // Where the CPU went, from StartRun to done. Threads that ended within the interval (StartRun's
  // clock-sync helpers) are missing from the per-thread list but counted in the process total.
  const double interval_s = SecondsBetween(start_called, done_at);
  const double process_cpu_s =
      (usage_after.ru_utime.tv_sec - usage_before.ru_utime.tv_sec) +
      (usage_after.ru_utime.tv_usec - usage_before.ru_utime.tv_usec) / 1e6 +
      (usage_after.ru_stime.tv_sec - usage_before.ru_stime.tv_sec) +
      (usage_after.ru_stime.tv_usec - usage_before.ru_stime.tv_usec) / 1e6;
  struct Row {
    pid_t tid;
    std::string name;
    double cpu_s;
    double wait_s;
  };
  std::vector<Row> rows;
  double synthetic_s = 0;
  for (const auto& [tid, after] : tasks_after) {
    auto it = tasks_before.find(tid);
    const uint64_t cpu0 = it == tasks_before.end() ? 0 : it->second.on_cpu_ns;
    const uint64_t wait0 = it == tasks_before.end() ? 0 : it->second.waiting_ns;
    Row row{tid, after.name, (after.on_cpu_ns - cpu0) / 1e9, (after.waiting_ns - wait0) / 1e9};
    if (row.name.rfind("synth-", 0) == 0) synthetic_s += row.cpu_s;
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.cpu_s > b.cpu_s; });
  std::printf(
      "CPU                  %.2f s in %.2f s (%.2f cores); synthetic agents %.2f s (%.0f%% "
      "of the process), coordinator %.2f s\n",
      process_cpu_s, interval_s, process_cpu_s / interval_s, synthetic_s,
      100.0 * synthetic_s / process_cpu_s, process_cpu_s - synthetic_s);
  std::printf("coordinator CPU per record   %.2f us (%.0f records per coordinator-CPU-second)\n",
              (process_cpu_s - synthetic_s) * 1e6 / options.records,
              options.records / (process_cpu_s - synthetic_s));
  std::printf("threads (on CPU / runnable waiting for a CPU, seconds):\n");
  for (const Row& row : rows) {
    if (row.cpu_s < 0.005 && row.wait_s < 0.005) continue;
    std::printf("  %-16s tid %-7d %7.2f  %6.2f\n", row.name.c_str(), row.tid, row.cpu_s,
                row.wait_s);
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) std::printf("load average         %.2f (1 min)\n", load[0]);

  server.reset();  // flushes and closes the store
  std::error_code ignored;
  if (temporary) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(options.db + suffix, ignored);
  }
  return report_ok && stored_ok && agents_ok && sent == options.records ? 0 : 1;
}

}  // namespace
}  // namespace stampede

int main(int argc, char** argv) { return stampede::Main(argc, argv); }
