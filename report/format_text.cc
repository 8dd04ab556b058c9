// The terminal form of a run's report.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "report/report_format.h"
#include "report/report_model.h"

namespace stampede {
namespace {

std::string OrNa(const std::optional<Percentiles>& p, double Percentiles::*field) {
  return p.has_value() ? absl::StrFormat("%.3f", (*p).*field) : "n/a";
}

std::string Percent(const Figures& f) { return absl::StrFormat("%.2f%%", 100 * f.error_rate); }

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
std::vector<std::string> FigureCells(const Figures& f) {
  return {absl::StrCat(f.requests),
          absl::StrCat(f.errors),
          Percent(f),
          absl::StrFormat("%.1f", f.throughput_rps),
          OrNa(f.latency_ms, &Percentiles::p50),
          OrNa(f.latency_ms, &Percentiles::p90),
          OrNa(f.latency_ms, &Percentiles::p99),
          OrNa(f.latency_ms, &Percentiles::max)};
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
std::string AgentStates(const RunModel& m) {
  std::map<std::string, int> states;
  for (const AgentRow& a : m.agents) {
    if (!a.state.empty()) ++states[a.state];
  }
  std::vector<std::string> parts;
  for (const auto& [state, n] : states) parts.push_back(absl::StrCat(n, " ", state));
  std::string out = absl::StrCat(m.agents.size());
  if (!parts.empty()) absl::StrAppend(&out, " (", absl::StrJoin(parts, ", "), ")");
  return out;
}

std::string PercentilesLine(absl::string_view label, const std::optional<Percentiles>& p) {
  return absl::StrCat(label, ": min ", OrNa(p, &Percentiles::min), "  mean ",
                      OrNa(p, &Percentiles::mean), "  p50 ", OrNa(p, &Percentiles::p50), "  p90 ",
                      OrNa(p, &Percentiles::p90), "  p99 ", OrNa(p, &Percentiles::p99), "  p99.9 ",
                      OrNa(p, &Percentiles::p999), "  max ", OrNa(p, &Percentiles::max), "\n");
}

std::string HeaderText(const RunModel& m) {
  const Figures& t = m.totals;
  std::string out =
      absl::StrFormat("run %s  plan %s  state %s  duration %.3fs  agents %s\n", Display(m.run_id),
                      Display(m.plan_name), Display(m.state), m.duration_s, AgentStates(m));
  absl::StrAppendFormat(&out,
                        "requests %d  errors %d (%s)  throughput %.1f req/s  sent %s  "
                        "received %s\n",
                        t.requests, t.errors, Percent(t), t.throughput_rps,
                        HumanBytes(t.bytes_sent), HumanBytes(t.bytes_received));
  if (t.late || t.dropped) {
    absl::StrAppendFormat(&out,
                          "open model: %d sent late (>= 1 ms after the intended time), %d "
                          "dropped (never sent)\n",
                          t.late, t.dropped);
  }
  absl::StrAppend(&out, PercentilesLine("latency ms", t.latency_ms));
  // Service time differs from latency only when sends went out late: then both are worth seeing.
  if (t.late > 0) absl::StrAppend(&out, PercentilesLine("service ms", t.service_ms));
  return out;
}

// Per-region and per-agent tables: for a run on more than one agent (a one-agent table repeats
// the totals).
std::string RegionsText(const RunModel& m) {
  if (m.agents.size() <= 1 || m.regions.empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const RegionRow& region : m.regions) {
    rows.push_back(
        Concat({Display(region.region), absl::StrCat(region.agents)}, FigureCells(region.figures)));
  }
  return absl::StrCat("\nby region\n",
                      RenderTable(Concat({"region", "agents"}, FigureHeader()), rows, 1));
}

// Fits in 120 columns for usual names: the id only when some agent's differs from its name,
// the clock offset as one cell.
std::string AgentsText(const RunModel& m) {
  if (m.agents.size() <= 1) return "";
  bool ids_differ = false;
  for (const AgentRow& a : m.agents) ids_differ = ids_differ || a.id != a.name;
  std::vector<std::vector<std::string>> rows;
  for (const AgentRow& a : m.agents) {
    std::vector<std::string> names = {Display(a.name)};
    if (ids_differ) names.push_back(Display(a.id));
    const std::string clock =
        absl::StrFormat("%+.3f±%.3f", a.clock_offset_ms, a.clock_uncertainty_ms);
    rows.push_back(Concat(Concat(names, {Display(a.region), Display(a.state), clock}),
                          FigureCells(a.figures)));
  }
  std::vector<std::string> header = {"name"};
  if (ids_differ) header.push_back("id");
  header = Concat(header, {"region", "state", "clock ms"});
  const size_t left = header.size() - 1;
  return absl::StrCat("\nby agent\n", RenderTable(Concat(header, FigureHeader()), rows, left));
}

std::string StagesText(const RunModel& m) {
  if (m.stages.empty()) return "";
  std::vector<std::vector<std::string>> rows;
  for (const StageRow& stage : m.stages) {
    rows.push_back(Concat({absl::StrCat(stage.index), Display(stage.name), Display(stage.load)},
                          FigureCells(stage.figures)));
  }
  return absl::StrCat("\nby stage\n",
                      RenderTable(Concat({"stage", "name", "load"}, FigureHeader()), rows, 3));
}

std::string StatusAndErrorsText(const Figures& t) {
  std::vector<std::string> status;
  for (const auto& [code, n] : t.by_status) {
    // Status 0 means no response arrived (a transport error), not an HTTP status.
    status.push_back(absl::StrCat(code == 0 ? "none" : absl::StrCat(code), ": ", n));
  }
  std::vector<std::string> errors;
  uint64_t aborted = 0;
  for (const auto& [name, n] : t.by_error) {
    if (name == "aborted") {
      aborted = n;
    } else {
      errors.push_back(absl::StrCat(name, ": ", n));
    }
  }
  std::string out =
      absl::StrCat("\nstatus: ", status.empty() ? "-" : absl::StrJoin(status, ", "),
                   "\nerrors: ", errors.empty() ? "none" : absl::StrJoin(errors, ", "), "\n");
  if (aborted > 0) {
    absl::StrAppend(&out, "aborted: ", aborted,
                    " (in flight when the run was stopped; not errors of the service)\n");
  }
  return out;
}

// A limit or a measured value in the check's unit: "38.288 ms", "812.5 req/s", "0.31%".
std::string CheckValue(const ThresholdCheck& c, double v) {
  if (c.unit == "ms") return absl::StrFormat("%.3f ms", v);
  if (c.unit == "rps") return absl::StrFormat("%.1f req/s", v);
  return absl::StrFormat("%.2f%%", 100 * v);
}

// Each limit of the plan beside what the run measured ("p99 38.288 ms <= 250.000 ms  ok"); then
// the other reasons a run did not pass (aborted, lost agents), which are not thresholds.
std::string ThresholdsText(const RunModel& m) {
  std::string out;
  if (m.thresholds.empty()) {
    out = "thresholds: none set\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const ThresholdCheck& c : m.thresholds) {
      rows.push_back({c.metric, c.evaluated ? CheckValue(c, c.measured) : "n/a",
                      c.Relation(), CheckValue(c, c.limit),
                      !c.evaluated ? "no requests"
                      : c.passed   ? "ok"
                                   : "FAILED"});
    }
    out = absl::StrCat("thresholds:\n",
                       RenderTable({"limit", "measured", "", "allowed", "verdict"}, rows, 1));
  }
  std::vector<std::string> other;
  for (const std::string& failure : m.failures) {
    bool is_threshold = false;
    for (const ThresholdCheck& c : m.thresholds) {
      is_threshold = is_threshold || (c.evaluated && !c.passed && c.FailureText() == failure);
    }
    if (!is_threshold) other.push_back(failure);
  }
  for (const std::string& reason : other) absl::StrAppend(&out, "not passed: ", reason, "\n");
  absl::StrAppend(&out, "verdict: ", m.failures.empty() ? "PASSED" : "FAILED", "\n");
  return out;
}

}  // namespace

std::string FormatReportText(const RunReport& report) {
  const RunModel m = BuildRunModel(report);
  return absl::StrCat(HeaderText(m), RegionsText(m), AgentsText(m), StagesText(m),
                      StatusAndErrorsText(m.totals), ThresholdsText(m));
}

}  // namespace stampede
