// The settings of a saturation search (`stampede saturate`): the plan's `saturation` section
// over the defaults of its load model, checked field by field.
#ifndef STAMPEDE_SATURATE_OPTIONS_H_
#define STAMPEDE_SATURATE_OPTIONS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plan.pb.h"

namespace stampede {

// Closed: the load is virtual users (concurrency), an integer. Open: the load is arrivals/s.
enum class LoadModel { kClosed, kOpen };

const char* LoadModelName(LoadModel model);  // "closed", "open"

// A closed step runs this many virtual users at most: a plan asking for more is a typo, and the
// concurrency field is an int32.
inline constexpr double kMaxClosedLoad = 1'000'000;

struct SaturationOptions {
  LoadModel model = LoadModel::kClosed;
  // Closed defaults; DefaultSaturationOptions(kOpen) gives 10 .. 100000 arrivals/s.
  double start_load = 1;
  double step_factor = 2;
  double max_load = 1024;
  absl::Duration step_duration = absl::Seconds(5);
  // Bisection stops when (high - low) / low <= tolerance (closed: also when high - low <= 1).
  double tolerance = 0.1;
  int repeats = 3;
  double max_error_rate = 0.01;
  std::optional<double> slo_p99_ms;
  // Knee rules (0 switches one off). A step fails when its successful throughput grew by less
  // than min_throughput_growth over the last good step below it, the share scaled by how far the
  // load grew against step_factor; or when its p99 is above max_p99_multiple x the baseline's.
  double min_throughput_growth = 0.05;
  double max_p99_multiple = 10;
  // A step fails on any 503 (the seed's rule).
  bool fail_on_503 = true;
  double operating_fraction = 0.7;
  // Repeats whose (max - min) / median saturation throughput exceeds this are "inconsistent".
  double max_spread = 0.15;
  // Hard bound on the steps of one repeat (baseline included), so that any search ends.
  int max_steps_per_repeat = 40;
  bool baseline = true;
};

SaturationOptions DefaultSaturationOptions(LoadModel model);

// The plan's `saturation` settings over the defaults of its model. Closed loads are rounded to
// whole users (start up, max down). Errors name the plan field.
absl::StatusOr<SaturationOptions> SaturationOptionsFromPlan(const Plan& plan);

// A load, a fraction or a duration as the search prints them ("12", "1.5", "10%").
std::string LoadText(double load);
std::string PercentText(double fraction);

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_OPTIONS_H_
