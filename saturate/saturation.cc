#include "saturate/saturation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/histogram.h"
#include "common/plan_loader.h"
#include "saturate/sizing.h"
#include "common/status_macros.h"

namespace stampede {
namespace {

// A closed step runs this many virtual users at most: a plan asking for more is a typo, and the
// concurrency field is an int32.
constexpr double kMaxClosedLoad = 1'000'000;

// Slack for comparisons of loads computed by multiplication (1.1 x 10 is not exactly 11).
constexpr double kEps = 1e-9;

std::string LoadText(double load) { return SizingNumber(load); }

std::string Ms(double ms) { return absl::StrFormat("%.1f", ms); }

std::string Percent(double fraction) { return absl::StrCat(SizingNumber(fraction * 100), "%"); }

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The repeat's saturation is its highest good load, as in the manual procedure ("back off to the
// highest load without errors"). Not the good step with the most throughput: on the plateau
// above capacity every step has the same throughput give or take noise, and picking the noisiest
// would make the saturation load jump between repeats.
bool Better(const StepRecord& candidate, const std::optional<StepRecord>& best) {
  if (!best.has_value()) return true;
  if (candidate.request.load != best->request.load) {
    return candidate.request.load > best->request.load;
  }
  return candidate.result.throughput_rps > best->result.throughput_rps;
}

}  // namespace

const char* LoadModelName(LoadModel model) { return model == LoadModel::kOpen ? "open" : "closed"; }

const char* PhaseName(StepPhase phase) {
  switch (phase) {
    case StepPhase::kBaseline:
      return "baseline";
    case StepPhase::kStep:
      return "step";
    case StepPhase::kBisect:
      return "bisect";
  }
  return "?";
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSaturated:
      return "saturated";
    case Verdict::kOverloadedAtStart:
      return "overloaded-at-start";
    case Verdict::kNotSaturated:
      return "not-saturated";
  }
  return "?";
}

SaturationOptions DefaultSaturationOptions(LoadModel model) {
  SaturationOptions o;
  o.model = model;
  if (model == LoadModel::kOpen) {
    o.start_load = 10;
    o.max_load = 100'000;
  }
  return o;
}

absl::StatusOr<SaturationOptions> SaturationOptionsFromPlan(const Plan& plan) {
  const SaturationSettings& s = plan.saturation();
  if (!s.model().empty() && s.model() != "closed" && s.model() != "open") {
    return absl::InvalidArgumentError(
        absl::StrCat("saturation.model: must be closed or open, got \"", s.model(), "\""));
  }
  SaturationOptions o =
      DefaultSaturationOptions(s.model() == "open" ? LoadModel::kOpen : LoadModel::kClosed);
  auto bad = [](const char* field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("saturation.", field, ": ", what));
  };
  if (s.has_start_load()) {
    if (!(std::isfinite(s.start_load()) && s.start_load() > 0)) {
      return bad("startLoad", absl::StrCat("must be > 0, got ", LoadText(s.start_load())));
    }
    o.start_load = s.start_load();
  }
  if (s.has_step_factor()) {
    if (!(std::isfinite(s.step_factor()) && s.step_factor() > 1)) {
      return bad("stepFactor", absl::StrCat("must be > 1, got ", LoadText(s.step_factor())));
    }
    o.step_factor = s.step_factor();
  }
  if (s.has_max_load()) {
    if (!(std::isfinite(s.max_load()) && s.max_load() > 0)) {
      return bad("maxLoad", absl::StrCat("must be > 0, got ", LoadText(s.max_load())));
    }
    o.max_load = s.max_load();
  }
  if (s.has_step_duration()) {
    const int64_t ns = DurationToNs(s.step_duration());
    if (ns <= 0) return bad("stepDuration", "must be > 0");
    o.step_duration = absl::Nanoseconds(ns);
  }
  if (s.has_tolerance()) {
    if (!(s.tolerance() > 0 && s.tolerance() < 1)) {
      return bad("tolerance", absl::StrCat("must be in (0, 1), got ", LoadText(s.tolerance())));
    }
    o.tolerance = s.tolerance();
  }
  if (s.has_repeats()) {
    if (s.repeats() < 1 || s.repeats() > 20) {
      return bad("repeats", absl::StrCat("must be in [1, 20], got ", s.repeats()));
    }
    o.repeats = s.repeats();
  }
  if (s.has_max_error_rate()) {
    if (!(s.max_error_rate() >= 0 && s.max_error_rate() <= 1)) {
      return bad("maxErrorRate",
                 absl::StrCat("must be in [0, 1], got ", LoadText(s.max_error_rate())));
    }
    o.max_error_rate = s.max_error_rate();
  }
  if (s.has_slo_p99_ms()) {
    if (!(std::isfinite(s.slo_p99_ms()) && s.slo_p99_ms() > 0)) {
      return bad("sloP99Ms", absl::StrCat("must be > 0, got ", LoadText(s.slo_p99_ms())));
    }
    o.slo_p99_ms = s.slo_p99_ms();
  }
  if (s.has_operating_fraction()) {
    if (!(s.operating_fraction() > 0 && s.operating_fraction() <= 1)) {
      return bad("operatingFraction",
                 absl::StrCat("must be in (0, 1], got ", LoadText(s.operating_fraction())));
    }
    o.operating_fraction = s.operating_fraction();
  }
  if (o.model == LoadModel::kClosed) {
    // Virtual users are whole: start at the next whole user, stop at the last one allowed.
    o.start_load = std::ceil(o.start_load - kEps);
    o.max_load = std::floor(o.max_load + kEps);
    if (o.max_load > kMaxClosedLoad) {
      return bad("maxLoad", absl::StrCat("at most ", LoadText(kMaxClosedLoad),
                                         " virtual users, got ", LoadText(o.max_load)));
    }
  }
  if (o.max_load < o.start_load) {
    return bad("maxLoad", absl::StrCat("must be >= startLoad (", LoadText(o.start_load),
                                       o.model == LoadModel::kClosed ? " whole users" : "",
                                       "), got ", LoadText(o.max_load)));
  }
  return o;
}

StepResult StepResultFromReport(const RunReport& report, double load) {
  const Aggregate& t = report.totals();
  StepResult r;
  r.load = load;
  r.run_id = report.run_id();
  r.requests = t.requests();
  r.errors = t.errors();
  auto it = t.by_status().find(503);
  r.status503 = it == t.by_status().end() ? 0 : it->second;
  r.error_rate =
      t.requests() ? static_cast<double>(t.errors()) / static_cast<double>(t.requests()) : 0;
  // Requests over the span from the first start to the last response, as the run report has it.
  if (t.requests() > 0 && t.last_end_ns() > t.first_start_ns()) {
    r.throughput_rps = static_cast<double>(t.requests()) /
                       (static_cast<double>(t.last_end_ns() - t.first_start_ns()) / 1e9);
  }
  if (absl::StatusOr<Histogram> h = Histogram::FromProto(t.latency()); h.ok() && h->count() > 0) {
    r.p50_ms = h->Percentile(50) / 1e3;
    r.p99_ms = h->Percentile(99) / 1e3;
    r.mean_ms = h->mean() / 1e3;
  }
  return r;
}

Plan BuildStepPlan(const Plan& base, const StepRequest& request, const SaturationOptions& options,
                   bool single_client) {
  Plan plan = base;
  plan.clear_stages();
  plan.clear_thresholds();
  plan.clear_saturation();
  const bool baseline = request.phase == StepPhase::kBaseline;
  plan.set_name(absl::StrCat(base.name().empty() ? "plan" : base.name(), " saturate r",
                             request.repeat, " #", request.index, " ", PhaseName(request.phase),
                             " load ", LoadText(request.load)));
  if (baseline || single_client) plan.mutable_agents()->set_count(1);
  Stage* stage = plan.add_stages();
  stage->set_name(absl::StrCat(PhaseName(request.phase), " ", LoadText(request.load)));
  const int64_t ns = absl::ToInt64Nanoseconds(options.step_duration);
  stage->mutable_duration()->set_seconds(ns / 1'000'000'000);
  stage->mutable_duration()->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  if (baseline || options.model == LoadModel::kClosed) {
    const double users = baseline ? 1 : std::clamp(std::round(request.load), 1.0, kMaxClosedLoad);
    stage->set_concurrency(static_cast<int32_t>(users));
  } else {
    stage->set_rate(request.load);
  }
  return plan;
}

std::string JudgeStep(const StepResult& result, const SaturationOptions& options) {
  if (result.requests == 0) return "no requests completed";
  std::vector<std::string> why;
  if (result.status503 > 0) why.push_back(absl::StrCat(result.status503, " x 503"));
  if (result.error_rate > options.max_error_rate) {
    why.push_back(absl::StrCat("errors ", Percent(result.error_rate), " > ",
                               Percent(options.max_error_rate)));
  }
  if (options.slo_p99_ms.has_value() && result.p99_ms > *options.slo_p99_ms) {
    why.push_back(absl::StrCat("p99 ", Ms(result.p99_ms), " ms > SLO ",
                               SizingNumber(*options.slo_p99_ms), " ms"));
  }
  if (!why.empty() && result.stopped_early) why.push_back("stopped early");
  return absl::StrJoin(why, "; ");
}

double InterpolateLoad(std::vector<std::pair<double, double>> load_rps, double target_rps,
                       LoadModel model) {
  // Average repeated loads so that each load is one point of the curve.
  std::map<double, std::pair<double, int>> by_load;
  by_load[0] = {0, 1};
  for (const auto& [load, rps] : load_rps) {
    if (!(load > 0)) continue;
    by_load[load].first += rps;
    ++by_load[load].second;
  }
  double load = by_load.rbegin()->first;
  double prev_load = 0, prev_rps = 0;
  for (const auto& [l, sum_n] : by_load) {
    const double rps = sum_n.first / sum_n.second;
    if (l > 0 && rps >= target_rps) {
      load = rps == prev_rps
                 ? l
                 : prev_load + (target_rps - prev_rps) * (l - prev_load) / (rps - prev_rps);
      break;
    }
    prev_load = l;
    prev_rps = rps;
  }
  if (model == LoadModel::kClosed) load = std::max(1.0, std::ceil(load - kEps));
  return load;
}

SaturationSearch::SaturationSearch(SaturationOptions options, StepRunner runner)
    : options_(std::move(options)), runner_(std::move(runner)) {}

double SaturationSearch::NextLoad(double load) const {
  double next = load * options_.step_factor;
  // Whole users, and always at least one more, so that a factor like 1.2 still climbs from 1.
  if (options_.model == LoadModel::kClosed) next = std::max(std::ceil(next - kEps), load + 1);
  return std::min(next, options_.max_load);
}

bool SaturationSearch::Converged(double low, double high) const {
  if (options_.model == LoadModel::kClosed && high - low <= 1 + kEps) return true;
  return high - low <= options_.tolerance * low * (1 + kEps);
}

absl::StatusOr<StepRecord> SaturationSearch::RunStep(const StepRequest& request) {
  if (on_start_) on_start_(request);
  ASSIGN_OR_RETURN(StepResult result, runner_(request));
  StepRecord record;
  record.request = request;
  record.result = std::move(result);
  record.result.load = request.load;
  record.why = JudgeStep(record.result, options_);
  record.ok = record.why.empty();
  if (on_done_) on_done_(record);
  return record;
}

absl::StatusOr<RepeatResult> SaturationSearch::RunRepeat(int repeat,
                                                         std::vector<StepRecord>* steps) {
  RepeatResult r;
  r.repeat = repeat;
  auto run = [&](StepPhase phase, double load) -> absl::StatusOr<StepRecord> {
    StepRequest request{repeat, r.steps, phase, load};
    ASSIGN_OR_RETURN(StepRecord record, RunStep(request));
    steps->push_back(record);
    ++r.steps;
    if (record.ok && phase != StepPhase::kBaseline) {
      if (Better(record, r.best)) r.best = record;
      r.max_good_load = std::max(r.max_good_load.value_or(0), load);
    }
    if (!record.ok) {
      r.first_fail_load = std::min(r.first_fail_load.value_or(load), load);
    }
    return record;
  };
  const int limit = std::max(1, options_.max_steps_per_repeat);

  if (options_.baseline) {
    ASSIGN_OR_RETURN(StepRecord baseline, run(StepPhase::kBaseline, 1));
    r.baseline_mean_ms = baseline.result.mean_ms;
    if (!baseline.ok) {
      r.verdict = Verdict::kOverloadedAtStart;
      r.note = absl::StrCat("the baseline (1 virtual user) already failed: ", baseline.why);
      return r;
    }
  }

  // Geometric steps up to the first failure or max_load.
  std::optional<double> good, bad;
  for (double load = options_.start_load;;) {
    if (r.steps >= limit) {
      r.step_limit_reached = true;
      break;
    }
    ASSIGN_OR_RETURN(StepRecord step, run(StepPhase::kStep, load));
    if (!step.ok) {
      bad = load;
      break;
    }
    good = load;
    if (load >= options_.max_load - kEps) break;
    load = NextLoad(load);
  }
  if (!bad.has_value()) {
    r.verdict = Verdict::kNotSaturated;
    r.note = r.step_limit_reached
                 ? absl::StrCat("the step limit (", limit, ") was reached at load ",
                                LoadText(good.value_or(0)), " before maxLoad ",
                                LoadText(options_.max_load))
                 : absl::StrCat("no step failed up to maxLoad ", LoadText(options_.max_load));
    return r;
  }
  if (!good.has_value()) {
    r.verdict = Verdict::kOverloadedAtStart;
    r.note = absl::StrCat("the first step (load ", LoadText(*bad),
                          ") already failed: ", steps->back().why);
    return r;
  }

  // Bisection between the last good and the first failing load.
  double low = *good, high = *bad;
  while (!Converged(low, high)) {
    if (r.steps >= limit) {
      r.step_limit_reached = true;
      break;
    }
    const double mid =
        options_.model == LoadModel::kClosed ? std::floor((low + high) / 2) : (low + high) / 2;
    ASSIGN_OR_RETURN(StepRecord step, run(StepPhase::kBisect, mid));
    (step.ok ? low : high) = mid;
  }
  r.verdict = Verdict::kSaturated;
  r.note = absl::StrCat("highest good load ", LoadText(low), ", lowest failing ", LoadText(high),
                        r.step_limit_reached ? " (bisection cut short by the step limit)" : "");
  return r;
}

absl::StatusOr<SaturationResult> SaturationSearch::Run() {
  SaturationResult result;
  result.options = options_;
  for (int repeat = 1; repeat <= std::max(1, options_.repeats); ++repeat) {
    ASSIGN_OR_RETURN(RepeatResult r, RunRepeat(repeat, &result.steps));
    result.repeats.push_back(std::move(r));
  }
  Summarise(&result);
  return result;
}

void SaturationSearch::Summarise(SaturationResult* result) const {
  // The verdict most repeats reached; a tie goes to "saturated" (a number was found), then to
  // "not-saturated".
  std::map<Verdict, int> votes;
  for (const RepeatResult& r : result->repeats) ++votes[r.verdict];
  const bool mixed = votes.size() > 1;
  result->verdict = Verdict::kOverloadedAtStart;
  int most = -1;
  for (Verdict v : {Verdict::kSaturated, Verdict::kNotSaturated, Verdict::kOverloadedAtStart}) {
    auto it = votes.find(v);
    if (it != votes.end() && it->second > most) {
      most = it->second;
      result->verdict = v;
    }
  }

  std::vector<const RepeatResult*> saturated;
  for (const RepeatResult& r : result->repeats) {
    if (r.verdict == Verdict::kSaturated && r.best.has_value()) saturated.push_back(&r);
  }
  std::sort(saturated.begin(), saturated.end(), [](const RepeatResult* a, const RepeatResult* b) {
    return a->best->result.throughput_rps < b->best->result.throughput_rps;
  });
  if (!saturated.empty()) {
    std::vector<double> rps;
    for (const RepeatResult* r : saturated) rps.push_back(r->best->result.throughput_rps);
    result->min_rps = rps.front();
    result->max_rps = rps.back();
    result->median_rps = Median(rps);
    result->spread =
        result->median_rps > 0 ? (result->max_rps - result->min_rps) / result->median_rps : 0;
  }
  result->inconsistent = mixed || result->spread > options_.max_spread;
  if (result->verdict != Verdict::kSaturated || saturated.empty()) return;

  // The median repeat (the lower middle one for an even count) stands for the search.
  const RepeatResult& median = *saturated[(saturated.size() - 1) / 2];
  result->median_repeat = median.repeat;
  result->saturation = median.best;
  result->operating_rps = options_.operating_fraction * median.best->result.throughput_rps;
  std::vector<std::pair<double, double>> points;
  for (const StepRecord& s : result->steps) {
    if (s.request.repeat == median.repeat && s.ok && s.request.phase != StepPhase::kBaseline) {
      points.emplace_back(s.request.load, s.result.throughput_rps);
    }
  }
  result->operating_load = InterpolateLoad(points, result->operating_rps, options_.model);
}

// ---- Output. ----

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

std::string JsonNumber(double value, int decimals) {
  if (!std::isfinite(value)) return "null";
  std::string s = absl::StrFormat("%.*f", decimals, value);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

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
      ", step ", absl::FormatDuration(o.step_duration), ", tolerance ", Percent(o.tolerance),
      ", repeats ", o.repeats, ", a step fails on any 503, errors > ", Percent(o.max_error_rate),
      o.slo_p99_ms ? absl::StrCat(" or p99 > ", SizingNumber(*o.slo_p99_ms), " ms") : "");
}

}  // namespace

std::string FormatSaturationText(const SaturationResult& result) {
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
    std::vector<std::string> rps;
    for (const RepeatResult& r : result.repeats) {
      rps.push_back(r.verdict == Verdict::kSaturated && r.best
                        ? absl::StrFormat("%.1f", r.best->result.throughput_rps)
                        : std::string("-"));
    }
    absl::StrAppendFormat(&out,
                          "repeats:    %s req/s; spread (max - min) / median = %s (%s above "
                          "%s)\n",
                          absl::StrJoin(rps, ", "), Percent(result.spread),
                          result.inconsistent ? "inconsistent:" : "consistent: not",
                          Percent(o.max_spread));
    absl::StrAppendFormat(&out, "operating point (%s of saturation): %.1f req/s at load %s\n",
                          Percent(o.operating_fraction), result.operating_rps,
                          LoadText(result.operating_load));
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

std::string StepJson(const StepRecord& s) {
  const StepResult& r = s.result;
  return absl::StrCat("{\"repeat\": ", s.request.repeat, ", \"index\": ", s.request.index,
                      ", \"phase\": ", JsonQuote(PhaseName(s.request.phase)),
                      ", \"load\": ", JsonNumber(s.request.load),
                      ", \"throughputRps\": ", JsonNumber(r.throughput_rps),
                      ", \"p50Ms\": ", JsonNumber(r.p50_ms), ", \"p99Ms\": ", JsonNumber(r.p99_ms),
                      ", \"meanMs\": ", JsonNumber(r.mean_ms), ", \"requests\": ", r.requests,
                      ", \"errors\": ", r.errors, ", \"status503\": ", r.status503,
                      ", \"errorRate\": ", JsonNumber(r.error_rate, 6),
                      ", \"verdict\": ", JsonQuote(s.ok ? "ok" : "fail"),
                      ", \"why\": ", JsonQuote(s.why), ", \"runId\": ", JsonQuote(r.run_id),
                      ", \"stoppedEarly\": ", r.stopped_early ? "true" : "false", "}");
}

template <typename T>
std::string OptionalNumber(const std::optional<T>& v) {
  return v.has_value() ? JsonNumber(static_cast<double>(*v)) : "null";
}

}  // namespace

std::string FormatSaturationJson(const SaturationResult& result, const JsonFields& extra) {
  const SaturationOptions& o = result.options;
  std::string out = absl::StrCat("{\n  \"verdict\": ", JsonQuote(VerdictName(result.verdict)),
                                 ",\n  \"inconsistent\": ", result.inconsistent ? "true" : "false",
                                 ",\n  \"saturation\": ");
  if (result.saturation.has_value()) {
    const StepRecord& s = *result.saturation;
    absl::StrAppend(
        &out, "{\"throughputRps\": ", JsonNumber(s.result.throughput_rps),
        ", \"load\": ", JsonNumber(s.request.load), ", \"p99Ms\": ", JsonNumber(s.result.p99_ms),
        ", \"p50Ms\": ", JsonNumber(s.result.p50_ms), ", \"repeat\": ", result.median_repeat,
        ", \"runId\": ", JsonQuote(s.result.run_id), "}");
    absl::StrAppend(&out,
                    ",\n  \"operatingPoint\": {\"fraction\": ", JsonNumber(o.operating_fraction),
                    ", \"throughputRps\": ", JsonNumber(result.operating_rps),
                    ", \"load\": ", JsonNumber(result.operating_load), "}");
  } else {
    out += "null,\n  \"operatingPoint\": null";
  }
  std::vector<std::string> repeats, details;
  for (const RepeatResult& r : result.repeats) {
    repeats.push_back(r.verdict == Verdict::kSaturated && r.best
                          ? JsonNumber(r.best->result.throughput_rps)
                          : std::string("null"));
    details.push_back(absl::StrCat(
        "{\"repeat\": ", r.repeat, ", \"verdict\": ", JsonQuote(VerdictName(r.verdict)),
        ", \"note\": ", JsonQuote(r.note),
        ", \"bestThroughputRps\": ", r.best ? JsonNumber(r.best->result.throughput_rps) : "null",
        ", \"bestLoad\": ", r.best ? JsonNumber(r.best->request.load) : "null",
        ", \"maxGoodLoad\": ", OptionalNumber(r.max_good_load),
        ", \"firstFailLoad\": ", OptionalNumber(r.first_fail_load),
        ", \"baselineMeanMs\": ", OptionalNumber(r.baseline_mean_ms), ", \"steps\": ", r.steps,
        ", \"stepLimitReached\": ", r.step_limit_reached ? "true" : "false", "}"));
  }
  absl::StrAppend(&out, ",\n  \"repeats\": [", absl::StrJoin(repeats, ", "), "]");
  absl::StrAppend(&out, ",\n  \"spread\": {\"minRps\": ", JsonNumber(result.min_rps),
                  ", \"maxRps\": ", JsonNumber(result.max_rps),
                  ", \"medianRps\": ", JsonNumber(result.median_rps),
                  ", \"relative\": ", JsonNumber(result.spread, 4),
                  ", \"limit\": ", JsonNumber(o.max_spread, 4), "}");
  absl::StrAppend(&out, ",\n  \"repeatDetails\": [\n    ", absl::StrJoin(details, ",\n    "),
                  "\n  ]");
  absl::StrAppend(&out, ",\n  \"settings\": {\"model\": ", JsonQuote(LoadModelName(o.model)),
                  ", \"startLoad\": ", JsonNumber(o.start_load),
                  ", \"stepFactor\": ", JsonNumber(o.step_factor),
                  ", \"maxLoad\": ", JsonNumber(o.max_load),
                  ", \"stepDurationS\": ", JsonNumber(absl::ToDoubleSeconds(o.step_duration)),
                  ", \"tolerance\": ", JsonNumber(o.tolerance, 6), ", \"repeats\": ", o.repeats,
                  ", \"maxErrorRate\": ", JsonNumber(o.max_error_rate, 6),
                  ", \"sloP99Ms\": ", OptionalNumber(o.slo_p99_ms),
                  ", \"operatingFraction\": ", JsonNumber(o.operating_fraction, 6),
                  ", \"maxStepsPerRepeat\": ", o.max_steps_per_repeat, "}");
  for (const auto& [key, value] : extra) {
    absl::StrAppend(&out, ",\n  ", JsonQuote(key), ": ", value);
  }
  std::vector<std::string> steps;
  for (const StepRecord& s : result.steps) steps.push_back(StepJson(s));
  absl::StrAppend(&out, ",\n  \"steps\": [\n    ", absl::StrJoin(steps, ",\n    "), "\n  ]\n}\n");
  return out;
}

}  // namespace stampede
