// Saturation search (`stampede saturate`): the manual tuning procedure, automated.
//
//   1. Baseline: one virtual user on one agent for one step, for the service's unloaded latency.
//   2. Step up geometrically from start_load by step_factor until a step fails (any 503, error
//      share above max_error_rate, p99 above slo_p99_ms, or the knee: throughput that stopped
//      growing with the load, or p99 far above the baseline's) or max_load passes.
//   3. Bisect between the last good and the first failing load down to the tolerance.
//   4. Repeat the whole search `repeats` times and compare the repeats' saturation throughputs
//      (each repeat's: the throughput of its highest good step).
//   5. Report the saturation (throughput, load, p99), the operating point at operating_fraction of
//      the saturation throughput and the load that gives it, interpolated from the steps.
//
// The search does no I/O: each step is run by an injected StepRunner (in `stampede saturate` a
// whole run on the coordinator; in tests a fake service), so the procedure is testable alone.
// Every repeat is bounded by max_steps_per_repeat, so a search always ends.
#ifndef STAMPEDE_SATURATE_SEARCH_H_
#define STAMPEDE_SATURATE_SEARCH_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "saturate/options.h"

namespace stampede {

enum class StepPhase { kBaseline, kStep, kBisect };
enum class Verdict { kSaturated, kOverloadedAtStart, kNotSaturated };

const char* PhaseName(StepPhase phase);    // "baseline", "step", "bisect"
const char* VerdictName(Verdict verdict);  // "saturated", "overloaded-at-start", ...

// What the search asks the runner to do.
struct StepRequest {
  int repeat = 1;  // 1-based
  int index = 0;   // 0-based within the repeat; the baseline is step 0
  StepPhase phase = StepPhase::kStep;
  double load = 0;  // the baseline always asks for 1 virtual user, whatever the model
};

// What one step measured.
struct StepResult {
  double load = 0;
  double throughput_rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double mean_ms = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t status503 = 0;
  // Responses without an error: what throughput_rps counts (503s and errors are shown beside it,
  // requests Stampede cancelled itself are in neither).
  uint64_t successes = 0;
  double error_rate = 0;
  std::string run_id;
  // The run was stopped before its full duration because it had already failed (a 503): the
  // figures cover the part that ran.
  bool stopped_early = false;
};

struct StepRecord {
  StepRequest request;
  StepResult result;
  bool ok = false;
  std::string why;  // why the step failed; empty when ok
  // The rules it failed, by name ("503", "errors", "slo", "throughput-knee", "p99-knee"),
  // joined by "+"; empty when ok.
  std::string rule;
};

struct RepeatResult {
  int repeat = 1;
  Verdict verdict = Verdict::kNotSaturated;
  std::string note;  // why the repeat ended as it did, for people
  // The good (non-baseline) step at the highest load: the repeat's saturation.
  std::optional<StepRecord> best;
  std::optional<double> max_good_load;    // highest load that passed
  std::optional<double> first_fail_load;  // lowest load that failed
  std::optional<double> baseline_mean_ms;
  std::optional<double> baseline_p99_ms;
  // The rule(s) of the lowest failing step: what bounded the saturation ("throughput-knee").
  std::string ended_by;
  int steps = 0;
  bool step_limit_reached = false;
};

struct SaturationResult {
  SaturationOptions options;
  Verdict verdict = Verdict::kNotSaturated;
  std::vector<RepeatResult> repeats;
  std::vector<StepRecord> steps;  // every step of every repeat, in order

  // Spread of the saturated repeats' throughputs. Inconsistent when the spread is above
  // options.max_spread or the repeats reached different verdicts.
  double min_rps = 0;
  double max_rps = 0;
  double median_rps = 0;
  double spread = 0;
  bool inconsistent = false;

  // Set when verdict is kSaturated: the median repeat's best step, and the operating point.
  int median_repeat = 0;  // 1-based
  std::optional<StepRecord> saturation;
  std::string ended_by;  // the median repeat's

  double operating_rps = 0;
  double operating_load = 0;
};

// Judges a step: empty when it passes, otherwise why it failed ("3 x 503; p99 412 ms > SLO 250").
std::string JudgeStep(const StepResult& result, const SaturationOptions& options);

// What the knee rules compare a step with.
struct KneeReference {
  std::optional<double> baseline_p99_ms;
  // The good step at the highest load below this one (none for the first step).
  std::optional<StepRecord> previous;
};
struct StepJudgement {
  std::string why;   // empty when it passes
  std::string rule;  // see StepRecord::rule
};
// JudgeStep with the knee rules too. `load` is the step's load.
StepJudgement JudgeStepWithKnee(const StepResult& result, double load,
                                const SaturationOptions& options, const KneeReference& reference);

// The load that gives `target_rps`, linearly interpolated over the measured (load, throughput)
// points (an implicit (0, 0) first; points at the same load averaged). Closed: rounded up to a
// whole user (at least 1). Beyond the last point: that point's load.
double InterpolateLoad(std::vector<std::pair<double, double>> load_rps, double target_rps,
                       LoadModel model);

class SaturationSearch {
 public:
  using StepRunner = std::function<absl::StatusOr<StepResult>(const StepRequest&)>;
  using StartObserver = std::function<void(const StepRequest&)>;
  using DoneObserver = std::function<void(const StepRecord&)>;

  SaturationSearch(SaturationOptions options, StepRunner runner);

  // Called (on the calling thread) before and after each step: the live view.
  void OnStepStart(StartObserver observer) { on_start_ = std::move(observer); }
  void OnStepDone(DoneObserver observer) { on_done_ = std::move(observer); }

  // Runs every repeat. A runner error (the coordinator is gone, an agent was lost) ends the
  // search with that error: a step without trustworthy figures cannot be judged.
  absl::StatusOr<SaturationResult> Run();

 private:
  absl::StatusOr<RepeatResult> RunRepeat(int repeat, std::vector<StepRecord>* steps);
  absl::StatusOr<StepRecord> RunStep(const StepRequest& request, const KneeReference& reference);
  double NextLoad(double load) const;
  bool Converged(double low, double high) const;
  void Summarise(SaturationResult* result) const;

  const SaturationOptions options_;
  const StepRunner runner_;
  StartObserver on_start_;
  DoneObserver on_done_;
};

}  // namespace stampede

#endif  // STAMPEDE_SATURATE_SEARCH_H_
