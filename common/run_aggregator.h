// Merged views of one run: per second x agent cells (counts, status, error classes, a mergeable
// latency histogram) from which cluster-wide, per-region, per-agent, per-stage and per-second
// figures are merged bucket-wise — never averages of percentiles.
#ifndef STAMPEDE_COMMON_RUN_AGGREGATOR_H_
#define STAMPEDE_COMMON_RUN_AGGREGATOR_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/histogram.h"
#include "common/thresholds.h"
#include "control.pb.h"
#include "common/agent_meta.h"
#include "plan.pb.h"
#include "records.pb.h"

namespace stampede {

// Cell types of RunAggregator; internal, exposed only so that tests can check them directly.
namespace aggregator_internal {

// Counters of one cell, in the compact form cells are kept in: per-record work happens on a
// batch-local form (flat arrays) and only these are merged under the lock.
struct Counts {
  uint64_t requests = 0;
  // Requests that failed: every error class but ERROR_ABORTED (requests Stampede itself cut off
  // when a run was stopped), which by_error still counts.
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  int64_t first_start_ns = INT64_MAX;  // identities of min/max, so Merge needs no branch
  int64_t last_end_ns = INT64_MIN;
  std::map<uint32_t, uint64_t> by_status;
  // Indexed by ErrorClass; the last slot counts values outside the enum ("unknown").
  std::array<uint64_t, ErrorClass_ARRAYSIZE + 1> by_error{};

  void Merge(const Counts& other);
};

// Non-empty latency buckets of a histogram as sorted (index, count) columns. Per-second cells
// use this instead of Histogram: a dense Histogram costs 8 KiB per octave of latency, which
// for every second x agent of an hour-long run would be gigabytes; a second of one agent
// usually fills a few hundred buckets at most. Same buckets, so merges stay exact.
struct SparseHistogram {
  uint64_t count = 0;
  double min_us = 0;
  double max_us = 0;
  double sum_us = 0;
  std::vector<uint32_t> index;
  std::vector<uint64_t> bucket_count;

  static SparseHistogram FromProto(const HistogramData& data);
  void Merge(const SparseHistogram& other);
  HistogramData ToProto() const;
  // Folds each group of 2^bits adjacent buckets onto the group's middle bucket: 2^bits times
  // fewer buckets for a wide distribution, percentiles within 2^(bits-11) of the exact value.
  void Coarsen(int bits);
};

// Per-second timeline cells keep latencies at this coarser resolution (percentiles within 0.4%)
// so that a long run's timeline costs ~8x less memory. Totals, regions, agents and stages come
// from full-precision cells and keep the histogram's 0.05%.
inline constexpr int kTimelineCoarsenBits = 3;

struct TimeCell {
  Counts counts;
  SparseHistogram latency;

  void Merge(const TimeCell& other) {
    counts.Merge(other.counts);
    latency.Merge(other.latency);
  }
};
// Stage cells keep full precision, and service time (from the actual send) beside latency (from
// the intended send): they add up to the totals of agents, regions and the run.
struct StageCell {
  Counts counts;
  Histogram latency;
  Histogram service;

  void Merge(const StageCell& other) {
    counts.Merge(other.counts);
    latency.Merge(other.latency);
    service.Merge(other.service);
  }
};

}  // namespace aggregator_internal

class RunAggregator {
 public:
  // `origin_ns`: the run's start instant on the coordinator's timeline (Unix ns); timeline
  // seconds count from it. `plan` gives thresholds and stage count.
  RunAggregator(std::string run_id, const Plan& plan, int64_t origin_ns);

  // Declares an agent (so that agents with no records still appear in by_agent). Any thread.
  void AddAgent(const AgentMeta& agent);
  // Adds every record of the batch (timestamps corrected by agent.clock_offset_ns). Any thread.
  void AddBatch(const AgentMeta& agent, const RecordBatch& batch);

  // The full merged report: totals, by_region, by_agent (AgentResult.agent filled with id, name,
  // region, offsets; state left empty for the caller), by_stage, timeline (one point per second
  // from the first to the last second with records, regions included), threshold_failures.
  // by_stage lists every stage of the plan (zeros for stages never reached) plus any other
  // stage index seen. Every timeline point lists every region of the run (zeros when idle); a
  // span longer than 7 days (a broken agent clock) lists only the seconds with records.
  // late/dropped are in totals, by_region and by_agent only (batches do not say when or in which
  // stage they happened). run_id and plan_name are filled in; state/started/ended/plan are left
  // for the caller (the plan is not copied: it may hold resolved secrets). Any thread.
  RunReport Report() const;

  // Live view: run_id, elapsed_s, totals so far (the current second included), and last_second:
  // the second before the current one, floor((now - origin) / 1 s) - 1, even when it had no
  // records (a stall shows as zeros); unset during the first second. Any thread.
  Progress LiveProgress(int64_t now_ns) const;

  // The records that started in seconds [first_second, last_second] of the run, merged (at the
  // timeline's resolution): run-wide, and by region into `regions` when not null. `seconds` is
  // the window's length. What abortOnFail judges. Any thread.
  MeasuredSlice Window(int64_t first_second, int64_t last_second,
                       std::map<std::string, MeasuredSlice>* regions) const;

  uint64_t requests() const;
  // The highest stage index with records so far; -1 before the first record.
  int LatestStage() const;

 private:
  using Counts = aggregator_internal::Counts;
  using TimeCell = aggregator_internal::TimeCell;
  using StageCell = aggregator_internal::StageCell;

  struct AgentSlot {
    AgentMeta meta;
    uint64_t late = 0;
    uint64_t dropped = 0;
  };
  // One agent's totals (its stage cells merged), as Report and LiveProgress need them.
  struct AgentTotals {
    Counts counts;
    Histogram latency;
    Histogram service;
    uint64_t late = 0;
    uint64_t dropped = 0;

    void Merge(const AgentTotals& other);
    Aggregate ToAggregate() const;
  };

  int AgentIndexLocked(const AgentMeta& agent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<AgentTotals> AgentTotalsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Regions of the declared agents, sorted.
  std::vector<std::string> RegionsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The point for `second`: all, and every one of `regions` (zeros where no records).
  TimelinePoint PointLocked(int64_t second, const std::vector<std::string>& regions) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void AddTimelineLocked(RunReport* report) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void AddStagesLocked(RunReport* report) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const std::string run_id_;
  const std::string plan_name_;
  const Thresholds thresholds_;
  const int plan_stages_;
  const int64_t origin_ns_;

  mutable absl::Mutex mu_;
  std::vector<AgentSlot> agents_ ABSL_GUARDED_BY(mu_);           // index = agent index
  std::map<std::string, int> agent_index_ ABSL_GUARDED_BY(mu_);  // id -> index
  // Ordered by second first, so a second's cells are adjacent and the span is begin/rbegin.
  std::map<std::pair<int64_t, int>, TimeCell> time_cells_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<uint32_t, int>, StageCell> stage_cells_ ABSL_GUARDED_BY(mu_);
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COMMON_RUN_AGGREGATOR_H_
