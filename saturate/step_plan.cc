#include "saturate/step_plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/plan_json.h"
#include "common/plan_loader.h"
#include "google/protobuf/struct.pb.h"
#include "report/report_model.h"

namespace stampede {

StepResult StepResultFromReport(const RunReport& report, double load) {
  // The run's figures as its report has them: one model, so a step reads exactly as `stampede
  // report` shows its run.
  const Figures f = FiguresOf(report.totals());
  StepResult r;
  r.load = load;
  r.run_id = report.run_id();
  r.requests = f.requests;
  r.errors = f.errors;
  r.status503 = f.status_count(503);
  r.error_rate = f.error_rate;
  // Throughput counts successful responses only: a service answering 503s fast must not look
  // faster for it. Requests Stampede cut off itself (a step stopped early) are neither.
  uint64_t aborted = 0;
  for (const auto& [name, count] : f.by_error) {
    if (name == "aborted") aborted += count;
  }
  const uint64_t failed = std::min(f.requests, f.errors + aborted);
  r.successes = f.requests - failed;
  r.throughput_rps = f.requests > 0 ? f.throughput_rps * static_cast<double>(r.successes) /
                                          static_cast<double>(f.requests)
                                    : 0;
  if (f.latency_ms.has_value()) {
    r.p50_ms = f.latency_ms->p50;
    r.p99_ms = f.latency_ms->p99;
    r.mean_ms = f.latency_ms->mean;
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
    // Gentle with a service that fails fast: users wait after a 503 or a failed connection.
    stage->set_back_off(true);
  } else {
    stage->set_rate(request.load);
  }
  return plan;
}

// The loader insists on at least one stage, so a plan without any gets a placeholder before it is
// validated; the steps replace it. Everything else (limits, field checks, payload, key) is the
// loader's: the file is read and parsed by the same bounded functions LoadPlan uses.
absl::StatusOr<Plan> LoadSaturationPlan(const std::string& path) {
  return LoadSaturationPlan(path, PlanLoadOptions{});
}

absl::StatusOr<Plan> LoadSaturationPlan(const std::string& path, PlanLoadOptions options) {
  absl::StatusOr<std::string> text = ReadPlanFile(path);
  absl::StatusOr<google::protobuf::Struct> object =
      text.ok() ? ReadPlanJsonObject(*text) : text.status();
  // Its error says what is wrong with the file.
  if (!object.ok()) return LoadPlan(path, std::move(options));
  auto& fields = *object->mutable_fields();
  auto stages = fields.find("stages");
  if (stages != fields.end() &&
      !(stages->second.has_list_value() && stages->second.list_value().values_size() == 0)) {
    return LoadPlan(path, std::move(options));
  }
  google::protobuf::Value placeholder;
  auto& stage = *placeholder.mutable_struct_value()->mutable_fields();
  stage["concurrency"].set_number_value(1);
  stage["requests"].set_number_value(1);
  *fields["stages"].mutable_list_value()->add_values() = placeholder;
  std::error_code error;
  options.base_dir = std::filesystem::absolute(path, error).parent_path().string();
  absl::StatusOr<Plan> plan = ParsePlanObject(*std::move(object), options);
  if (!plan.ok()) {
    return absl::Status(plan.status().code(), absl::StrCat(path, ": ", plan.status().message()));
  }
  return plan;
}

}  // namespace stampede
