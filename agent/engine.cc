#include "agent/engine.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "agent/loop_waiter.h"
#include "agent/run_context.h"
#include "agent/transport_factory.h"
#include "agent/worker.h"
#include "common/plan_loader.h"
#include "common/status_macros.h"

namespace stampede {

int ThreadsFor(const Plan& plan, int requested) {
  int threads = requested > 0 ? requested
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t most_users = 0;
  for (const Stage& s : plan.stages()) {
    if (!s.has_concurrency()) return threads;  // open stages use every thread
    most_users = std::max<int64_t>(most_users, s.concurrency());
    if (s.has_ramp_to()) most_users = std::max<int64_t>(most_users, std::llround(s.ramp_to()));
  }
  return static_cast<int>(std::clamp<int64_t>(most_users, 1, threads));
}

Engine::Engine(Plan plan, EngineOptions options, RecordSink* sink, const Clock* clock)
    : plan_(std::move(plan)), options_(std::move(options)), sink_(sink), clock_(clock) {}

Engine::~Engine() = default;

absl::Status Engine::Run(std::optional<int64_t> start_at_mono_ns) {
  RETURN_IF_ERROR(ValidatePlan(plan_));
  // The transport is chosen once per run; each worker makes its own instance from it.
  std::unique_ptr<TransportFactory> transport;
  if (options_.transport == nullptr) {
    ASSIGN_OR_RETURN(transport, ChooseTransport(plan_.target()));
  }
  const int threads = ThreadsFor(plan_, options_.threads);
  threads_used_ = threads;

  std::vector<Worker*> workers;
  {
    absl::MutexLock lock(&mu_);
    transport_ = std::move(transport);
    if (options_.waiter == nullptr) waiter_ = std::make_unique<EpollWaiter>(clock_);
    ctx_ = std::make_unique<RunContext>(threads, plan_.stages_size());
    RunContext& ctx = *ctx_;
    ctx.plan = &plan_;
    ctx.transport = options_.transport != nullptr ? options_.transport : transport_.get();
    ctx.waiter = options_.waiter != nullptr ? options_.waiter : waiter_.get();
    ctx.sink = sink_;
    ctx.clock = clock_;
    ctx.run_id = options_.run_id;
    ctx.agent_id = options_.agent_id;
    ctx.workers = threads;
    ctx.batch_records = std::max<size_t>(1, options_.batch_records);
    ctx.flush_interval_ns = options_.flush_interval_ns;
    ctx.seed = options_.seed;
    const int64_t now = clock_->MonotonicNs();
    ctx.start_mono_ns = start_at_mono_ns.value_or(now);
    // The time origin is the start instant, so offsets are small and the same across agents
    // that were given one start instant.
    ctx.origin_mono_ns = ctx.start_mono_ns;
    ctx.origin_wall_ns = clock_->WallNs() + (ctx.start_mono_ns - now);
    origin_wall_ns_ = ctx.origin_wall_ns;
    ctx.stop = stop_requested_.load();
    for (int i = 0; i < threads; ++i) {
      auto worker = std::make_unique<Worker>(&ctx, i);
      RETURN_IF_ERROR(worker->Init());
      workers.push_back(worker.get());
      workers_.push_back(std::move(worker));
    }
  }
  std::vector<std::thread> threads_running;
  threads_running.reserve(workers.size());
  for (Worker* w : workers) threads_running.emplace_back([w] { w->Run(); });
  for (auto& t : threads_running) t.join();
  return absl::OkStatus();
}

void Engine::Stop() {
  stop_requested_ = true;
  absl::MutexLock lock(&mu_);
  if (ctx_ == nullptr) return;
  ctx_->stop = true;
  for (auto& w : workers_) w->Wake();
}

EngineProgress Engine::Progress() const {
  EngineProgress p;
  absl::MutexLock lock(&mu_);
  for (const auto& w : workers_) {
    p.completed += w->completed();
    p.errors += w->errors();
    p.in_flight += w->in_flight();
  }
  return p;
}

uint64_t Engine::batches() const {
  absl::MutexLock lock(&mu_);
  return ctx_ == nullptr ? 0 : ctx_->batch_seq.load();
}

}  // namespace stampede
