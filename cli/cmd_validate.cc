// stampede validate PLAN.json: parse, check and summarise a plan without running it. It does
// not need the plan's secret: a bearer-key variable that is unset is a warning (the run will need
// it), not an error. It accepts a saturation-only plan (no stages), and shows each stage's load
// across the agents the plan selects.
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "common/flags.h"
#include "common/load_split.h"
#include "common/plan_json.h"
#include "common/plan_loader.h"
#include "saturate/options.h"
#include "saturate/step_plan.h"

namespace stampede {
namespace {

std::string Number(double v) { return absl::StrFormat("%g", v); }

// "8 users" / "500/s", with the ramp target when there is one.
std::string LoadOf(const Stage& stage) {
  if (stage.has_concurrency()) {
    std::string out = absl::StrCat(stage.concurrency());
    if (stage.has_ramp_to()) absl::StrAppend(&out, " -> ", Number(stage.ramp_to()));
    return absl::StrCat(out, stage.concurrency() == 1 && !stage.has_ramp_to() ? " user" : " users");
  }
  std::string out = absl::StrCat(Number(stage.rate()), "/s");
  if (stage.has_ramp_to()) absl::StrAppend(&out, " -> ", Number(stage.ramp_to()), "/s");
  return out;
}

// One line per stage: the load each agent runs and the total over the selected agents.
std::vector<std::string> StageLoads(const Plan& plan) {
  const AgentSelection& agents = plan.agents();
  const bool cluster = agents.split() == "cluster";
  const int count = agents.count();
  std::vector<std::string> lines;
  for (int i = 0; i < plan.stages_size(); ++i) {
    const Stage& stage = plan.stages(i);
    std::string line =
        absl::StrCat("  stage ", i + 1, stage.name().empty() ? "" : " ", stage.name(), ": ");
    if (count <= 0) {
      // Without agents.count the run takes every matching agent: the total depends on them.
      absl::StrAppend(&line, LoadOf(stage),
                      cluster ? " in all, shared by every matching agent"
                              : " on each agent (agents.count unset: every matching agent)");
    } else if (cluster) {
      std::vector<std::string> shares;
      for (int a = 0; a < count && a < 4; ++a)
        shares.push_back(LoadOf(SplitStage(stage, count, a)));
      absl::StrAppend(&line, LoadOf(stage), " in all, shared by ", count, " agent",
                      count == 1 ? "" : "s", " (", absl::StrJoin(shares, ", "),
                      count > 4 ? ", ...)" : ")");
    } else {
      Stage total = stage;
      if (stage.has_concurrency()) total.set_concurrency(stage.concurrency() * count);
      if (stage.has_rate()) total.set_rate(stage.rate() * count);
      if (stage.has_ramp_to()) total.set_ramp_to(stage.ramp_to() * count);
      absl::StrAppend(&line, LoadOf(stage), " on each of ", count, " agent", count == 1 ? "" : "s",
                      " = ", LoadOf(total), " in all");
    }
    lines.push_back(line);
  }
  return lines;
}

std::string SaturationSummary(const SaturationOptions& o) {
  const bool closed = o.model == LoadModel::kClosed;
  return absl::StrCat(
      "  saturation: ", LoadModelName(o.model), " model, from ", Number(o.start_load),
      " to at most ", Number(o.max_load), closed ? " users" : "/s", ", x", Number(o.step_factor),
      " per step of ", absl::FormatDuration(o.step_duration), ", ", o.repeats, " repeat",
      o.repeats == 1 ? "" : "s", ", operating point at ", Number(o.operating_fraction * 100), "%");
}

}  // namespace

int CmdValidate(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede validate",
      .description =
          "Check a plan without running it: prints \"ok\", a summary and each stage's load over "
          "the selected agents, or \"invalid\" and the field at fault (exit 2). A saturation-only "
          "plan (no stages) is checked as `stampede saturate` reads it. The bearer key need not "
          "be set: an unset variable is a warning.",
      .positionals = {{.name = "PLAN.json", .help = "the plan to check"}}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  // Every variable the plan names is looked up; those unset are noted and stand in as a value.
  std::set<std::string> unset;
  const EnvLookup env = ProcessEnv();
  PlanLoadOptions options;
  options.env = [&](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> value = env(name);
    if (value.has_value() && !value->empty()) return value;
    unset.insert(std::string(name));
    return "unset";
  };
  auto plan = LoadSaturationPlan(flags->positional()[0], options);
  if (!plan.ok()) {
    std::cout << "invalid: " << plan.status().message() << "\n";
    return 2;
  }
  // No stages (or an empty list) in the file: LoadSaturationPlan stood one in.
  bool saturation_only = false;
  if (auto text = ReadPlanFile(flags->positional()[0]); text.ok()) {
    if (auto object = ReadPlanJsonObject(*text); object.ok()) {
      auto stages = object->fields().find("stages");
      saturation_only =
          stages == object->fields().end() ||
          (stages->second.has_list_value() && stages->second.list_value().values_size() == 0);
    }
  }
  for (const std::string& name : unset) {
    std::cout << "warning: $" << name << " is not set; `stampede run` will need it\n";
  }
  if (saturation_only) {
    plan->clear_stages();
    std::cout << "ok: " << (plan->name().empty() ? "(unnamed)" : plan->name())
              << ": saturation-only plan, " << plan->target().url() << "\n";
  } else {
    std::cout << "ok: " << PlanSummary(*plan) << "\n";
    for (const std::string& line : StageLoads(*plan)) std::cout << line << "\n";
  }
  if (plan->has_saturation() || saturation_only) {
    auto saturation = SaturationOptionsFromPlan(*plan);
    if (!saturation.ok()) {
      std::cout << "invalid: " << saturation.status().message() << "\n";
      return 2;
    }
    std::cout << SaturationSummary(*saturation) << "\n";
  }
  return 0;
}

}  // namespace stampede
