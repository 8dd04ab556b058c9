#include "saturate/options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/plan_loader.h"
#include "saturate/sizing.h"

namespace stampede {
namespace {

// Slack for comparisons of loads computed by multiplication (1.1 x 10 is not exactly 11).
constexpr double kEps = 1e-9;

}  // namespace

const char* LoadModelName(LoadModel model) { return model == LoadModel::kOpen ? "open" : "closed"; }

std::string LoadText(double load) { return SizingNumber(load); }

std::string PercentText(double fraction) { return absl::StrCat(SizingNumber(fraction * 100), "%"); }

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
  if (s.has_min_throughput_growth()) {
    if (!(s.min_throughput_growth() >= 0 && s.min_throughput_growth() < 1)) {
      return bad("minThroughputGrowth", absl::StrCat("must be in [0, 1) (0: off), got ",
                                                     LoadText(s.min_throughput_growth())));
    }
    o.min_throughput_growth = s.min_throughput_growth();
  }
  if (s.has_max_p99_multiple()) {
    if (!(std::isfinite(s.max_p99_multiple()) &&
          (s.max_p99_multiple() == 0 || s.max_p99_multiple() > 1))) {
      return bad("maxP99Multiple",
                 absl::StrCat("must be > 1 (0: off), got ", LoadText(s.max_p99_multiple())));
    }
    o.max_p99_multiple = s.max_p99_multiple();
  }
  if (s.has_fail_on_503()) o.fail_on_503 = s.fail_on_503();
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

}  // namespace stampede
