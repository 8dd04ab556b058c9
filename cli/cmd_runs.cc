// stampede runs: stored and running runs, newest first. The steps of a saturation search (their
// plans are named "PLAN saturate rR #I ...", step_plan.cc) are listed under one line for the
// search, indented, so that a search's dozens of steps do not bury the runs around it.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/flag_specs.h"
#include "cli/run_source.h"
#include "common/json_writer.h"

namespace stampede {
namespace {

constexpr char kSearchMarker[] = " saturate r";

std::string FormatTime(int64_t ns) {
  if (ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

std::optional<double> DurationS(const RunSummary& r) {
  if (r.started_ns() <= 0 || r.ended_ns() <= r.started_ns()) return std::nullopt;
  return static_cast<double>(r.ended_ns() - r.started_ns()) / 1e9;
}

// "passed", "FAILED", or "-" while running or for runs stored before verdicts were kept.
std::string Verdict(const RunSummary& r) {
  if (!r.has_passed()) return "-";
  return r.passed() ? "passed" : "FAILED";
}

// The plan a saturation step belongs to ("smoke" of "smoke saturate r1 #3 step load 8"), or
// nullopt for an ordinary run.
std::optional<std::string> SearchOf(const RunSummary& r) {
  const size_t at = r.plan_name().find(kSearchMarker);
  if (at == std::string::npos) return std::nullopt;
  return r.plan_name().substr(0, at);
}

std::string Row(const RunSummary& r, const std::string& indent) {
  const std::optional<double> duration = DurationS(r);
  return absl::StrFormat(
      "%s%-*s %-26s %-19s %8s %6d %9d %7d %8s %-6s  %s\n", indent,
      static_cast<int>(24 - indent.size()), r.run_id(), r.state(), FormatTime(r.started_ns()),
      duration ? absl::StrFormat("%.1fs", *duration) : "-", r.agents(), r.requests(), r.errors(),
      r.has_p99_ms() ? absl::StrFormat("%.2f", r.p99_ms()) : "-", Verdict(r), r.plan_name());
}

void WriteJson(const std::vector<RunSummary>& runs) {
  JsonWriter w;
  w.BeginArray();
  for (const RunSummary& r : runs) {
    w.BeginObject(/*one_line=*/true);
    w.Key("runId");
    w.String(r.run_id());
    w.Key("plan");
    w.String(r.plan_name());
    w.Key("state");
    w.String(r.state());
    w.Key("startedMs");
    w.Int(r.started_ns() / 1'000'000);
    w.Key("durationS");
    w.OptionalNumber(DurationS(r));
    w.Key("agents");
    w.Int(r.agents());
    w.Key("requests");
    w.Uint(r.requests());
    w.Key("errors");
    w.Uint(r.errors());
    w.Key("p99Ms");
    w.OptionalNumber(r.has_p99_ms() ? std::optional<double>(r.p99_ms()) : std::nullopt);
    w.Key("passed");
    if (r.has_passed()) {
      w.Bool(r.passed());
    } else {
      w.Null();
    }
    w.Key("search");
    if (auto search = SearchOf(r)) {
      w.String(*search);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray();
  std::cout << w.Take() << "\n";
}

}  // namespace

int CmdRuns(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede runs",
      .usage = "stampede runs [--coordinator HOST:PORT | --db PATH] [--json]",
      .description =
          "Runs, newest first: id, state, start, duration, agents, requests, errors, p99 and "
          "whether it passed. The steps of a saturation search are listed under the search.",
      .flags = WithFlags({ReadDbFlag(), JsonFlag("print them as a JSON array")}, RemoteFlags())};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  auto runs = LoadRuns(*flags);
  if (!runs.ok()) return Fail("runs", runs.status(), ExitCodeFor(runs.status()));
  if (flags->Bool("--json")) {
    WriteJson(*runs);
    return 0;
  }
  if (runs->empty()) {
    std::cout << "no runs yet\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-24s %-26s %-19s %8s %6s %9s %7s %8s %-6s  %s\n", "run", "state",
                               "started (UTC)", "duration", "agents", "requests", "errors",
                               "p99 ms", "verdict", "plan");
  for (size_t i = 0; i < runs->size();) {
    const std::optional<std::string> search = SearchOf((*runs)[i]);
    if (!search.has_value()) {
      std::cout << Row((*runs)[i++], "");
      continue;
    }
    // Consecutive steps of the same plan's search: one search (newest first, like the runs).
    size_t end = i;
    while (end < runs->size() && SearchOf((*runs)[end]) == search) ++end;
    std::cout << "saturation search of \"" << *search << "\": " << end - i << " step"
              << (end - i == 1 ? "" : "s") << " (`stampede saturate` printed its result)\n";
    for (; i < end; ++i) std::cout << Row((*runs)[i], "  ");
  }
  return 0;
}

}  // namespace stampede
