// stampede saturate: the saturation search with each step a normal run on the coordinator.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/embedded_cluster.h"
#include "cli/flag_specs.h"
#include "cli/interrupts.h"
#include "cli/run_client.h"
#include "common/json_writer.h"
#include "common/run_state.h"
#include "saturate/options.h"
#include "saturate/saturation_output.h"
#include "saturate/search.h"
#include "saturate/size_command.h"
#include "saturate/sizing.h"
#include "saturate/step_plan.h"

namespace stampede {
namespace {

CommandSpec SaturateSpec() {
  return {
      .command = "stampede saturate",
      .usage =
          "stampede saturate PLAN.json [--coordinator HOST:PORT | --local-agents N] "
          "[--single-client] [--json] [--db PATH] [--regions R1,R2] [--target-rps R "
          "[--pods-tested N] [--cpu-per-pod P --vm-cores V [pod and node flags]]]",
      .description =
          "Saturation search: step the load up until the service fails (503s, errors, the p99 "
          "SLO), bisect, repeat; prints the saturation throughput and the operating point. Each "
          "step is a normal run. Exit 0 when saturated and the repeats agree.",
      .positionals = {{.name = "PLAN.json",
                       .help = "target, agents and the plan's \"saturation\" settings; stages "
                               "are optional"}},
      .flags = WithFlags(
          {LocalAgentsFlag("2; 1 with --single-client"),
           EmbeddedDbFlag(),
           RegionsFlag(),
           {.name = "--single-client", .help = "search with one agent (the single-client test)"},
           {.name = "--target-rps",
            .value = "R",
            .help = "also size pods for this rate at the operating point"},
           {.name = "--pods-tested",
            .value = "N",
            .default_value = "1",
            .help = "pods behind the service under test, for --target-rps"},
           JsonFlag("stdout carries only the result, as JSON; progress goes to stderr")},
          WithFlags(EmbeddedOrRemoteFlags(), PodAndNodeFlagSpecs()))};
}

int Fail(const absl::Status& status, int code) {
  std::cerr << "stampede saturate: " << status.message() << "\n";
  return code;
}

// The exit code for a step that could not be run.
int CodeFor(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
}

}  // namespace

int CmdSaturate(const Args& args) {
  int parse_code = 0;
  auto flags = ParseOrExit(SaturateSpec(), args, &parse_code);
  if (!flags) return parse_code;
  const bool single_client = flags->Bool("--single-client");
  const bool json = flags->Bool("--json");
  // One agent is all a single-client search uses; otherwise as `stampede run`.
  absl::StatusOr<int64_t> local_agents = int64_t{1};
  if (!single_client || flags->Has("--local-agents")) {
    local_agents = flags->Int("--local-agents", 1, 64);
  }
  if (!local_agents.ok()) return Fail(local_agents.status(), 2);
  auto pods_tested = flags->Int("--pods-tested", 1, 1'000'000);
  if (!pods_tested.ok()) return Fail(pods_tested.status(), 2);
  std::optional<double> target_rps;
  if (flags->Has("--target-rps")) {
    auto rps = flags->PositiveDouble("--target-rps");
    if (!rps.ok()) return Fail(rps.status(), 2);
    target_rps = *rps;
  }
  // With --target-rps, the pod and node figures of `stampede size` make the result size nodes.
  auto pod_and_node = PodAndNodeFromFlags(*flags);
  if (!pod_and_node.ok()) return Fail(pod_and_node.status(), 2);
  // Loaded on the client, as for `stampede run`: payload and key travel over the link.
  auto plan = LoadSaturationPlan(flags->positional()[0]);
  if (!plan.ok()) return Fail(plan.status(), 2);
  auto options = SaturationOptionsFromPlan(*plan);
  if (!options.ok()) return Fail(options.status(), 2);

  // Where the steps run: a coordinator, or one embedded cluster for the whole search.
  std::unique_ptr<EmbeddedCluster> cluster;
  std::string db_path;
  absl::StatusOr<CoordinatorClient> client = absl::UnknownError("not dialled");
  std::ostream& say = json ? std::cerr : std::cout;
  if (auto address = RemoteAddress(*flags)) {
    say << "coordinator " << *address << std::endl;
    client = DialFromFlags(*flags, *address);
  } else {
    db_path = flags->String("--db");
    const EmbeddedOptions embedded =
        EmbeddedOptionsForPlan(*local_agents, db_path, flags->Get("--regions"), &*plan);
    say << "embedded: " << embedded.agents << " local agent" << (embedded.agents == 1 ? "" : "s")
        << std::endl;
    auto started = EmbeddedCluster::Start(embedded);
    if (!started.ok()) return Fail(started.status(), 3);
    cluster = std::move(*started);
    client = DialCoordinator(cluster->address(), "", TlsFiles{});
  }
  if (!client.ok())
    return Fail(client.status(),
                client.status().code() == absl::StatusCode::kPermissionDenied ? 4 : 3);

  // The live view: one line per finished step; on a terminal also the running step's progress
  // on a line that the finished step overwrites. With --json, stdout carries only the report.
  std::ostream& live = json ? std::cerr : std::cout;
  const bool tty = isatty(json ? STDERR_FILENO : STDOUT_FILENO);
  const bool show_live = !json || tty;
  const bool cluster_split = plan->agents().split() == "cluster";
  if (show_live) {
    live << "saturate: plan \"" << plan->name() << "\", " << LoadModelName(options->model)
         << " model, " << (single_client ? "single-client" : "multi-client") << ", "
         << options->repeats << (options->repeats == 1 ? " repeat" : " repeats") << ", steps of "
         << absl::FormatDuration(options->step_duration) << std::endl;
  }
  int agents_per_step = 0;
  StepRequest running;
  // Ctrl-C: the running step is aborted (at its next progress update, within about half a
  // second) and the search stops; a second Ctrl-C detaches at once.
  std::atomic<bool> interrupted{false};
  auto runner = [&](const StepRequest& request) -> absl::StatusOr<StepResult> {
    if (interrupted) return absl::CancelledError("interrupted (Ctrl-C): the search stopped");
    const Plan step = BuildStepPlan(*plan, request, *options, single_client);
    StartRunResponse started;
    bool abort_sent = false;
    absl::StatusOr<RunReport> report = RunToReport(
        *client, step,
        [&](const Progress& p) {
          // Any 503 fails the step, so the rest of it would only hammer the service (a closed
          // loop answered by instant 503s spins at tens of thousands of requests per second)
          // and fill the store: stop it. The run still ends normally, as "aborted".
          auto s503 = p.totals().by_status().find(503);
          if (!abort_sent && s503 != p.totals().by_status().end() && s503->second > 0) {
            abort_sent = AbortRun(*client, started.run_id()).ok();
          }
          if (!abort_sent && interrupted) abort_sent = AbortRun(*client, started.run_id()).ok();
          if (!tty || !show_live) return;
          live << "\r\x1b[K"
               << absl::StrFormat(
                      "repeat %d/%d  %-8s #%-2d load %-8s %5.1fs  %d "
                      "requests  %d errors",
                      running.repeat, options->repeats, PhaseName(running.phase), running.index,
                      SizingNumber(running.load), p.elapsed_s(), p.totals().requests(),
                      p.totals().errors())
               << std::flush;
        },
        &started);
    const std::string which =
        absl::StrCat("repeat ", request.repeat, " step ", request.index, " (",
                     PhaseName(request.phase), ", load ", SizingNumber(request.load), ")");
    if (!report.ok()) {
      return absl::Status(report.status().code(),
                          absl::StrCat(which, ": ", report.status().message()));
    }
    if (interrupted) {
      return absl::CancelledError(absl::StrCat("interrupted (Ctrl-C): ", which, ", run ",
                                               report->run_id(),
                                               ", was aborted; the search stopped"));
    }
    // A lost or aborted agent leaves the step's figures incomplete: judging it would be a guess.
    const absl::StatusOr<RunState> state = ParseRunState(report->state());
    const bool finished = state.ok() && state->phase == RunPhase::kFinished;
    const bool stopped_early = abort_sent && state.ok() && state->phase == RunPhase::kAborted;
    if (!finished && !stopped_early) {
      return absl::UnavailableError(
          absl::StrCat(which, ": run ", report->run_id(), " ended ", report->state()));
    }
    if (request.phase != StepPhase::kBaseline) agents_per_step = started.agents_size();
    StepResult result = StepResultFromReport(*report, request.load);
    result.stopped_early = stopped_early;
    return result;
  };
  SaturationSearch search(*options, runner);
  search.OnStepStart([&](const StepRequest& request) { running = request; });
  search.OnStepDone([&](const StepRecord& step) {
    if (!show_live) return;
    live << (tty ? "\r\x1b[K" : "") << FormatStepLine(step, options->repeats) << std::endl;
  });
  absl::StatusOr<SaturationResult> result = absl::UnknownError("not run");
  {
    InterruptGuard guard(
        [&] {
          interrupted = true;
          live << "\ninterrupted: aborting the running step and stopping the search (Ctrl-C "
                  "again to detach)"
               << std::endl;
        },
        [&] {
          live << "\ndetached: the step's run may still be ending on the agents" << std::endl;
        });
    result = search.Run();
  }
  if (!result.ok()) {
    if (tty && show_live) live << "\r\x1b[K" << std::flush;
    return Fail(result.status(), interrupted ? kInterruptedExit : CodeFor(result.status()));
  }

  // The `stampede size` command that ends the report; with --target-rps also its answer.
  SizingFollowUp next;
  next.pods_tested = *pods_tested;
  next.target_rps = target_rps;
  if (pod_and_node->has_value()) {
    next.pod = (*pod_and_node)->pod;
    next.nodes = (*pod_and_node)->nodes;
  }

  const std::string mode = single_client ? "single-client" : "multi-client";
  if (json) {
    auto extra = [&](JsonWriter& w) {
      w.Key("plan");
      w.String(plan->name());
      w.Key("mode");
      w.String(mode);
      w.Key("agentsPerStep");
      w.Int(agents_per_step);
      w.Key("loadPer");
      w.String(single_client || !cluster_split ? "agent" : "cluster");
      w.Key("store");
      if (db_path.empty()) {
        w.Null();
      } else {
        w.String(db_path);
      }
    };
    std::cout << FormatSaturationJson(*result, extra, next);
  } else {
    std::cout << "\n"
              << mode << " on " << agents_per_step << " agent(s)"
              << (single_client || agents_per_step <= 1 ? ""
                  : cluster_split ? ", load shared between them (agents.split cluster)"
                                  : ", each at the load (agents.split perAgent)")
              << "; baseline on 1 agent\n"
              << (db_path.empty() ? "" : absl::StrCat("store: ", db_path, "\n"))
              << FormatSaturationText(*result, next);
  }
  return result->verdict == Verdict::kSaturated && !result->inconsistent ? 0 : 1;
}

}  // namespace stampede
