#include "cli/progress_view.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/histogram.h"
#include "common/json_writer.h"

namespace stampede {
namespace {

// p-th percentile in ms of an aggregate's histogram, or -1 when there is none.
double PercentileMs(const Aggregate& a, double q) {
  auto h = Histogram::FromProto(a.latency());
  if (!h.ok() || h->count() == 0) return -1;
  return h->Percentile(q) / 1000.0;
}

std::string Ms(double v) { return v < 0 ? "-" : absl::StrFormat("%.2f", v); }

uint64_t Count503(const Aggregate& a) {
  auto it = a.by_status().find(503);
  return it == a.by_status().end() ? 0 : it->second;
}

// Errors other than 503s: a 503 is the service saying "too busy", worth telling apart.
uint64_t OtherErrors(const Aggregate& a) { return a.errors() - std::min(a.errors(), Count503(a)); }

std::string Row(const std::string& name, const Aggregate& second, const Aggregate& total) {
  return absl::StrFormat("%-16s %10d %7d %9d %11d %12s %12s\n", name, total.requests(),
                         Count503(total), OtherErrors(total), second.requests(),
                         Ms(PercentileMs(second, 50)), Ms(PercentileMs(second, 99)));
}

// "12.0s of 30.0s (18.0s left)" when the plan's length is known, else "12.0s".
std::string Elapsed(const Progress& p) {
  if (p.planned_s() <= 0) return absl::StrFormat("%.1fs", p.elapsed_s());
  return absl::StrFormat("%.1fs of %.1fs (%.1fs left)", p.elapsed_s(), p.planned_s(),
                         std::max(0.0, p.planned_s() - p.elapsed_s()));
}

// "stage 2/3 \"step\" c=8", or "" for a run without stage information.
std::string StageText(const Progress& p) {
  if (p.stages() <= 0) return "";
  std::string out = absl::StrCat("stage ", p.stage() + 1, "/", p.stages());
  if (!p.stage_name().empty()) absl::StrAppend(&out, " \"", p.stage_name(), "\"");
  if (!p.stage_load().empty()) absl::StrAppend(&out, " ", p.stage_load());
  return out;
}

// ", late 3, dropped 0" for open stages that had any; "" otherwise.
std::string LateDropped(const Progress& p) {
  if (p.totals().late() == 0 && p.totals().dropped() == 0) return "";
  return absl::StrFormat("; late %d, dropped %d", p.totals().late(), p.totals().dropped());
}

std::string AgentsOut(const Progress& p) {
  if (p.agents_out().empty()) return "";
  return absl::StrCat("; AGENTS OUT: ", absl::StrJoin(p.agents_out(), ", "));
}

std::string TargetRate(const Progress& p) {
  return p.target_rps() > 0 ? absl::StrFormat(" (target %.0f)", p.target_rps()) : "";
}

}  // namespace

std::string ProgressView::PlainLine(const Progress& p) {
  const Aggregate& s = p.last_second().all();
  const std::string stage = StageText(p);
  return absl::StrFormat(
      "[%s] %s: %d requests, %d 503s, %d other errors;%s last second: %d req/s%s, p50 %sms, "
      "p99 %sms%s%s\n",
      Elapsed(p), p.state(), p.totals().requests(), Count503(p.totals()), OtherErrors(p.totals()),
      stage.empty() ? "" : " " + stage + ";", s.requests(), TargetRate(p), Ms(PercentileMs(s, 50)),
      Ms(PercentileMs(s, 99)), LateDropped(p), AgentsOut(p));
}

std::string ProgressView::Table(const Progress& p) {
  std::string out = absl::StrCat("run ", p.run_id(), "  ", p.state(), "  ", Elapsed(p));
  if (const std::string stage = StageText(p); !stage.empty()) absl::StrAppend(&out, "  ", stage);
  if (p.target_rps() > 0) {
    absl::StrAppendFormat(&out, "  target %.0f req/s", p.target_rps());
  }
  absl::StrAppend(&out, "\n");
  // Requests, 503s and errors are run totals; the last three columns are the last complete
  // second, and say so.
  absl::StrAppend(
      &out, absl::StrFormat("%-16s %10s %7s %9s %11s %12s %12s\n", "region", "requests", "503s",
                            "errors", "req/s (1s)", "p50 ms (1s)", "p99 ms (1s)"));
  absl::StrAppend(&out, Row("all", p.last_second().all(), p.totals()));
  std::set<std::string> regions;
  for (const auto& [r, a] : p.last_second().by_region()) regions.insert(r);
  for (const auto& [r, a] : p.totals_by_region()) regions.insert(r);
  for (const auto& r : regions) {
    auto second = p.last_second().by_region().find(r);
    auto total = p.totals_by_region().find(r);
    absl::StrAppend(
        &out, Row(r, second != p.last_second().by_region().end() ? second->second : Aggregate(),
                  total != p.totals_by_region().end() ? total->second : Aggregate()));
  }
  if (p.totals().late() > 0 || p.totals().dropped() > 0) {
    absl::StrAppendFormat(&out, "open model: %d sent late, %d dropped\n", p.totals().late(),
                          p.totals().dropped());
  }
  for (const std::string& agent : p.agents_out()) absl::StrAppend(&out, "AGENT OUT  ", agent, "\n");
  return out;
}

std::string ProgressView::JsonLine(const Progress& p) {
  JsonWriter w;
  w.BeginObject(/*one_line=*/true);
  w.Key("runId");
  w.String(p.run_id());
  w.Key("state");
  w.String(p.state());
  w.Key("elapsedS");
  w.Number(p.elapsed_s(), 1);
  w.Key("plannedS");
  w.OptionalNumber(p.planned_s() > 0 ? std::optional<double>(p.planned_s()) : std::nullopt, 1);
  w.Key("stage");
  w.Int(p.stage());
  w.Key("stages");
  w.Int(p.stages());
  w.Key("stageName");
  w.String(p.stage_name());
  w.Key("stageLoad");
  w.String(p.stage_load());
  w.Key("targetRps");
  w.OptionalNumber(p.target_rps() > 0 ? std::optional<double>(p.target_rps()) : std::nullopt);
  w.Key("requests");
  w.Uint(p.totals().requests());
  w.Key("http503");
  w.Uint(Count503(p.totals()));
  w.Key("otherErrors");
  w.Uint(OtherErrors(p.totals()));
  w.Key("late");
  w.Uint(p.totals().late());
  w.Key("dropped");
  w.Uint(p.totals().dropped());
  const Aggregate& s = p.last_second().all();
  w.Key("lastSecond");
  w.BeginObject(/*one_line=*/true);
  w.Key("requests");
  w.Uint(s.requests());
  const double p50 = PercentileMs(s, 50), p99 = PercentileMs(s, 99);
  w.Key("p50Ms");
  w.OptionalNumber(p50 < 0 ? std::nullopt : std::optional<double>(p50));
  w.Key("p99Ms");
  w.OptionalNumber(p99 < 0 ? std::nullopt : std::optional<double>(p99));
  w.EndObject();
  w.Key("agentsOut");
  w.BeginArray(/*one_line=*/true);
  for (const std::string& a : p.agents_out()) w.String(a);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

void ProgressView::Show(const Progress& p) {
  if (!tty_) {
    *out_ << PlainLine(p) << std::flush;
    return;
  }
  const std::string table = Table(p);
  // Move up over the previous table and clear to the end of the screen, then redraw.
  if (lines_drawn_ > 0) *out_ << "\x1b[" << lines_drawn_ << "F\x1b[J";
  *out_ << table << std::flush;
  lines_drawn_ = static_cast<int>(std::count(table.begin(), table.end(), '\n'));
}

void ProgressView::Finish() { lines_drawn_ = 0; }

}  // namespace stampede
