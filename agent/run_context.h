// What all workers of one run share: the plan, the transport chosen for its target, where records
// go, the time origin, the stop flag and the gate where request-count stages end together.
#ifndef STAMPEDE_AGENT_RUN_CONTEXT_H_
#define STAMPEDE_AGENT_RUN_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/loop_waiter.h"
#include "agent/record_sink.h"
#include "agent/transport.h"
#include "common/clock.h"
#include "plan.pb.h"

namespace stampede {

// Request-count stages end when every worker has sent its share and seen every response; the
// next stage then starts at one instant for all workers (the last arrival's time).
class StageGate {
 public:
  StageGate(int workers, int stages);
  // Called once per worker per gated stage, from that worker's thread.
  void Arrive(int stage, int64_t now_ns);
  // The next stage's start once every worker has arrived; nullopt before. Any thread.
  std::optional<int64_t> Released(int stage) const;

 private:
  const int workers_;
  std::unique_ptr<std::atomic<int>[]> arrived_;
  std::unique_ptr<std::atomic<int64_t>[]> release_ns_;
};

struct RunContext {
  RunContext(int workers, int stages) : gate(workers, stages) {}

  const Plan* plan = nullptr;
  // Makes each worker's transport (native HTTP/1.1 or libcurl, chosen once for the run).
  const TransportFactory* transport = nullptr;
  RecordSink* sink = nullptr;
  const Clock* clock = nullptr;
  // How workers wait for events or their next deadline on `clock`.
  LoopWaiter* waiter = nullptr;
  std::string run_id;
  std::string agent_id;
  int workers = 1;
  // Records' start offsets count from origin_mono_ns; origin_wall_ns is the same instant on the
  // wall clock (RecordBatch.base_time_ns).
  int64_t origin_mono_ns = 0;
  int64_t origin_wall_ns = 0;
  // When stage 0 begins (monotonic).
  int64_t start_mono_ns = 0;
  size_t batch_records = 4096;
  int64_t flush_interval_ns = 100'000'000;
  uint64_t seed = 1;

  std::atomic<uint64_t> batch_seq{0};
  std::atomic<bool> stop{false};
  StageGate gate;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_RUN_CONTEXT_H_
