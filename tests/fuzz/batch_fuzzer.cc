// Record batch validation and ingest on any bytes: a RecordBatch as an agent (or anyone holding
// the token) may send it. The check must never crash, hang or allocate without bound; what it
// accepts must merge into a run's views without crashing, and count exactly its records.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/agent_meta.h"
#include "common/run_aggregator.h"
#include "coordinator/batch_validator.h"
#include "google/protobuf/stubs/logging.h"
#include "plan.pb.h"
#include "records.pb.h"

namespace {

constexpr int64_t kRunStartNs = 1'800'000'000'000'000'000;

}  // namespace

// Protobuf logs every string field with invalid UTF-8 it parses: millions of lines that slow the
// run and bury a finding. The parse result is what the harness looks at.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stampede::RecordBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;
  stampede::BatchLimits limits;
  limits.agent_id = "a";
  limits.stages = 3;
  limits.timeout_ns = 10'000'000'000;
  limits.run_start_ns = kRunStartNs;
  limits.now_ns = kRunStartNs + 60'000'000'000;
  limits.clock_offset_ns = 5'000'000;
  limits.clock_uncertainty_ns = 100'000;
  if (!stampede::ValidateBatch(batch, limits).ok()) return 0;

  stampede::Plan plan;
  for (int i = 0; i < 3; ++i) plan.add_stages();
  plan.mutable_thresholds()->set_p99_ms(100);
  stampede::RunAggregator aggregator("run", plan, kRunStartNs);
  stampede::AgentMeta agent;
  agent.id = "a";
  agent.name = "a";
  agent.region = "eastus";
  agent.clock_offset_ns = limits.clock_offset_ns;
  aggregator.AddBatch(agent, batch);
  aggregator.AddBatch(agent, batch);  // merging into existing cells
  const stampede::RunReport report = aggregator.Report();
  if (report.totals().requests() != 2 * static_cast<uint64_t>(batch.latency_us_size())) abort();
  (void)aggregator.LiveProgress(limits.now_ns);
  return 0;
}
