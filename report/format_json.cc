// The JSON form of a run's report (see report_format.h for its shape).
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/json_writer.h"
#include "report/report_format.h"
#include "report/report_model.h"

namespace stampede {
namespace {

void WriteMs(JsonWriter& w, absl::string_view key, const std::optional<Percentiles>& p,
             double Percentiles::*field) {
  w.Key(key);
  if (p.has_value()) {
    w.Fixed((*p).*field, 3);
  } else {
    w.Null();
  }
}

void WritePercentiles(JsonWriter& w, absl::string_view key, const std::optional<Percentiles>& p) {
  w.Key(key);
  w.BeginObject(/*one_line=*/true);
  WriteMs(w, "min", p, &Percentiles::min);
  WriteMs(w, "mean", p, &Percentiles::mean);
  WriteMs(w, "p50", p, &Percentiles::p50);
  WriteMs(w, "p90", p, &Percentiles::p90);
  WriteMs(w, "p99", p, &Percentiles::p99);
  WriteMs(w, "p999", p, &Percentiles::p999);
  WriteMs(w, "max", p, &Percentiles::max);
  w.EndObject();
}

// requests, errors, throughputRps: the members every per-group object starts with.
void WriteCounts(JsonWriter& w, const Figures& f) {
  w.Key("requests");
  w.Uint(f.requests);
  w.Key("errors");
  w.Uint(f.errors);
  w.Key("throughputRps");
  w.Fixed(f.throughput_rps, 3);
}

void WriteTotals(JsonWriter& w, const RunModel& m) {
  const Figures& t = m.totals;
  w.Key("totals");
  w.BeginObject(/*one_line=*/true);
  w.Key("requests");
  w.Uint(t.requests);
  w.Key("errors");
  w.Uint(t.errors);
  w.Key("errorRate");
  w.Fixed(t.error_rate, 6);
  w.Key("throughputRps");
  w.Fixed(t.throughput_rps, 3);
  w.Key("bytesSent");
  w.Uint(t.bytes_sent);
  w.Key("bytesReceived");
  w.Uint(t.bytes_received);
  w.Key("late");
  w.Uint(t.late);
  w.Key("dropped");
  w.Uint(t.dropped);
  w.EndObject();
  WritePercentiles(w, "latencyMs", t.latency_ms);
  WritePercentiles(w, "serviceMs", t.service_ms);

  w.Key("byStatus");
  w.BeginObject(/*one_line=*/true);
  for (const auto& [status, n] : t.by_status) {
    w.Key(absl::StrCat(status));
    w.Uint(n);
  }
  w.EndObject();
  w.Key("byError");
  w.BeginObject(/*one_line=*/true);
  for (const auto& [name, n] : t.by_error) {
    w.Key(name);
    w.Uint(n);
  }
  w.EndObject();
}

void WriteRegions(JsonWriter& w, const RunModel& m) {
  w.Key("byRegion");
  w.BeginObject();
  for (const RegionRow& region : m.regions) {
    w.Key(region.region);
    w.BeginObject(/*one_line=*/true);
    w.Key("agents");
    w.Int(region.agents);
    WriteCounts(w, region.figures);
    WritePercentiles(w, "latencyMs", region.figures.latency_ms);
    w.EndObject();
  }
  w.EndObject();
}

void WriteAgents(JsonWriter& w, const RunModel& m) {
  w.Key("byAgent");
  w.BeginArray();
  for (const AgentRow& agent : m.agents) {
    w.BeginObject(/*one_line=*/true);
    w.Key("id");
    w.String(agent.id);
    w.Key("name");
    w.String(agent.name);
    w.Key("region");
    w.String(agent.region);
    w.Key("state");
    w.String(agent.state);
    w.Key("clockOffsetMs");
    w.Fixed(agent.clock_offset_ms, 3);
    w.Key("clockUncertaintyMs");
    w.Fixed(agent.clock_uncertainty_ms, 3);
    WriteCounts(w, agent.figures);
    WritePercentiles(w, "latencyMs", agent.figures.latency_ms);
    w.EndObject();
  }
  w.EndArray();
}

void WriteStages(JsonWriter& w, const RunModel& m) {
  w.Key("byStage");
  w.BeginArray();
  for (const StageRow& stage : m.stages) {
    w.BeginObject(/*one_line=*/true);
    w.Key("stage");
    w.Uint(stage.index);
    w.Key("name");
    w.String(stage.name);
    w.Key("load");
    w.String(stage.load);
    WriteCounts(w, stage.figures);
    WritePercentiles(w, "latencyMs", stage.figures.latency_ms);
    WritePercentiles(w, "serviceMs", stage.figures.service_ms);
    w.EndObject();
  }
  w.EndArray();
}

// A timeline cell: counts plus the two percentiles a chart plots.
void WritePointCell(JsonWriter& w, const Figures& f) {
  WriteCounts(w, f);
  WriteMs(w, "p50Ms", f.latency_ms, &Percentiles::p50);
  WriteMs(w, "p99Ms", f.latency_ms, &Percentiles::p99);
}

void WriteTimeline(JsonWriter& w, const RunModel& m) {
  w.Key("timeline");
  w.BeginArray();
  for (const SecondRow& point : m.timeline) {
    w.BeginObject(/*one_line=*/true);
    w.Key("second");
    w.Int(point.second);
    if (point.epoch_ms.has_value()) {
      w.Key("time");
      w.String(Rfc3339Ms(*point.epoch_ms));
      w.Key("epochMs");
      w.Int(*point.epoch_ms);
    }
    WritePointCell(w, point.all);
    w.Key("byRegion");
    w.BeginObject();
    for (const auto& [region, figures] : point.regions) {
      w.Key(region);
      w.BeginObject();
      WritePointCell(w, figures);
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

void WriteThresholds(JsonWriter& w, const RunModel& m) {
  w.Key("thresholds");
  w.BeginArray();
  for (const ThresholdCheck& c : m.thresholds) {
    w.BeginObject(/*one_line=*/true);
    w.Key("metric");
    w.String(c.metric);
    w.Key("unit");
    w.String(c.unit);
    // Only floors say so (throughput); every other limit is a ceiling.
    if (c.minimum) {
      w.Key("bound");
      w.String("min");
    }
    w.Key("limit");
    w.Number(c.limit, 6);
    w.Key("value");
    if (c.evaluated) {
      w.Number(c.measured, 6);
    } else {
      w.Null();
    }
    w.Key("passed");
    if (c.evaluated) {
      w.Bool(c.passed);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string FormatReportJson(const RunReport& report) {
  const RunModel m = BuildRunModel(report);
  JsonWriter w;
  w.BeginObject();
  w.Key("runId");
  w.String(m.run_id);
  w.Key("plan");
  w.String(m.plan_name);
  w.Key("state");
  w.String(m.state);
  w.Key("startedNs");
  w.Int(m.started_ns);
  w.Key("endedNs");
  w.Int(m.ended_ns);
  w.Key("durationS");
  w.Fixed(m.duration_s, 3);
  WriteTotals(w, m);
  WriteRegions(w, m);
  WriteAgents(w, m);
  WriteStages(w, m);
  WriteTimeline(w, m);
  WriteThresholds(w, m);
  w.Key("thresholdFailures");
  w.BeginArray(/*one_line=*/true);
  for (const std::string& failure : m.failures) w.String(failure);
  w.EndArray();
  w.Key("passed");
  w.Bool(m.passed);
  w.EndObject();
  return w.Take();
}

}  // namespace stampede
