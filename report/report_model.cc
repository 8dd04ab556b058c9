#include "report/report_model.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/histogram.h"
#include "common/load_split.h"

namespace stampede {
namespace {

// Protobuf maps iterate in no particular order; the model lists keys sorted so that every
// format is stable from run to run.
template <typename Map>
std::vector<typename Map::key_type> SortedKeys(const Map& map) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(map.size());
  for (const auto& entry : map) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::optional<Percentiles> PercentilesOf(const HistogramData& data) {
  absl::StatusOr<Histogram> h = Histogram::FromProto(data);
  if (!h.ok() || h->count() == 0) return std::nullopt;
  return Percentiles{h->min() / 1e3,          h->mean() / 1e3,         h->Percentile(50) / 1e3,
                     h->Percentile(90) / 1e3, h->Percentile(99) / 1e3, h->Percentile(99.9) / 1e3,
                     h->max() / 1e3};
}

double SpanRps(const Aggregate& a) {
  if (a.requests() == 0 || a.last_end_ns() <= a.first_start_ns()) return 0;
  return static_cast<double>(a.requests()) /
         (static_cast<double>(a.last_end_ns() - a.first_start_ns()) / 1e9);
}

Figures CountsOf(const Aggregate& a) {
  Figures f;
  f.requests = a.requests();
  f.errors = a.errors();
  f.error_rate =
      a.requests() ? static_cast<double>(a.errors()) / static_cast<double>(a.requests()) : 0;
  f.latency_ms = PercentilesOf(a.latency());
  f.service_ms = PercentilesOf(a.service());
  f.bytes_sent = a.bytes_sent();
  f.bytes_received = a.bytes_received();
  f.late = a.late();
  f.dropped = a.dropped();
  for (uint32_t status : SortedKeys(a.by_status())) {
    f.by_status.emplace_back(status, a.by_status().at(status));
  }
  for (const std::string& name : SortedKeys(a.by_error())) {
    f.by_error.emplace_back(name, a.by_error().at(name));
  }
  return f;
}

double DurationS(const RunReport& r) {
  if (r.started_ns() > 0 && r.ended_ns() > r.started_ns()) {
    return static_cast<double>(r.ended_ns() - r.started_ns()) / 1e9;
  }
  const Aggregate& t = r.totals();
  if (t.requests() == 0 || t.last_end_ns() <= t.first_start_ns()) return 0;
  return static_cast<double>(t.last_end_ns() - t.first_start_ns()) / 1e9;
}

}  // namespace

uint64_t Figures::status_count(uint32_t status) const {
  for (const auto& [s, n] : by_status) {
    if (s == status) return n;
  }
  return 0;
}

Figures FiguresOf(const Aggregate& aggregate) {
  Figures f = CountsOf(aggregate);
  f.throughput_rps = SpanRps(aggregate);
  return f;
}

Figures SecondFiguresOf(const Aggregate& aggregate) {
  Figures f = CountsOf(aggregate);
  f.throughput_rps = static_cast<double>(aggregate.requests());
  return f;
}

std::optional<Percentiles> LatencyOf(const Aggregate& aggregate) {
  return PercentilesOf(aggregate.latency());
}

RunModel BuildRunModel(const RunReport& r) {
  RunModel m;
  m.run_id = r.run_id();
  m.plan_name = r.plan_name();
  m.state = r.state();
  m.started_ns = r.started_ns();
  m.ended_ns = r.ended_ns();
  m.duration_s = DurationS(r);
  m.totals = FiguresOf(r.totals());

  std::map<std::string, int> agents_in;
  for (const AgentResult& a : r.by_agent()) ++agents_in[a.agent().region()];
  for (const std::string& region : SortedKeys(r.by_region())) {
    m.regions.push_back({region, agents_in[region], FiguresOf(r.by_region().at(region))});
  }
  for (const AgentResult& a : r.by_agent()) {
    const AgentInfo& info = a.agent();
    m.agents.push_back({info.id(), info.name(), info.region(), a.state(),
                        static_cast<double>(info.clock_offset_ns()) / 1e6,
                        static_cast<double>(info.clock_uncertainty_ns()) / 1e6,
                        FiguresOf(a.totals())});
  }
  for (uint32_t stage : SortedKeys(r.by_stage())) {
    StageRow row;
    row.index = stage;
    if (stage < static_cast<uint32_t>(r.plan().stages_size())) {
      const Stage& s = r.plan().stages(static_cast<int>(stage));
      row.name = s.name();
      row.load = StageLoad(s);
    }
    row.figures = FiguresOf(r.by_stage().at(stage));
    m.stages.push_back(std::move(row));
  }
  for (const TimelinePoint& point : r.timeline()) {
    SecondRow row;
    row.second = point.second();
    if (r.started_ns() > 0) row.epoch_ms = r.started_ns() / 1'000'000 + point.second() * 1000;
    row.all = SecondFiguresOf(point.all());
    for (const std::string& region : SortedKeys(point.by_region())) {
      row.regions.emplace_back(region, SecondFiguresOf(point.by_region().at(region)));
    }
    m.timeline.push_back(std::move(row));
  }

  // The plan's limits against the merged totals, with the same function the coordinator judged
  // the run with.
  m.thresholds = CheckThresholds(r.plan().thresholds(), r);
  m.failures.assign(r.threshold_failures().begin(), r.threshold_failures().end());
  m.passed = m.failures.empty();
  return m;
}

std::string Rfc3339Ms(int64_t epoch_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(epoch_ms),
                          absl::UTCTimeZone());
}

}  // namespace stampede
