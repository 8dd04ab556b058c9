// Aggregates record batches into what a person asks of a run: counts, errors by class and status,
// throughput and latency percentiles (from mergeable histograms), overall and per stage.
#ifndef STAMPEDE_AGENT_SUMMARY_H_
#define STAMPEDE_AGENT_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/record_sink.h"
#include "common/histogram.h"
#include "plan.pb.h"

namespace stampede {

struct Totals {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::map<uint32_t, uint64_t> by_status;
  std::map<std::string, uint64_t> by_error;  // error class name -> count (errors only)
  Histogram latency;                         // from the intended/actual start (µs)
  Histogram service;                         // from the actual send (µs)
  // Span covered by the records: first start to last response, offsets from the run origin.
  int64_t first_start_ns = INT64_MAX;
  int64_t last_end_ns = INT64_MIN;

  void Add(int64_t start_ns, uint32_t latency_us, uint32_t service_us, uint32_t status,
           bool error, const std::string& error_name, uint32_t sent, uint32_t received);
  void Merge(const Totals& other);
  double span_s() const;
  double throughput_rps() const;
};

struct Summary {
  Totals all;
  std::vector<Totals> stages;  // index = stage
  uint64_t late = 0;
  uint64_t dropped = 0;
  uint64_t batches = 0;
};

class SummarySink final : public RecordSink {
 public:
  void Consume(const RecordBatch& batch) override;
  Summary Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  Summary summary_ ABSL_GUARDED_BY(mu_);
};

// Human-readable summary (multi-line) and the JSON form (`--json`). `plan` gives stage shapes
// and thresholds; `wall_s` the run's wall time (0 to use the records' span).
std::string FormatSummaryText(const Summary& s, const Plan& plan);
std::string FormatSummaryJson(const Summary& s, const Plan& plan);

// Threshold failures ("p99 412.0ms > 250ms"), empty when all pass or none are set.
std::vector<std::string> CheckThresholds(const Totals& totals, const Thresholds& thresholds);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_SUMMARY_H_
