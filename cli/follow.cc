#include "cli/follow.h"

#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_util.h"
#include "cli/interrupts.h"
#include "cli/progress_view.h"
#include "common/run_state.h"
#include "report/report_format.h"

namespace stampede {

absl::Status FollowRun(CoordinatorClient& client, const std::string& run_id,
                       const OutputMode& mode) {
  // Progress goes to the terminal; with --json, stdout carries only the report.
  std::ostream& out = mode.json ? std::cerr : std::cout;
  const bool tty = isatty(mode.json ? STDERR_FILENO : STDOUT_FILENO);
  ProgressView view(&out, tty);
  int64_t last_second_printed = -1;
  absl::Status s = WaitForRun(client, run_id, [&](const Progress& progress) {
    if (mode.json_stream) {
      // One object per second of the run (updates come about twice a second), and the last.
      const auto second = static_cast<int64_t>(progress.elapsed_s());
      if (second != last_second_printed || progress.done()) {
        last_second_printed = second;
        std::cout << ProgressView::JsonLine(progress) << std::endl;
      }
      return;
    }
    if (!mode.quiet && (!mode.json || tty)) view.Show(progress);
  });
  view.Finish();
  return s;
}

int PrintReport(CoordinatorClient& client, const std::string& run_id, const OutputMode& mode,
                const std::string& command) {
  absl::StatusOr<RunReport> report = FetchReport(client, run_id);
  if (!report.ok()) return Fail(command, report.status(), 3);
  std::cout << (mode.json ? FormatReportJson(*report) : FormatReportText(*report));
  if (report->threshold_failures_size() > 0) return 1;
  const absl::StatusOr<RunState> state = ParseRunState(report->state());
  return state.ok() && state->phase == RunPhase::kFinished ? 0 : 1;
}

int StartAndFollow(CoordinatorClient& client, const Plan& plan, const OutputMode& mode,
                   std::string* run_id_out) {
  absl::StatusOr<StartRunResponse> started = StartRunOn(client, plan);
  if (!started.ok()) return Fail("run", started.status(), ExitCodeFor(started.status()));
  const StartRunResponse& response = *started;
  std::vector<std::string> agents;
  for (const auto& a : response.agents()) {
    agents.push_back(absl::StrCat(a.name(), " (", a.region(), ")"));
  }
  (mode.json || mode.detach ? std::cerr : std::cout)
      << "run " << response.run_id() << " started on " << response.agents_size()
      << " agent(s): " << absl::StrJoin(agents, ", ") << std::endl;
  if (run_id_out != nullptr) *run_id_out = response.run_id();
  const std::string& id = response.run_id();
  if (mode.detach) {
    std::cout << (mode.json ? absl::StrCat("{\"runId\": \"", id, "\"}") : id) << std::endl;
    return 0;
  }
  std::ostream& say = mode.json ? std::cerr : std::cout;
  InterruptGuard guard(
      [&] {
        say << "\ninterrupted: aborting run " << id
            << " on every agent and waiting for the records in flight (Ctrl-C again to detach)"
            << std::endl;
        if (absl::Status s = AbortRun(client, id); !s.ok()) {
          std::cerr << "stampede run: could not abort " << id << ": " << s.message() << "\n";
        }
      },
      [&] {
        say << "\ndetached: run " << id << " is being aborted; `stampede watch " << id
            << "` follows it, `stampede report " << id << "` prints it" << std::endl;
      });
  if (auto s = FollowRun(client, id, mode); !s.ok()) return Fail("run", s, 3);
  const int code = PrintReport(client, id, mode, "run");
  return guard.interrupted() ? kInterruptedExit : code;
}

}  // namespace stampede
