// The one model of a run's figures, derived from its merged RunReport (counts and mergeable
// histograms): totals, latency and service-time percentiles, throughput, the per-second timeline,
// per region, agent, stage, status code and error class, and the plan's thresholds with their
// measured values. Every format (text, JSON, CSV) and the saturation search read figures from
// here, so a figure is computed in one place only.
//
// A RunReport comes from the coordinator (merged from every agent's records) or, for a run on one
// machine (`stampede-agent run`), from the same RunAggregator fed by the local engine: both print
// through this model.
#ifndef STAMPEDE_REPORT_REPORT_MODEL_H_
#define STAMPEDE_REPORT_REPORT_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/thresholds.h"
#include "control.pb.h"
#include "plan.pb.h"

namespace stampede {

// Latency figures in milliseconds.
struct Percentiles {
  double min = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double p999 = 0;
  double max = 0;
};

// The figures of one group of requests: the whole run, a region, an agent, a stage or a second.
struct Figures {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double error_rate = 0;      // errors / requests; 0 without requests
  double throughput_rps = 0;  // see FiguresOf / SecondFiguresOf
  // Absent when there are no records or the stored histogram does not decode (a damaged or newer
  // report): shown as "n/a" / null, never a crash.
  std::optional<Percentiles> latency_ms;  // from the intended send time
  std::optional<Percentiles> service_ms;  // from the actual send time
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t late = 0;     // open model: sends that went out >= 1 ms after their intended time
  uint64_t dropped = 0;  // open model: sends never made (backlog full, or the run stopped)
  std::vector<std::pair<uint32_t, uint64_t>> by_status;    // sorted by status; 0 = no response
  std::vector<std::pair<std::string, uint64_t>> by_error;  // sorted by error class name

  uint64_t status_count(uint32_t status) const;
};

// Throughput over the span from the first start to the last response end; 0 when undefined.
Figures FiguresOf(const Aggregate& aggregate);
// A timeline point is one second wide, so its throughput is its request count: the start-to-
// last-end span of a second's few requests would make one 10 ms request read as 100 req/s.
Figures SecondFiguresOf(const Aggregate& aggregate);
// The latency percentiles of an aggregate, when it has any.
std::optional<Percentiles> LatencyOf(const Aggregate& aggregate);

struct RegionRow {
  std::string region;
  int agents = 0;
  Figures figures;
};

struct AgentRow {
  std::string id;
  std::string name;
  std::string region;
  std::string state;  // finished, lost, aborted, failed: ...
  double clock_offset_ms = 0;
  double clock_uncertainty_ms = 0;
  Figures figures;
};

struct StageRow {
  uint32_t index = 0;
  std::string name;  // from the plan; empty when unnamed or not in the plan
  std::string load;  // the plan's load for the stage: "c=8", "c=1->8", "rate=100/s", ...
  Figures figures;
};

struct SecondRow {
  int64_t second = 0;  // from the run's start instant
  // The second's start on the wall clock (the run's start + second), when the start is known.
  std::optional<int64_t> epoch_ms;
  Figures all;
  std::vector<std::pair<std::string, Figures>> regions;  // sorted by region
};

struct RunModel {
  std::string run_id;
  std::string plan_name;
  std::string state;
  int64_t started_ns = 0;
  int64_t ended_ns = 0;
  // Start to end when both are known, else the records' span.
  double duration_s = 0;
  Figures totals;
  std::vector<RegionRow> regions;  // sorted by region
  std::vector<AgentRow> agents;    // in the report's order
  std::vector<StageRow> stages;    // by stage index
  std::vector<SecondRow> timeline;
  // Each threshold of the plan with its measured value.
  std::vector<ThresholdCheck> thresholds;
  // Why the run did not pass (failed thresholds, an abort, lost agents), as the report says.
  std::vector<std::string> failures;
  bool passed = true;
};

RunModel BuildRunModel(const RunReport& report);

// An instant as RFC 3339 in UTC with milliseconds: "2026-11-30T06:56:34.120Z".
std::string Rfc3339Ms(int64_t epoch_ms);


}  // namespace stampede

#endif  // STAMPEDE_REPORT_REPORT_MODEL_H_
