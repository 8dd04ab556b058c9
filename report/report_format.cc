#include "report/report_format.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/histogram.h"

namespace stampede {
namespace {

// ---- Figures shared by all formats. ----

// Latency figures of an aggregate, in ms. Absent when there are no records or the stored
// histogram does not decode (a damaged or newer report): shown as "n/a" / null, never a crash.
struct LatencyMs {
  double min, mean, p50, p90, p99, p999, max;
};

std::optional<LatencyMs> LatencyOf(const Aggregate& a) {
  absl::StatusOr<Histogram> h = Histogram::FromProto(a.latency());
  if (!h.ok() || h->count() == 0) return std::nullopt;
  return LatencyMs{h->min() / 1e3,          h->mean() / 1e3,         h->Percentile(50) / 1e3,
                   h->Percentile(90) / 1e3, h->Percentile(99) / 1e3, h->Percentile(99.9) / 1e3,
                   h->max() / 1e3};
}

// Requests over the span from the first start to the last response; 0 when that is undefined.
double ThroughputRps(const Aggregate& a) {
  if (a.requests() == 0 || a.last_end_ns() <= a.first_start_ns()) return 0;
  return static_cast<double>(a.requests()) /
         (static_cast<double>(a.last_end_ns() - a.first_start_ns()) / 1e9);
}

// A timeline point is one second wide, so its throughput is simply its request count: the
// start-to-last-end span of a second's few requests would make one 10 ms request read as
// 100 req/s.
double PointRps(const Aggregate& a) { return static_cast<double>(a.requests()); }

double ErrorRate(const Aggregate& a) {
  return a.requests() ? static_cast<double>(a.errors()) / static_cast<double>(a.requests()) : 0;
}

double RunDurationS(const RunReport& r) {
  if (r.started_ns() > 0 && r.ended_ns() > r.started_ns()) {
    return static_cast<double>(r.ended_ns() - r.started_ns()) / 1e9;
  }
  const Aggregate& t = r.totals();
  if (t.requests() == 0 || t.last_end_ns() <= t.first_start_ns()) return 0;
  return static_cast<double>(t.last_end_ns() - t.first_start_ns()) / 1e9;
}

// Protobuf maps iterate in no particular order; every format lists keys sorted so that output
// is stable from run to run.
template <typename Map>
std::vector<typename Map::key_type> SortedKeys(const Map& map) {
  std::vector<typename Map::key_type> keys;
  keys.reserve(map.size());
  for (const auto& entry : map) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string StageName(const RunReport& r, uint32_t stage) {
  return stage < static_cast<uint32_t>(r.plan().stages_size())
             ? r.plan().stages(static_cast<int>(stage)).name()
             : "";
}

// ---- JSON. ----

// Appends s as a JSON string. Invalid UTF-8 (JSON must be UTF-8) becomes U+FFFD, so a bad agent
// name cannot make the whole report unparseable.
void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out->append("\\n");
      } else if (c == '\t') {
        out->append("\\t");
      } else if (c < 0x20) {
        absl::StrAppendFormat(out, "\\u%04x", c);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    // Multi-byte sequence: lead byte gives the length; the second byte's range excludes
    // overlong forms, surrogates and code points above U+10FFFF.
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool valid = len > 0 && i + len <= s.size();
    for (int k = 1; valid && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      valid = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (valid) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      out->append("\\ufffd");
      ++i;
    }
  }
  out->push_back('"');
}

// Streaming JSON writer with stable, readable layout: containers opened with one_line print on
// a single line (and everything inside them), the rest one member per line, indented.
class JsonWriter {
 public:
  void BeginObject(bool one_line = false) { Open('{', one_line); }
  void EndObject() { Close('}'); }
  void BeginArray(bool one_line = false) { Open('[', one_line); }
  void EndArray() { Close(']'); }

  // The next call writes the value of this member.
  void Key(absl::string_view key) {
    Separate();
    AppendJsonString(&out_, key);
    out_.append(": ");
    after_key_ = true;
  }
  void String(absl::string_view v) {
    Separate();
    AppendJsonString(&out_, v);
  }
  void Int(int64_t v) {
    Separate();
    absl::StrAppend(&out_, v);
  }
  void Uint(uint64_t v) {
    Separate();
    absl::StrAppend(&out_, v);
  }
  // Fixed decimals; NaN and infinities, which JSON cannot express, become null.
  void Number(double v, int decimals) {
    Separate();
    if (std::isfinite(v)) {
      absl::StrAppendFormat(&out_, "%.*f", decimals, v);
    } else {
      out_.append("null");
    }
  }
  void Null() {
    Separate();
    out_.append("null");
  }
  void Bool(bool v) {
    Separate();
    out_.append(v ? "true" : "false");
  }

  std::string Take() { return std::move(out_) + "\n"; }

 private:
  struct Level {
    bool one_line;
    bool empty;
  };

  // Comma and line break or space before a value or key, as the enclosing container wants.
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (stack_.empty()) return;
    Level& top = stack_.back();
    if (!top.empty) out_.push_back(',');
    if (top.one_line) {
      if (!top.empty) out_.push_back(' ');
    } else {
      NewLine(stack_.size());
    }
    top.empty = false;
  }
  void Open(char bracket, bool one_line) {
    Separate();
    out_.push_back(bracket);
    const bool parent_one_line = !stack_.empty() && stack_.back().one_line;
    stack_.push_back(Level{one_line || parent_one_line, true});
  }
  void Close(char bracket) {
    const Level level = stack_.back();
    stack_.pop_back();
    if (!level.empty && !level.one_line) NewLine(stack_.size());
    out_.push_back(bracket);
  }
  void NewLine(size_t depth) {
    out_.push_back('\n');
    out_.append(2 * depth, ' ');
  }

  std::string out_;
  std::vector<Level> stack_;
  bool after_key_ = false;
};

void WriteMs(JsonWriter& w, absl::string_view key, const std::optional<LatencyMs>& l,
             double LatencyMs::*field) {
  w.Key(key);
  if (l.has_value()) {
    w.Number((*l).*field, 3);
  } else {
    w.Null();
  }
}

void WriteLatency(JsonWriter& w, const Aggregate& a) {
  const std::optional<LatencyMs> l = LatencyOf(a);
  w.Key("latencyMs");
  w.BeginObject(/*one_line=*/true);
  WriteMs(w, "min", l, &LatencyMs::min);
  WriteMs(w, "mean", l, &LatencyMs::mean);
  WriteMs(w, "p50", l, &LatencyMs::p50);
  WriteMs(w, "p90", l, &LatencyMs::p90);
  WriteMs(w, "p99", l, &LatencyMs::p99);
  WriteMs(w, "p999", l, &LatencyMs::p999);
  WriteMs(w, "max", l, &LatencyMs::max);
  w.EndObject();
}

// requests, errors, throughputRps: the members every per-group object starts with.
void WriteCounts(JsonWriter& w, const Aggregate& a, double rps) {
  w.Key("requests");
  w.Uint(a.requests());
  w.Key("errors");
  w.Uint(a.errors());
  w.Key("throughputRps");
  w.Number(rps, 3);
}

void WriteTotals(JsonWriter& w, const RunReport& r) {
  const Aggregate& t = r.totals();
  w.Key("totals");
  w.BeginObject(/*one_line=*/true);
  w.Key("requests");
  w.Uint(t.requests());
  w.Key("errors");
  w.Uint(t.errors());
  w.Key("errorRate");
  w.Number(ErrorRate(t), 6);
  w.Key("throughputRps");
  w.Number(ThroughputRps(t), 3);
  w.EndObject();
  WriteLatency(w, t);

  w.Key("byStatus");
  w.BeginObject(/*one_line=*/true);
  for (uint32_t status : SortedKeys(t.by_status())) {
    w.Key(absl::StrCat(status));
    w.Uint(t.by_status().at(status));
  }
  w.EndObject();
  w.Key("byError");
  w.BeginObject(/*one_line=*/true);
  for (const std::string& name : SortedKeys(t.by_error())) {
    w.Key(name);
    w.Uint(t.by_error().at(name));
  }
  w.EndObject();
}

void WriteRegions(JsonWriter& w, const RunReport& r) {
  w.Key("byRegion");
  w.BeginObject();
  for (const std::string& region : SortedKeys(r.by_region())) {
    const Aggregate& a = r.by_region().at(region);
    w.Key(region);
    w.BeginObject(/*one_line=*/true);
    WriteCounts(w, a, ThroughputRps(a));
    WriteLatency(w, a);
    w.EndObject();
  }
  w.EndObject();
}

void WriteAgents(JsonWriter& w, const RunReport& r) {
  w.Key("byAgent");
  w.BeginArray();
  for (const AgentResult& agent : r.by_agent()) {
    const AgentInfo& info = agent.agent();
    w.BeginObject(/*one_line=*/true);
    w.Key("id");
    w.String(info.id());
    w.Key("name");
    w.String(info.name());
    w.Key("region");
    w.String(info.region());
    w.Key("state");
    w.String(agent.state());
    w.Key("clockOffsetMs");
    w.Number(static_cast<double>(info.clock_offset_ns()) / 1e6, 3);
    w.Key("clockUncertaintyMs");
    w.Number(static_cast<double>(info.clock_uncertainty_ns()) / 1e6, 3);
    WriteCounts(w, agent.totals(), ThroughputRps(agent.totals()));
    WriteLatency(w, agent.totals());
    w.EndObject();
  }
  w.EndArray();
}

void WriteStages(JsonWriter& w, const RunReport& r) {
  w.Key("byStage");
  w.BeginArray();
  for (uint32_t stage : SortedKeys(r.by_stage())) {
    const Aggregate& a = r.by_stage().at(stage);
    w.BeginObject(/*one_line=*/true);
    w.Key("stage");
    w.Uint(stage);
    w.Key("name");
    w.String(StageName(r, stage));
    WriteCounts(w, a, ThroughputRps(a));
    WriteLatency(w, a);
    w.EndObject();
  }
  w.EndArray();
}

// A timeline cell: counts plus the two percentiles a chart plots.
void WritePointCell(JsonWriter& w, const Aggregate& a) {
  const std::optional<LatencyMs> l = LatencyOf(a);
  WriteCounts(w, a, PointRps(a));
  WriteMs(w, "p50Ms", l, &LatencyMs::p50);
  WriteMs(w, "p99Ms", l, &LatencyMs::p99);
}

void WriteTimeline(JsonWriter& w, const RunReport& r) {
  w.Key("timeline");
  w.BeginArray();
  for (const TimelinePoint& point : r.timeline()) {
    w.BeginObject(/*one_line=*/true);
    w.Key("second");
    w.Int(point.second());
    WritePointCell(w, point.all());
    w.Key("byRegion");
    w.BeginObject();
    for (const std::string& region : SortedKeys(point.by_region())) {
      w.Key(region);
      w.BeginObject();
      WritePointCell(w, point.by_region().at(region));
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

// ---- Text. ----

std::string OrNa(const std::optional<LatencyMs>& l, double LatencyMs::*field) {
  return l.has_value() ? absl::StrFormat("%.3f", (*l).*field) : "n/a";
}

std::string Percent(const Aggregate& a) { return absl::StrFormat("%.2f%%", 100 * ErrorRate(a)); }

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::string Display(absl::string_view s) { return s.empty() ? "-" : std::string(s); }

// Columns sized to their widest cell; the first `left` columns are left-aligned (names), the
// rest right-aligned (numbers), so that a table reads well in a terminal.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows, size_t left) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& row) {
    std::string line = " ";
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(width[c] - std::min(width[c], cell.size()), ' ');
      absl::StrAppend(&line, " ", c < left ? cell + pad : pad + cell);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  append_row(header);
  for (const auto& row : rows) append_row(row);
  return out;
}

// The numeric columns shared by the region, agent and stage tables.
std::vector<std::string> FigureCells(const Aggregate& a) {
  const std::optional<LatencyMs> l = LatencyOf(a);
  return {absl::StrCat(a.requests()),
          absl::StrCat(a.errors()),
          Percent(a),
          absl::StrFormat("%.1f", ThroughputRps(a)),
          OrNa(l, &LatencyMs::p50),
          OrNa(l, &LatencyMs::p90),
          OrNa(l, &LatencyMs::p99),
          OrNa(l, &LatencyMs::max)};
}

const std::vector<std::string>& FigureHeader() {
  static const auto* header = new std::vector<std::string>{
      "requests", "errors", "err%", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"};
  return *header;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "3 (2 finished, 1 lost)": how many agents took part and how each ended.
std::string AgentStates(const RunReport& r) {
  std::map<std::string, int> states;
  for (const AgentResult& a : r.by_agent()) {
    if (!a.state().empty()) ++states[a.state()];
  }
  std::vector<std::string> parts;
  for (const auto& [state, n] : states) parts.push_back(absl::StrCat(n, " ", state));
  std::string out = absl::StrCat(r.by_agent_size());
  if (!parts.empty()) absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
  return out;
}

std::string HeaderText(const RunReport& r) {
  const Aggregate& t = r.totals();
  std::string out =
      absl::StrFormat("run %s  plan %s  state %s  duration %.3fs  agents %s\n", Display(r.run_id()),
                      Display(r.plan_name()), Display(r.state()), RunDurationS(r), AgentStates(r));
  absl::StrAppendFormat(&out,
                        "requests %d  errors %d (%s)  throughput %.1f req/s  sent %s  "
                        "received %s\n",
                        t.requests(), t.errors(), Percent(t), ThroughputRps(t),
                        HumanBytes(t.bytes_sent()), HumanBytes(t.bytes_received()));
  if (t.late() || t.dropped()) {
    absl::StrAppendFormat(&out, "open model: %d sent late, %d dropped (backlog full)\n", t.late(),
                          t.dropped());
  }
  const std::optional<LatencyMs> l = LatencyOf(t);
  absl::StrAppend(&out, "latency ms: min ", OrNa(l, &LatencyMs::min), "  mean ",
                  OrNa(l, &LatencyMs::mean), "  p50 ", OrNa(l, &LatencyMs::p50), "  p90 ",
                  OrNa(l, &LatencyMs::p90), "  p99 ", OrNa(l, &LatencyMs::p99), "  p99.9 ",
                  OrNa(l, &LatencyMs::p999), "  max ", OrNa(l, &LatencyMs::max), "\n");
  return out;
}

std::string RegionsText(const RunReport& r) {
  if (r.by_region().empty()) return "";
  std::map<std::string, int> agents;
  for (const AgentResult& a : r.by_agent()) ++agents[a.agent().region()];
  std::vector<std::vector<std::string>> rows;
  for (const std::string& region : SortedKeys(r.by_region())) {
    rows.push_back(Concat({Display(region), absl::StrCat(agents[region])},
                          FigureCells(r.by_region().at(region))));
  }
  return absl::StrCat("\nby region\n",
                      RenderTable(Concat({"region", "agents"}, FigureHeader()), rows, 1));
}

std::string AgentsText(const RunReport& r) {
  if (r.by_agent().empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const AgentResult& a : r.by_agent()) {
    const AgentInfo& info = a.agent();
    const std::string clock =
        absl::StrFormat("%+.3f ± %.3f", static_cast<double>(info.clock_offset_ns()) / 1e6,
                        static_cast<double>(info.clock_uncertainty_ns()) / 1e6);
    rows.push_back(Concat({Display(info.id()), Display(info.name()), Display(info.region()),
                           Display(a.state()), clock},
                          FigureCells(a.totals())));
  }
  return absl::StrCat(
      "\nby agent\n",
      RenderTable(Concat({"id", "name", "region", "state", "clock offset ms"}, FigureHeader()),
                  rows, 4));
}

std::string StagesText(const RunReport& r) {
  if (r.by_stage().empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (uint32_t stage : SortedKeys(r.by_stage())) {
    rows.push_back(Concat({absl::StrCat(stage), Display(StageName(r, stage))},
                          FigureCells(r.by_stage().at(stage))));
  }
  return absl::StrCat("\nby stage\n",
                      RenderTable(Concat({"stage", "name"}, FigureHeader()), rows, 2));
}

std::string StatusAndErrorsText(const Aggregate& t) {
  std::vector<std::string> status;
  for (uint32_t code : SortedKeys(t.by_status())) {
    // Status 0 means no response arrived (a transport error), not an HTTP status.
    status.push_back(
        absl::StrCat(code == 0 ? "none" : absl::StrCat(code), ": ", t.by_status().at(code)));
  }
  std::vector<std::string> errors;
  for (const std::string& name : SortedKeys(t.by_error())) {
    errors.push_back(absl::StrCat(name, ": ", t.by_error().at(name)));
  }
  return absl::StrCat("\nstatus: ", status.empty() ? "-" : absl::StrJoin(status, ", "),
                      "\nerrors: ", errors.empty() ? "none" : absl::StrJoin(errors, ", "), "\n");
}

std::string ThresholdsText(const RunReport& r) {
  if (r.threshold_failures().empty()) return "thresholds: PASSED\n";
  std::string out = "thresholds: FAILED\n";
  for (const std::string& failure : r.threshold_failures()) {
    absl::StrAppend(&out, "  FAILED ", failure, "\n");
  }
  return out;
}

// ---- CSV. ----

// RFC 4180 quoting, only when needed (region names are user-chosen).
std::string CsvField(absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

std::string CsvRow(int64_t second, absl::string_view region, const Aggregate& a) {
  const std::optional<LatencyMs> l = LatencyOf(a);
  return absl::StrCat(second, ",", CsvField(region), ",", a.requests(), ",", a.errors(), ",",
                      absl::StrFormat("%.3f", PointRps(a)), ",", OrNa(l, &LatencyMs::p50), ",",
                      OrNa(l, &LatencyMs::p90), ",", OrNa(l, &LatencyMs::p99), ",",
                      OrNa(l, &LatencyMs::max), "\n");
}

}  // namespace

std::string FormatReportText(const RunReport& report) {
  return absl::StrCat(HeaderText(report), RegionsText(report), AgentsText(report),
                      StagesText(report), StatusAndErrorsText(report.totals()),
                      ThresholdsText(report));
}

std::string FormatReportJson(const RunReport& report) {
  JsonWriter w;
  w.BeginObject();
  w.Key("runId");
  w.String(report.run_id());
  w.Key("plan");
  w.String(report.plan_name());
  w.Key("state");
  w.String(report.state());
  w.Key("startedNs");
  w.Int(report.started_ns());
  w.Key("endedNs");
  w.Int(report.ended_ns());
  WriteTotals(w, report);
  WriteRegions(w, report);
  WriteAgents(w, report);
  WriteStages(w, report);
  WriteTimeline(w, report);
  w.Key("thresholdFailures");
  w.BeginArray(/*one_line=*/true);
  for (const std::string& failure : report.threshold_failures()) w.String(failure);
  w.EndArray();
  w.Key("passed");
  w.Bool(report.threshold_failures().empty());
  w.EndObject();
  return w.Take();
}

std::string FormatReportCsv(const RunReport& report) {
  std::string out = "second,region,requests,errors,throughput_rps,p50_ms,p90_ms,p99_ms,max_ms\n";
  for (const TimelinePoint& point : report.timeline()) {
    absl::StrAppend(&out, CsvRow(point.second(), "all", point.all()));
    for (const std::string& region : SortedKeys(point.by_region())) {
      absl::StrAppend(&out, CsvRow(point.second(), region, point.by_region().at(region)));
    }
  }
  return out;
}

}  // namespace stampede
