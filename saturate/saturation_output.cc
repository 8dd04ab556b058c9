#include "saturate/saturation_output.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "saturate/size_command.h"
#include "saturate/sizing.h"

namespace stampede {
namespace {

std::string Ms(double ms) { return absl::StrFormat("%.1f", ms); }

}  // namespace

std::string FormatStepLine(const StepRecord& step, int repeats) {
  const StepResult& r = step.result;
  return absl::StrFormat(
      "repeat %d/%d  %-8s #%-2d load %-8s %9.1f req/s  p99 %8.1f ms  "
      "errors %-6d 503s %-6d %s",
      step.request.repeat, repeats, PhaseName(step.request.phase), step.request.index,
      LoadText(step.request.load), r.throughput_rps, r.p99_ms, r.errors, r.status503,
      step.ok ? "ok" : absl::StrCat("FAIL (", step.why, ")"));
}

namespace {

std::string LoadUnit(LoadModel model) {
  return model == LoadModel::kClosed ? "virtual users" : "requests/s offered";
}

std::string SettingsText(const SaturationOptions& o) {
  return absl::StrCat(
      LoadModelName(o.model), " model (load = ", LoadUnit(o.model), "), start ",
      LoadText(o.start_load), ", factor ", LoadText(o.step_factor), ", max ", LoadText(o.max_load),
      ", step ", absl::FormatDuration(o.step_duration), ", tolerance ", PercentText(o.tolerance),
      ", repeats ", o.repeats, ", a step fails on ", o.fail_on_503 ? "any 503, " : "", "errors > ",
      PercentText(o.max_error_rate),
      o.slo_p99_ms ? absl::StrCat(", p99 > ", SizingNumber(*o.slo_p99_ms), " ms") : "",
      o.min_throughput_growth > 0 ? absl::StrCat(", throughput growing < ",
                                                 PercentText(o.min_throughput_growth), " per step")
                                  : "",
      o.max_p99_multiple > 0
          ? absl::StrCat(", p99 > ", SizingNumber(o.max_p99_multiple), " x baseline")
          : "");
}

// Text whose lines end in '\n', each non-empty one indented by two spaces.
std::string Indent(absl::string_view text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty()) absl::StrAppend(&out, "  ", line);
    out += "\n";
  }
  out.pop_back();  // the piece after the last '\n' is not a line
  return out;
}

// The closing lines of a saturated result: the operating point, the pod figure and the size
// command, with what it prints when the target rate is known.
std::string OperatingPointText(const SaturationResult& result, const SizingFollowUp& next) {
  const SaturationOptions& o = result.options;
  const double load = RoundedOperatingLoad(result.operating_load, o.model);
  std::string out = absl::StrFormat("operating point (%s of saturation): %.1f req/s at load %s %s",
                                    PercentText(o.operating_fraction), result.operating_rps,
                                    LoadText(load), LoadUnit(o.model));
  if (load != result.operating_load) {
    absl::StrAppend(&out, " (", LoadText(result.operating_load), " interpolated)");
  }
  out += "\n";
  const std::optional<SizeInputs> inputs = NextSizeInputs(result, next);
  if (!inputs.has_value()) return out;
  absl::StrAppend(
      &out, "per pod:         ", ExactNumber(RoundedRate(result.saturation->result.throughput_rps)),
      " req/s at saturation / ", next.pods_tested,
      next.pods_tested == 1 ? " pod tested" : " pods tested", " = ",
      ExactNumber(inputs->measured->pod_saturation_rps), " req/s\n");
  std::vector<std::string> notes;
  if (!next.target_rps) notes.push_back("R: the requests/s to serve");
  if (!inputs->size_nodes) notes.push_back("add --cpu-per-pod P --vm-cores V for nodes");
  absl::StrAppend(&out, "size the cluster",
                  notes.empty() ? "" : absl::StrCat(" (", absl::StrJoin(notes, "; "), ")"), ":\n  ",
                  SizeCommandText(*inputs), "\n");
  if (!next.target_rps) return out;
  absl::StatusOr<SizeAnswer> answer = AnswerSize(*inputs);
  if (!answer.ok()) {
    absl::StrAppend(&out, "which fails: ", answer.status().message(), "\n");
    return out;
  }
  absl::StrAppend(&out, "which prints:\n", Indent(SizeAnswerText(*answer)));
  return out;
}

}  // namespace

double RoundedRate(double rps) {
  if (!(std::isfinite(rps) && rps > 0)) return rps;
  const int decimals = std::max(1, 3 - static_cast<int>(std::floor(std::log10(rps))));
  const double scale = std::pow(10.0, decimals);
  // Parsed from its own text so that it is the very double a command line reading it gets.
  double out = 0;
  return absl::SimpleAtod(absl::StrFormat("%.*f", decimals, std::round(rps * scale) / scale), &out)
             ? out
             : rps;
}

double RoundedOperatingLoad(double load, LoadModel model) {
  if (model == LoadModel::kClosed || !(std::isfinite(load) && load > 0)) return load;
  const double unit = std::pow(10.0, std::floor(std::log10(load)) - 2);
  // Forgive floating-point noise: 693 / 1 is exactly 693, but 0.693 / 0.001 is 692.9999...
  return std::floor(load / unit + 1e-9) * unit;
}

std::optional<SizeInputs> NextSizeInputs(const SaturationResult& result,
                                         const SizingFollowUp& next) {
  if (!result.saturation.has_value() || next.pods_tested < 1) return std::nullopt;
  const double per_pod =
      result.saturation->result.throughput_rps / static_cast<double>(next.pods_tested);
  SizeInputs in;
  MeasuredSizingParams m;
  m.target_rps = next.target_rps.value_or(0);
  m.pod_saturation_rps = RoundedRate(per_pod);
  m.operating_fraction = result.options.operating_fraction;
  in.measured = m;
  in.size_nodes = next.pod.has_value();
  if (next.pod.has_value()) {
    in.latency.pod = *next.pod;
    in.latency.nodes = next.nodes;
  }
  return in;
}

std::vector<std::string> SizeCommandWords(const SizeInputs& inputs) {
  const bool placeholder = inputs.measured && inputs.measured->target_rps == 0;
  std::vector<std::string> words;
  for (const std::string& arg : SizeCommandArgs(inputs)) {
    const bool target_value = !words.empty() && words.back() == "--target-rps";
    words.push_back(placeholder && target_value ? std::string("R") : arg);
  }
  return words;
}

std::string SizeCommandText(const SizeInputs& inputs) {
  return absl::StrCat("stampede size ", absl::StrJoin(SizeCommandWords(inputs), " "));
}

std::string FormatSaturationText(const SaturationResult& result, const SizingFollowUp& next) {
  const SaturationOptions& o = result.options;
  std::string out = absl::StrCat("settings: ", SettingsText(o), "\n\n");
  absl::StrAppendFormat(&out, "%6s %3s %-8s %9s %10s %9s %9s %8s %7s  %s\n", "repeat", "#", "phase",
                        "load", "req/s", "p50 ms", "p99 ms", "errors", "503s", "verdict");
  for (const StepRecord& s : result.steps) {
    absl::StrAppendFormat(&out, "%6d %3d %-8s %9s %10.1f %9.1f %9.1f %8d %7d  %s\n",
                          s.request.repeat, s.request.index, PhaseName(s.request.phase),
                          LoadText(s.request.load), s.result.throughput_rps, s.result.p50_ms,
                          s.result.p99_ms, s.result.errors, s.result.status503,
                          s.ok ? "ok" : absl::StrCat("fail: ", s.why));
  }
  out += "\n";
  for (const RepeatResult& r : result.repeats) {
    absl::StrAppend(&out, "repeat ", r.repeat, ": ", VerdictName(r.verdict), " - ", r.note);
    if (r.best.has_value()) {
      absl::StrAppend(&out, "; best ", absl::StrFormat("%.1f", r.best->result.throughput_rps),
                      " req/s at load ", LoadText(r.best->request.load));
    }
    if (r.baseline_mean_ms.has_value()) {
      absl::StrAppend(&out, "; baseline mean ", Ms(*r.baseline_mean_ms), " ms");
    }
    out += "\n";
  }
  absl::StrAppend(&out, "\nverdict: ", VerdictName(result.verdict),
                  result.inconsistent ? " (INCONSISTENT: the repeats disagree)" : "", "\n");
  if (result.saturation.has_value()) {
    const StepRecord& s = *result.saturation;
    absl::StrAppendFormat(&out,
                          "saturation: %.1f req/s at load %s (%s), p99 %.1f ms  [repeat %d, "
                          "run %s]\n",
                          s.result.throughput_rps, LoadText(s.request.load), LoadUnit(o.model),
                          s.result.p99_ms, result.median_repeat, s.result.run_id);
    if (!result.ended_by.empty()) {
      absl::StrAppend(&out, "ended by:   ", result.ended_by, " (the rule the lowest failing ",
                      "load broke)\n");
    }
    std::vector<std::string> rps;
    for (const RepeatResult& r : result.repeats) {
      rps.push_back(r.verdict == Verdict::kSaturated && r.best
                        ? absl::StrFormat("%.1f", r.best->result.throughput_rps)
                        : std::string("-"));
    }
    absl::StrAppendFormat(&out,
                          "repeats:    %s req/s; spread (max - min) / median = %s (%s above "
                          "%s)\n",
                          absl::StrJoin(rps, ", "), PercentText(result.spread),
                          result.inconsistent ? "inconsistent:" : "consistent: not",
                          PercentText(o.max_spread));
    out += OperatingPointText(result, next);
  } else if (result.verdict == Verdict::kNotSaturated) {
    absl::StrAppend(&out, "no saturation found: the service held every load up to maxLoad ",
                    LoadText(o.max_load), "; raise saturation.maxLoad to find its limit\n");
  } else if (result.verdict == Verdict::kOverloadedAtStart) {
    absl::StrAppend(&out, "no saturation found: the service failed at the first load tried (",
                    LoadText(o.start_load),
                    "); lower saturation.startLoad or look at the service\n");
  }
  return out;
}

namespace {

void WriteStep(JsonWriter& w, const StepRecord& s) {
  const StepResult& r = s.result;
  w.BeginObject(/*one_line=*/true);
  w.Key("repeat");
  w.Int(s.request.repeat);
  w.Key("index");
  w.Int(s.request.index);
  w.Key("phase");
  w.String(PhaseName(s.request.phase));
  w.Key("load");
  w.Number(s.request.load);
  w.Key("throughputRps");
  w.Number(r.throughput_rps);
  w.Key("p50Ms");
  w.Number(r.p50_ms);
  w.Key("p99Ms");
  w.Number(r.p99_ms);
  w.Key("meanMs");
  w.Number(r.mean_ms);
  w.Key("requests");
  w.Uint(r.requests);
  w.Key("errors");
  w.Uint(r.errors);
  w.Key("status503");
  w.Uint(r.status503);
  w.Key("errorRate");
  w.Number(r.error_rate, 6);
  w.Key("verdict");
  w.String(s.ok ? "ok" : "fail");
  w.Key("why");
  w.String(s.why);
  w.Key("rule");
  w.String(s.rule);
  w.Key("successes");
  w.Uint(r.successes);
  w.Key("runId");
  w.String(r.run_id);
  w.Key("stoppedEarly");
  w.Bool(r.stopped_early);
  w.EndObject();
}

void WriteRepeat(JsonWriter& w, const RepeatResult& r) {
  w.BeginObject(/*one_line=*/true);
  w.Key("repeat");
  w.Int(r.repeat);
  w.Key("verdict");
  w.String(VerdictName(r.verdict));
  w.Key("note");
  w.String(r.note);
  w.Key("endedBy");
  w.String(r.ended_by);
  w.Key("bestThroughputRps");
  w.OptionalNumber(r.best ? std::optional<double>(r.best->result.throughput_rps) : std::nullopt);
  w.Key("bestLoad");
  w.OptionalNumber(r.best ? std::optional<double>(r.best->request.load) : std::nullopt);
  w.Key("maxGoodLoad");
  w.OptionalNumber(r.max_good_load);
  w.Key("firstFailLoad");
  w.OptionalNumber(r.first_fail_load);
  w.Key("baselineMeanMs");
  w.OptionalNumber(r.baseline_mean_ms);
  w.Key("steps");
  w.Int(r.steps);
  w.Key("stepLimitReached");
  w.Bool(r.step_limit_reached);
  w.EndObject();
}

void WriteSettings(JsonWriter& w, const SaturationOptions& o) {
  w.Key("settings");
  w.BeginObject(/*one_line=*/true);
  w.Key("model");
  w.String(LoadModelName(o.model));
  w.Key("startLoad");
  w.Number(o.start_load);
  w.Key("stepFactor");
  w.Number(o.step_factor);
  w.Key("maxLoad");
  w.Number(o.max_load);
  w.Key("stepDurationS");
  w.Number(absl::ToDoubleSeconds(o.step_duration));
  w.Key("tolerance");
  w.Number(o.tolerance, 6);
  w.Key("repeats");
  w.Int(o.repeats);
  w.Key("maxErrorRate");
  w.Number(o.max_error_rate, 6);
  w.Key("sloP99Ms");
  w.OptionalNumber(o.slo_p99_ms);
  w.Key("failOn503");
  w.Bool(o.fail_on_503);
  w.Key("minThroughputGrowth");
  w.Number(o.min_throughput_growth, 6);
  w.Key("maxP99Multiple");
  w.Number(o.max_p99_multiple, 6);
  w.Key("operatingFraction");
  w.Number(o.operating_fraction, 6);
  w.Key("maxStepsPerRepeat");
  w.Int(o.max_steps_per_repeat);
  w.EndObject();
}

// "sizeCommand": the `stampede size` command to run next, and its answer when it is complete.
void WriteSizeCommand(JsonWriter& w, const SaturationResult& result, const SizingFollowUp& next) {
  w.Key("sizeCommand");
  const std::optional<SizeInputs> inputs = NextSizeInputs(result, next);
  if (!inputs.has_value()) {
    w.Null();
    return;
  }
  w.BeginObject();
  w.Key("line");
  w.String(SizeCommandText(*inputs));
  w.Key("args");
  w.BeginArray(/*one_line=*/true);
  for (const std::string& arg : SizeCommandWords(*inputs)) w.String(arg);
  w.EndArray();
  w.Key("podsTested");
  w.Int(next.pods_tested);
  w.Key("podSaturationRps");
  w.Number(inputs->measured->pod_saturation_rps);
  w.Key("targetRps");
  w.OptionalNumber(next.target_rps);
  w.Key("answer");
  if (!next.target_rps) {
    w.Null();
    w.EndObject();
    return;
  }
  absl::StatusOr<SizeAnswer> answer = AnswerSize(*inputs);
  if (!answer.ok()) {
    w.BeginObject(/*one_line=*/true);
    w.Key("error");
    w.String(answer.status().message());
    w.EndObject();
  } else {
    w.BeginObject(/*one_line=*/true);
    w.Key("pods");
    w.Int(answer->pods);
    w.Key("nodes");
    if (answer->nodes.has_value()) {
      w.Int(answer->nodes->nodes);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

std::string FormatSaturationJson(const SaturationResult& result, const ExtraJson& extra,
                                 const SizingFollowUp& next) {
  const SaturationOptions& o = result.options;
  JsonWriter w;
  w.BeginObject();
  w.Key("verdict");
  w.String(VerdictName(result.verdict));
  w.Key("inconsistent");
  w.Bool(result.inconsistent);
  w.Key("endedBy");
  w.String(result.ended_by);
  w.Key("saturation");
  if (result.saturation.has_value()) {
    const StepRecord& s = *result.saturation;
    w.BeginObject(/*one_line=*/true);
    w.Key("throughputRps");
    w.Number(s.result.throughput_rps);
    w.Key("load");
    w.Number(s.request.load);
    w.Key("p99Ms");
    w.Number(s.result.p99_ms);
    w.Key("p50Ms");
    w.Number(s.result.p50_ms);
    w.Key("repeat");
    w.Int(result.median_repeat);
    w.Key("runId");
    w.String(s.result.run_id);
    w.EndObject();
    w.Key("operatingPoint");
    w.BeginObject(/*one_line=*/true);
    w.Key("fraction");
    w.Number(o.operating_fraction);
    w.Key("throughputRps");
    w.Number(result.operating_rps);
    w.Key("load");
    w.Number(result.operating_load);
    w.Key("loadRounded");
    w.Number(RoundedOperatingLoad(result.operating_load, o.model));
    w.EndObject();
  } else {
    w.Null();
    w.Key("operatingPoint");
    w.Null();
  }
  WriteSizeCommand(w, result, next);
  w.Key("repeats");
  w.BeginArray(/*one_line=*/true);
  for (const RepeatResult& r : result.repeats) {
    if (r.verdict == Verdict::kSaturated && r.best) {
      w.Number(r.best->result.throughput_rps);
    } else {
      w.Null();
    }
  }
  w.EndArray();
  w.Key("spread");
  w.BeginObject(/*one_line=*/true);
  w.Key("minRps");
  w.Number(result.min_rps);
  w.Key("maxRps");
  w.Number(result.max_rps);
  w.Key("medianRps");
  w.Number(result.median_rps);
  w.Key("relative");
  w.Number(result.spread, 4);
  w.Key("limit");
  w.Number(o.max_spread, 4);
  w.EndObject();
  w.Key("repeatDetails");
  w.BeginArray();
  for (const RepeatResult& r : result.repeats) WriteRepeat(w, r);
  w.EndArray();
  WriteSettings(w, o);
  if (extra) extra(w);
  w.Key("steps");
  w.BeginArray();
  for (const StepRecord& s : result.steps) WriteStep(w, s);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

}  // namespace stampede
