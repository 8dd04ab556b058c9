#include "common/run_aggregator.h"

#include <algorithm>
#include <climits>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/error_names.h"
#include "common/thresholds.h"
#include "common/timeline.h"

namespace stampede {
namespace aggregator_internal {

void Counts::Merge(const Counts& o) {
  requests += o.requests;
  errors += o.errors;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  first_start_ns = std::min(first_start_ns, o.first_start_ns);
  last_end_ns = std::max(last_end_ns, o.last_end_ns);
  for (const auto& [status, n] : o.by_status) by_status[status] += n;
  for (size_t e = 0; e < by_error.size(); ++e) by_error[e] += o.by_error[e];
}

SparseHistogram SparseHistogram::FromProto(const HistogramData& data) {
  SparseHistogram s;
  s.count = data.count();
  s.min_us = data.min_us();
  s.max_us = data.max_us();
  s.sum_us = data.sum_us();
  s.index.reserve(data.bucket_count_size());
  s.bucket_count.reserve(data.bucket_count_size());
  // Only ever fed Histogram::ToProto output, but bounds are still checked so that a mismatched
  // message cannot read past the end.
  uint64_t next = 0;
  int k = 0;
  const int runs = std::min(data.bucket_index_delta_size(), data.run_length_size());
  for (int r = 0; r < runs; ++r) {
    const uint64_t start = next + data.bucket_index_delta(r);
    for (uint32_t j = 0; j < data.run_length(r) && k < data.bucket_count_size(); ++j, ++k) {
      s.index.push_back(static_cast<uint32_t>(start + j));
      s.bucket_count.push_back(data.bucket_count(k));
    }
    next = start + data.run_length(r);
  }
  return s;
}

void SparseHistogram::Merge(const SparseHistogram& o) {
  if (o.count == 0) return;
  if (count == 0) {
    *this = o;
    return;
  }
  count += o.count;
  min_us = std::min(min_us, o.min_us);
  max_us = std::max(max_us, o.max_us);
  sum_us += o.sum_us;
  // Two-way merge of the sorted bucket lists; equal indexes add up.
  std::vector<uint32_t> index_out;
  std::vector<uint64_t> count_out;
  index_out.reserve(index.size() + o.index.size());
  count_out.reserve(index.size() + o.index.size());
  size_t a = 0;
  size_t b = 0;
  while (a < index.size() || b < o.index.size()) {
    if (b == o.index.size() || (a < index.size() && index[a] < o.index[b])) {
      index_out.push_back(index[a]);
      count_out.push_back(bucket_count[a++]);
    } else if (a == index.size() || o.index[b] < index[a]) {
      index_out.push_back(o.index[b]);
      count_out.push_back(o.bucket_count[b++]);
    } else {
      index_out.push_back(index[a]);
      count_out.push_back(bucket_count[a++] + o.bucket_count[b++]);
    }
  }
  index = std::move(index_out);
  bucket_count = std::move(count_out);
}

void SparseHistogram::Coarsen(int bits) {
  if (bits <= 0 || index.empty()) return;
  const uint32_t low = (1u << bits) - 1;
  const uint32_t middle = 1u << (bits - 1);
  // The mapping never decreases an index's order, so the list stays sorted: merge neighbours.
  size_t out = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    const uint32_t folded = (index[i] & ~low) | middle;
    if (out > 0 && index[out - 1] == folded) {
      bucket_count[out - 1] += bucket_count[i];
    } else {
      index[out] = folded;
      bucket_count[out] = bucket_count[i];
      ++out;
    }
  }
  index.resize(out);
  bucket_count.resize(out);
}

HistogramData SparseHistogram::ToProto() const {
  // The same run-length form as Histogram::ToProto (maximal runs of adjacent buckets), so the
  // two are interchangeable and Histogram::FromProto reads this back.
  HistogramData data;
  data.set_layout(Histogram::kLayout);
  data.set_count(count);
  data.set_min_us(count == 0 ? 0 : min_us);
  data.set_max_us(count == 0 ? 0 : max_us);
  data.set_sum_us(sum_us);
  uint32_t prev_end = 0;
  size_t i = 0;
  while (i < index.size()) {
    size_t j = i + 1;
    while (j < index.size() && index[j] == index[j - 1] + 1) ++j;
    data.add_bucket_index_delta(index[i] - prev_end);
    data.add_run_length(static_cast<uint32_t>(j - i));
    for (size_t k = i; k < j; ++k) data.add_bucket_count(bucket_count[k]);
    prev_end = index[j - 1] + 1;
    i = j;
  }
  return data;
}

}  // namespace aggregator_internal

namespace {

using aggregator_internal::Counts;
using aggregator_internal::SparseHistogram;
using aggregator_internal::StageCell;
using aggregator_internal::TimeCell;

constexpr int64_t kNsPerSecond = 1'000'000'000;
// HTTP statuses below this are counted in a flat array; anything else (only from a broken peer)
// goes to a map.
constexpr uint32_t kStatusSlots = 600;
constexpr int kUnknownErrorSlot = ErrorClass_ARRAYSIZE;
// A timeline spanning more seconds than this comes from a clock gone wrong (e.g. a zero base
// time); padding it with empty seconds could take gigabytes, so then only seconds with records
// are listed.
constexpr int64_t kMaxPaddedTimelineSeconds = 7 * 24 * 3600;

// Floor division, so that records just before the origin land in second -1, not 0.
int64_t FloorSeconds(int64_t ns) {
  int64_t q = ns / kNsPerSecond;
  if (ns % kNsPerSecond < 0) --q;
  return q;
}

// One request, with the columns the cells need, on the coordinator's timeline.
struct Rec {
  int64_t start_ns;
  int64_t end_ns;
  uint32_t latency_us;
  uint32_t service_us;
  uint32_t status;
  int error;  // raw enum value
  uint32_t bytes_sent;
  uint32_t bytes_received;
};

// A cell while one batch is aggregated, before the lock is taken: flat arrays, so that a record
// costs a few increments and one histogram update, no lookups.
struct LocalCell {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  int64_t first_start_ns = INT64_MAX;
  int64_t last_end_ns = INT64_MIN;
  std::array<uint64_t, kStatusSlots> status{};
  std::map<uint32_t, uint64_t> other_status;
  std::array<uint64_t, ErrorClass_ARRAYSIZE + 1> by_error{};
  Histogram latency;
  // Stage cells only: timeline cells leave service time out (a second of one agent needs only
  // what the live view and charts show).
  Histogram service;

  void Add(const Rec& r, bool with_service) {
    ++requests;
    bytes_sent += r.bytes_sent;
    bytes_received += r.bytes_received;
    first_start_ns = std::min(first_start_ns, r.start_ns);
    last_end_ns = std::max(last_end_ns, r.end_ns);
    if (r.status < kStatusSlots) {
      ++status[r.status];
    } else {
      ++other_status[r.status];
    }
    if (r.error != ERROR_NONE) {
      // In flight when Stampede stopped the run: a record (every request sent is one), shown
      // by its class, but not an error of the service.
      if (r.error != ERROR_ABORTED) ++errors;
      ++by_error[r.error >= 0 && r.error < ErrorClass_ARRAYSIZE ? r.error : kUnknownErrorSlot];
    }
    latency.Record(r.latency_us);
    if (with_service) service.Record(r.service_us);
  }

  Counts Compact() const {
    Counts c;
    c.requests = requests;
    c.errors = errors;
    c.bytes_sent = bytes_sent;
    c.bytes_received = bytes_received;
    c.first_start_ns = first_start_ns;
    c.last_end_ns = last_end_ns;
    c.by_error = by_error;
    for (uint32_t s = 0; s < kStatusSlots; ++s) {
      if (status[s] != 0) c.by_status.emplace(s, status[s]);
    }
    for (const auto& [s, n] : other_status) c.by_status.emplace(s, n);
    return c;
  }
};

// Finds or creates the local cell for `key`, remembering the last one: records of a batch come
// mostly in order, so nearly every record is a hit on the previous cell.
template <typename Key>
class LocalCells {
 public:
  LocalCell& Get(Key key) {
    if (last_ == nullptr || key != last_key_) {
      last_ = &cells_[key];
      last_key_ = key;
    }
    return *last_;
  }
  std::map<Key, LocalCell>& cells() { return cells_; }

 private:
  std::map<Key, LocalCell> cells_;
  LocalCell* last_ = nullptr;
  Key last_key_{};
};

// Reads column i, or `fallback` when the column is shorter (a malformed batch).
template <typename Field>
auto At(const Field& column, int i, decltype(column.Get(0)) fallback) {
  return i < column.size() ? column.Get(i) : fallback;
}

// The batch aggregated outside the lock, in the form it is merged in.
struct PreparedBatch {
  std::vector<std::pair<int64_t, TimeCell>> seconds;
  std::vector<std::pair<uint32_t, StageCell>> stages;
  uint64_t requests = 0;
};

PreparedBatch Prepare(const RecordBatch& b, int64_t clock_offset_ns, int64_t origin_ns) {
  LocalCells<int64_t> seconds;
  LocalCells<uint32_t> stages;
  // Agent time -> coordinator time; hoisted so each record costs one add.
  const int64_t base = AgentToCoordinatorNs(b.base_time_ns(), clock_offset_ns);
  const int n = b.latency_us_size();
  for (int i = 0; i < n; ++i) {
    Rec r;
    r.start_ns = WrapAdd(base, At(b.start_offset_ns(), i, int64_t{0}));
    r.latency_us = b.latency_us(i);
    r.end_ns = WrapAdd(r.start_ns, int64_t{r.latency_us} * 1000);
    // An agent that sends no service times was never late: service time is the latency.
    r.service_us = At(b.service_us(), i, r.latency_us);
    r.status = At(b.status(), i, 0u);
    r.error = At(b.error(), i, 0);
    r.bytes_sent = At(b.bytes_sent(), i, 0u);
    r.bytes_received = At(b.bytes_received(), i, 0u);
    seconds.Get(FloorSeconds(WrapSub(r.start_ns, origin_ns))).Add(r, /*with_service=*/false);
    stages.Get(At(b.stage(), i, 0u)).Add(r, /*with_service=*/true);
  }
  PreparedBatch out;
  out.requests = static_cast<uint64_t>(n);
  for (auto& [second, local] : seconds.cells()) {
    SparseHistogram latency = SparseHistogram::FromProto(local.latency.ToProto());
    latency.Coarsen(aggregator_internal::kTimelineCoarsenBits);
    out.seconds.emplace_back(second, TimeCell{local.Compact(), std::move(latency)});
  }
  for (auto& [stage, local] : stages.cells()) {
    out.stages.emplace_back(
        stage, StageCell{local.Compact(), std::move(local.latency), std::move(local.service)});
  }
  return out;
}

// Inserts `cell` at `key`, or merges it into the cell already there.
template <typename Map, typename Cell>
void MergeCell(Map& cells, const typename Map::key_type& key, Cell&& cell) {
  auto [it, inserted] = cells.try_emplace(key, std::forward<Cell>(cell));
  if (!inserted) it->second.Merge(cell);
}

Aggregate ToAggregate(const Counts& c, HistogramData latency, uint64_t late, uint64_t dropped,
                      HistogramData service = HistogramData()) {
  Aggregate a;
  a.set_requests(c.requests);
  a.set_errors(c.errors);
  for (const auto& [status, n] : c.by_status) (*a.mutable_by_status())[status] = n;
  for (int e = 0; e <= kUnknownErrorSlot; ++e) {
    if (c.by_error[e] == 0) continue;
    const std::string name(ErrorClassName(static_cast<ErrorClass>(e)));
    (*a.mutable_by_error())[name] += c.by_error[e];
  }
  *a.mutable_latency() = std::move(latency);
  if (service.count() > 0) *a.mutable_service() = std::move(service);
  a.set_late(late);
  a.set_dropped(dropped);
  a.set_bytes_sent(c.bytes_sent);
  a.set_bytes_received(c.bytes_received);
  // The min/max identities are not timestamps; an empty cell reports 0 for both.
  a.set_first_start_ns(c.requests ? c.first_start_ns : 0);
  a.set_last_end_ns(c.requests ? c.last_end_ns : 0);
  return a;
}

// Counts and latency of a merged timeline cell (all, or one region of a second).
struct PointCell {
  Counts counts;
  SparseHistogram latency;

  void Merge(const TimeCell& cell) {
    counts.Merge(cell.counts);
    latency.Merge(cell.latency);
  }
  Aggregate ToAggregate() const { return stampede::ToAggregate(counts, latency.ToProto(), 0, 0); }
};

}  // namespace

RunAggregator::RunAggregator(std::string run_id, const Plan& plan, int64_t origin_ns)
    : run_id_(std::move(run_id)),
      plan_name_(plan.name()),
      thresholds_(plan.thresholds()),
      plan_stages_(plan.stages_size()),
      origin_ns_(origin_ns) {}

int RunAggregator::AgentIndexLocked(const AgentMeta& agent) {
  auto [it, inserted] = agent_index_.try_emplace(agent.id, static_cast<int>(agents_.size()));
  if (inserted) {
    agents_.push_back(AgentSlot{agent});
  } else {
    // The coordinator may re-estimate the clock offset during a run; the report shows the
    // latest estimate, the one the newest records were corrected with.
    AgentMeta& meta = agents_[it->second].meta;
    meta.clock_offset_ns = agent.clock_offset_ns;
    meta.clock_uncertainty_ns = agent.clock_uncertainty_ns;
  }
  return it->second;
}

void RunAggregator::AddAgent(const AgentMeta& agent) {
  absl::MutexLock lock(&mu_);
  AgentIndexLocked(agent);
}

void RunAggregator::AddBatch(const AgentMeta& agent, const RecordBatch& batch) {
  // All per-record work happens here, without the lock: batches arrive on several gRPC threads.
  PreparedBatch prepared = Prepare(batch, agent.clock_offset_ns, origin_ns_);
  absl::MutexLock lock(&mu_);
  const int index = AgentIndexLocked(agent);
  for (auto& [second, cell] : prepared.seconds) {
    MergeCell(time_cells_, {second, index}, std::move(cell));
  }
  for (auto& [stage, cell] : prepared.stages) {
    MergeCell(stage_cells_, {stage, index}, std::move(cell));
  }
  agents_[index].late += batch.late();
  agents_[index].dropped += batch.dropped();
  requests_ += prepared.requests;
}

std::vector<RunAggregator::AgentTotals> RunAggregator::AgentTotalsLocked() const {
  // Every record is in exactly one stage cell, so an agent's stage cells add up to its totals;
  // no separate per-agent cell has to be updated per record.
  std::vector<AgentTotals> totals(agents_.size());
  for (const auto& [key, cell] : stage_cells_) {
    AgentTotals& t = totals[key.second];
    t.counts.Merge(cell.counts);
    t.latency.Merge(cell.latency);
    t.service.Merge(cell.service);
  }
  for (size_t i = 0; i < agents_.size(); ++i) {
    totals[i].late = agents_[i].late;
    totals[i].dropped = agents_[i].dropped;
  }
  return totals;
}

std::vector<std::string> RunAggregator::RegionsLocked() const {
  std::set<std::string> regions;
  for (const AgentSlot& slot : agents_) regions.insert(slot.meta.region);
  return {regions.begin(), regions.end()};
}

TimelinePoint RunAggregator::PointLocked(int64_t second,
                                         const std::vector<std::string>& regions) const {
  PointCell all;
  std::map<std::string, PointCell> by_region;
  // Every region in every point, so that per-region series (CSV rows, charts) line up.
  for (const std::string& region : regions) by_region[region];
  for (auto it = time_cells_.lower_bound({second, INT_MIN});
       it != time_cells_.end() && it->first.first == second; ++it) {
    all.Merge(it->second);
    by_region[agents_[it->first.second].meta.region].Merge(it->second);
  }
  TimelinePoint point;
  point.set_second(second);
  *point.mutable_all() = all.ToAggregate();
  for (const auto& [region, cell] : by_region) {
    (*point.mutable_by_region())[region] = cell.ToAggregate();
  }
  return point;
}

void RunAggregator::AddTimelineLocked(RunReport* report) const {
  if (time_cells_.empty()) return;
  const std::vector<std::string> regions = RegionsLocked();
  const int64_t first = time_cells_.begin()->first.first;
  const int64_t last = time_cells_.rbegin()->first.first;
  // Subtracting as unsigned: corrupt seconds may be far apart enough to overflow.
  if (static_cast<uint64_t>(last) - static_cast<uint64_t>(first) < kMaxPaddedTimelineSeconds) {
    for (int64_t s = first; s <= last; ++s) *report->add_timeline() = PointLocked(s, regions);
    return;
  }
  for (auto it = time_cells_.begin(); it != time_cells_.end();) {
    const int64_t s = it->first.first;
    *report->add_timeline() = PointLocked(s, regions);
    it = time_cells_.lower_bound({s, INT_MAX});
  }
}

void RunAggregator::AddStagesLocked(RunReport* report) const {
  std::map<uint32_t, StageCell> stages;
  // Stages the plan has but the run never reached are listed too, with zero requests.
  for (int s = 0; s < plan_stages_; ++s) stages[static_cast<uint32_t>(s)];
  for (const auto& [key, cell] : stage_cells_) {
    stages[key.first].Merge(cell);
  }
  for (const auto& [stage, cell] : stages) {
    (*report->mutable_by_stage())[stage] =
        ToAggregate(cell.counts, cell.latency.ToProto(), 0, 0, cell.service.ToProto());
  }
}

void RunAggregator::AgentTotals::Merge(const AgentTotals& other) {
  counts.Merge(other.counts);
  latency.Merge(other.latency);
  service.Merge(other.service);
  late += other.late;
  dropped += other.dropped;
}

Aggregate RunAggregator::AgentTotals::ToAggregate() const {
  return stampede::ToAggregate(counts, latency.ToProto(), late, dropped, service.ToProto());
}

RunReport RunAggregator::Report() const {
  RunReport report;
  report.set_run_id(run_id_);
  report.set_plan_name(plan_name_);
  AgentTotals total;
  absl::ReaderMutexLock lock(&mu_);
  const std::vector<AgentTotals> agents = AgentTotalsLocked();
  std::map<std::string, AgentTotals> regions;
  for (size_t i = 0; i < agents.size(); ++i) {
    const AgentMeta& meta = agents_[i].meta;
    const AgentTotals& t = agents[i];
    AgentResult* result = report.add_by_agent();
    AgentInfo* info = result->mutable_agent();
    info->set_id(meta.id);
    info->set_name(meta.name);
    info->set_region(meta.region);
    info->set_clock_offset_ns(meta.clock_offset_ns);
    info->set_clock_uncertainty_ns(meta.clock_uncertainty_ns);
    *result->mutable_totals() = t.ToAggregate();
    result->set_first_request_ns(result->totals().first_start_ns());
    regions[meta.region].Merge(t);
    total.Merge(t);
  }
  for (const auto& [name, t] : regions) (*report.mutable_by_region())[name] = t.ToAggregate();
  *report.mutable_totals() = total.ToAggregate();
  AddStagesLocked(&report);
  AddTimelineLocked(&report);
  const std::vector<ThresholdCheck> checks = CheckThresholds(thresholds_, report);
  for (std::string& failure : ThresholdFailures(checks)) {
    report.add_threshold_failures(std::move(failure));
  }
  return report;
}

MeasuredSlice RunAggregator::Window(int64_t first_second, int64_t last_second,
                                    std::map<std::string, MeasuredSlice>* regions) const {
  PointCell all;
  std::map<std::string, PointCell> by_region;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (auto it = time_cells_.lower_bound({first_second, INT_MIN});
         it != time_cells_.end() && it->first.first <= last_second; ++it) {
      all.Merge(it->second);
      if (regions != nullptr) by_region[agents_[it->first.second].meta.region].Merge(it->second);
    }
  }
  const double seconds = static_cast<double>(std::max<int64_t>(last_second - first_second + 1, 0));
  auto slice = [seconds](const PointCell& cell) {
    MeasuredSlice s;
    s.requests = cell.counts.requests;
    s.errors = cell.counts.errors;
    s.aborted = cell.counts.by_error[ERROR_ABORTED];
    if (absl::StatusOr<Histogram> h = Histogram::FromProto(cell.latency.ToProto()); h.ok()) {
      s.latency = std::move(*h);
    }
    s.seconds = seconds;
    return s;
  };
  if (regions != nullptr) {
    for (const auto& [region, cell] : by_region) (*regions)[region] = slice(cell);
  }
  return slice(all);
}

Progress RunAggregator::LiveProgress(int64_t now_ns) const {
  Progress progress;
  progress.set_run_id(run_id_);
  const int64_t since_origin = WrapSub(now_ns, origin_ns_);
  progress.set_elapsed_s(since_origin > 0 ? static_cast<double>(since_origin) / 1e9 : 0.0);
  Counts total;
  Histogram latency;
  uint64_t late = 0;
  uint64_t dropped = 0;
  absl::ReaderMutexLock lock(&mu_);
  const std::vector<AgentTotals> agents = AgentTotalsLocked();
  std::map<std::string, Counts> regions;
  for (size_t i = 0; i < agents.size(); ++i) {
    const AgentTotals& t = agents[i];
    total.Merge(t.counts);
    latency.Merge(t.latency);
    late += t.late;
    dropped += t.dropped;
    regions[agents_[i].meta.region].Merge(t.counts);
  }
  *progress.mutable_totals() = ToAggregate(total, latency.ToProto(), late, dropped);
  for (const auto& [region, counts] : regions) {
    (*progress.mutable_totals_by_region())[region] = ToAggregate(counts, HistogramData(), 0, 0);
  }
  // The current second is still filling (and its batches still in flight), so the newest
  // second shown is the one before; before the first second ends there is none.
  const int64_t current = FloorSeconds(since_origin);
  if (current >= 1) *progress.mutable_last_second() = PointLocked(current - 1, RegionsLocked());
  return progress;
}

uint64_t RunAggregator::requests() const {
  absl::ReaderMutexLock lock(&mu_);
  return requests_;
}

int RunAggregator::LatestStage() const {
  absl::ReaderMutexLock lock(&mu_);
  int latest = -1;
  for (const auto& [key, cell] : stage_cells_)
    latest = std::max(latest, static_cast<int>(key.first));
  return latest;
}

}  // namespace stampede
