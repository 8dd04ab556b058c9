#include "saturate/search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "saturate/sizing.h"

namespace stampede {
namespace {

// Slack for comparisons of loads computed by multiplication (1.1 x 10 is not exactly 11).
constexpr double kEps = 1e-9;

std::string Ms(double ms) { return absl::StrFormat("%.1f", ms); }

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

std::string JudgeStep(const StepResult& result, const SaturationOptions& options) {
  return JudgeStepWithKnee(result, result.load, options, KneeReference{}).why;
}

StepJudgement JudgeStepWithKnee(const StepResult& result, double load,
                                const SaturationOptions& options, const KneeReference& reference) {
  if (result.requests == 0) return {"no requests completed", "no-requests"};
  std::vector<std::string> why;
  std::vector<std::string> rules;
  if (options.fail_on_503 && result.status503 > 0) {
    why.push_back(absl::StrCat(result.status503, " x 503"));
    rules.push_back("503");
  }
  if (result.error_rate > options.max_error_rate) {
    why.push_back(absl::StrCat("errors ", PercentText(result.error_rate), " > ",
                               PercentText(options.max_error_rate)));
    rules.push_back("errors");
  }
  if (options.slo_p99_ms.has_value() && result.p99_ms > *options.slo_p99_ms) {
    why.push_back(absl::StrCat("p99 ", Ms(result.p99_ms), " ms > SLO ",
                               SizingNumber(*options.slo_p99_ms), " ms"));
    rules.push_back("slo");
  }
  // Throughput that stopped growing with the load: the service queues instead of serving more.
  // The share required scales with how far the load grew, so that a bisection step halfway
  // between two loads needs about half the growth of a full step.
  if (options.min_throughput_growth > 0 && reference.previous.has_value()) {
    const StepRecord& prev = *reference.previous;
    const double ratio = prev.request.load > 0 ? load / prev.request.load : 0;
    if (ratio > 1 + kEps && options.step_factor > 1) {
      const double needed = options.min_throughput_growth * (ratio - 1) / (options.step_factor - 1);
      const double prev_rps = prev.result.throughput_rps;
      const double growth = prev_rps > 0 ? result.throughput_rps / prev_rps - 1 : 1;
      if (growth < needed) {
        why.push_back(absl::StrCat("knee: throughput ", absl::StrFormat("%+.1f%%", 100 * growth),
                                   " over load ", LoadText(prev.request.load), " (",
                                   absl::StrFormat("%.1f", prev_rps), " req/s), needs ",
                                   absl::StrFormat("%+.1f%%", 100 * needed)));
        rules.push_back("throughput-knee");
      }
    }
  }
  if (options.max_p99_multiple > 0 && reference.baseline_p99_ms.value_or(0) > 0 &&
      result.p99_ms > options.max_p99_multiple * *reference.baseline_p99_ms) {
    why.push_back(absl::StrCat("knee: p99 ", Ms(result.p99_ms), " ms > ",
                               SizingNumber(options.max_p99_multiple), " x baseline ",
                               Ms(*reference.baseline_p99_ms), " ms"));
    rules.push_back("p99-knee");
  }
  if (!why.empty() && result.stopped_early) why.push_back("stopped early");
  return {absl::StrJoin(why, "; "), absl::StrJoin(rules, "+")};
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

absl::StatusOr<StepRecord> SaturationSearch::RunStep(const StepRequest& request,
                                                     const KneeReference& reference) {
  if (on_start_) on_start_(request);
  ASSIGN_OR_RETURN(StepResult result, runner_(request));
  StepRecord record;
  record.request = request;
  record.result = std::move(result);
  record.result.load = request.load;
  StepJudgement judged = JudgeStepWithKnee(record.result, request.load, options_, reference);
  record.why = std::move(judged.why);
  record.rule = std::move(judged.rule);
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
    // The baseline is judged on its own; every later step against the baseline's p99 and the
    // best good step so far (the good step at the highest load, always below this one).
    KneeReference reference;
    if (phase != StepPhase::kBaseline) reference = KneeReference{r.baseline_p99_ms, r.best};
    ASSIGN_OR_RETURN(StepRecord record, RunStep(request, reference));
    steps->push_back(record);
    ++r.steps;
    if (record.ok && phase != StepPhase::kBaseline) {
      if (Better(record, r.best)) r.best = record;
      r.max_good_load = std::max(r.max_good_load.value_or(0), load);
    }
    if (!record.ok) {
      if (!r.first_fail_load.has_value() || load < *r.first_fail_load) r.ended_by = record.rule;
      r.first_fail_load = std::min(r.first_fail_load.value_or(load), load);
    }
    return record;
  };
  const int limit = std::max(1, options_.max_steps_per_repeat);

  if (options_.baseline) {
    ASSIGN_OR_RETURN(StepRecord baseline, run(StepPhase::kBaseline, 1));
    r.baseline_mean_ms = baseline.result.mean_ms;
    r.baseline_p99_ms = baseline.result.p99_ms;
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
                        " (ended by ", r.ended_by, ")",
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
  result->ended_by = median.ended_by;
  result->operating_rps = options_.operating_fraction * median.best->result.throughput_rps;
  std::vector<std::pair<double, double>> points;
  for (const StepRecord& s : result->steps) {
    if (s.request.repeat == median.repeat && s.ok && s.request.phase != StepPhase::kBaseline) {
      points.emplace_back(s.request.load, s.result.throughput_rps);
    }
  }
  result->operating_load = InterpolateLoad(points, result->operating_rps, options_.model);
}

}  // namespace stampede
