// Runs a whole plan on this machine: one Worker (event loop) per thread, the load split evenly
// over them, every request's record handed to a RecordSink in batches.
#ifndef STAMPEDE_AGENT_ENGINE_H_
#define STAMPEDE_AGENT_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "agent/record_sink.h"
#include "common/clock.h"
#include "plan.pb.h"

namespace stampede {

class LoopWaiter;
class TransportFactory;
class Worker;
struct RunContext;

struct EngineOptions {
  // Worker threads; 0 means one per core. Closed-only plans never use more threads than their
  // largest concurrency.
  int threads = 0;
  std::string run_id = "local";
  std::string agent_id = "local";
  // A batch leaves a worker when it holds this many records or this much time has passed.
  size_t batch_records = 4096;
  int64_t flush_interval_ns = 100'000'000;
  uint64_t seed = 1;
  // Seams for tests that run the load model in simulated time: a transport instead of the one
  // the plan's target chooses, and a waiter instead of epoll waits on the engine's clock. Both
  // outlive the engine.
  const TransportFactory* transport = nullptr;
  LoopWaiter* waiter = nullptr;
};

struct EngineProgress {
  uint64_t completed = 0;
  uint64_t errors = 0;
  uint64_t in_flight = 0;
};

class Engine {
 public:
  // `plan` must be validated and resolved (payload bytes, bearer key); `sink` and `clock`
  // outlive the engine.
  Engine(Plan plan, EngineOptions options, RecordSink* sink,
         const Clock* clock = &RealClock::Get());
  ~Engine();

  // Runs every stage, blocking until all responses are in. Stage 0 starts at start_at_mono_ns
  // (monotonic clock) when given, else at once. Returns an error only when the run could not
  // start (bad plan for this engine, resources); failed requests are records, not errors.
  absl::Status Run(std::optional<int64_t> start_at_mono_ns = std::nullopt);

  // Stops a running (or not yet started) run: no new requests; requests in flight end as
  // ERROR_ABORTED records. Any thread.
  void Stop();

  // Sum over workers; any thread.
  EngineProgress Progress() const;
  // Batches handed to the sink so far (their seq numbers are 0 .. batches()-1).
  uint64_t batches() const;
  // The wall-clock instant record offsets count from (valid once Run has started).
  int64_t origin_wall_ns() const { return origin_wall_ns_.load(); }
  int threads_used() const { return threads_used_.load(); }

 private:
  const Plan plan_;
  const EngineOptions options_;
  RecordSink* const sink_;
  const Clock* const clock_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<int64_t> origin_wall_ns_{0};
  std::atomic<int> threads_used_{0};

  mutable absl::Mutex mu_;
  // Declared before the workers: their transports point into it until they are destroyed.
  std::unique_ptr<TransportFactory> transport_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<LoopWaiter> waiter_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RunContext> ctx_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Worker>> workers_ ABSL_GUARDED_BY(mu_);
};

// Worker threads to use for a plan: `requested` (0 = cores), capped by the largest closed
// concurrency when the plan has no open stage.
int ThreadsFor(const Plan& plan, int requested);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_ENGINE_H_
