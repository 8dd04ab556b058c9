#include "agent/run_command.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/aggregator_sink.h"
#include "agent/csv_sink.h"
#include "agent/engine.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/plan_loader.h"
#include "common/run_aggregator.h"
#include "report/report_format.h"
#include "report/report_model.h"

namespace stampede {
namespace {

struct RunFlags {
  std::string plan_path;
  std::string out;
  bool json = false;
  bool quiet = false;
  int threads = 0;
};

CommandSpec RunSpec() {
  return {
      .command = "stampede-agent run",
      .usage = "stampede-agent run PLAN.json [--out records.csv] [--json] [--threads N] [--quiet]",
      .description = "Run a plan on this machine alone (the single-client test), with live "
                     "progress on a terminal and a summary at the end. Exit 1 when a plan "
                     "threshold failed, 130 when interrupted.",
      .positionals = {{.name = "PLAN.json", .help = "the plan to run"}},
      .flags = {{.name = "--out",
                 .alias = "-o",
                 .value = "FILE",
                 .help = "write every request's record to this CSV file"},
                {.name = "--json", .help = "print the summary as JSON"},
                {.name = "--threads",
                 .value = "N",
                 .default_help = "one per core",
                 .help = "worker threads, 1 to 1024"},
                {.name = "--quiet", .alias = "-q", .help = "no live progress"}}};
}

// Nullopt when the command should exit with `*exit_code` (bad flags: 2; --help: 0).
std::optional<RunFlags> ParseFlags(const std::vector<std::string>& args, int* exit_code) {
  auto flags = ParseOrExit(RunSpec(), args, exit_code);
  if (!flags) return std::nullopt;
  RunFlags f;
  f.plan_path = flags->positional()[0];
  f.out = flags->String("--out");
  f.json = flags->Bool("--json");
  f.quiet = flags->Bool("--quiet");
  if (flags->Has("--threads")) {
    auto threads = flags->Int("--threads", 1, 1024);
    if (!threads.ok()) {
      std::cerr << "stampede-agent run: " << threads.status().message() << "\n";
      *exit_code = 2;
      return std::nullopt;
    }
    f.threads = static_cast<int>(*threads);
  }
  return f;
}

std::string ProgressLine(double elapsed_s, const Progress& p, uint64_t in_flight, double rps) {
  const std::optional<Percentiles> latency = LatencyOf(p.totals());
  return absl::StrFormat(
      "\r[%6.1fs] %10d req  %9.1f req/s  %7d errors  %5d in flight  p50 %8.3fms  p99 %8.3fms ",
      elapsed_s, p.totals().requests(), rps, p.totals().errors(), in_flight,
      latency ? latency->p50 : 0.0, latency ? latency->p99 : 0.0);
}

// The run's merged report with the header a coordinator would give it: one agent, "local".
RunReport LocalReport(const RunAggregator& aggregator, const Plan& plan, bool interrupted,
                      int64_t started_ns, int64_t ended_ns) {
  RunReport report = aggregator.Report();
  report.set_state(interrupted ? "aborted" : "finished");
  report.set_started_ns(started_ns);
  report.set_ended_ns(ended_ns);
  *report.mutable_plan() = WithoutSecrets(plan);
  for (AgentResult& agent : *report.mutable_by_agent()) agent.set_state(report.state());
  if (interrupted) report.add_threshold_failures("run aborted");
  return report;
}

}  // namespace

int RunLocalCommand(const std::vector<std::string>& args) {
  int parse_code = 0;
  const std::optional<RunFlags> flags = ParseFlags(args, &parse_code);
  if (!flags) return parse_code;
  absl::StatusOr<Plan> plan = LoadPlan(flags->plan_path);
  if (!plan.ok()) {
    std::cerr << "stampede-agent: " << plan.status().message() << "\n";
    return 2;
  }
  // The run's records go through the same aggregation as on a coordinator, so this prints the
  // same report (text or JSON) that `stampede report` prints for a distributed run.
  const Clock& clock = RealClock::Get();
  const int64_t start_mono = clock.MonotonicNs();
  const int64_t started_ns = clock.WallNs();
  RunAggregator aggregator("local", *plan, started_ns);
  AgentMeta local;
  local.id = "local";
  local.name = "local";
  local.region = "local";
  AggregatorSink summary(&aggregator, local);
  std::unique_ptr<CsvSink> csv;
  std::vector<RecordSink*> sinks = {&summary};
  if (!flags->out.empty()) {
    auto opened = CsvSink::Open(flags->out);
    if (!opened.ok()) {
      std::cerr << "stampede-agent: " << opened.status().message() << "\n";
      return 2;
    }
    csv = std::move(*opened);
    sinks.push_back(csv.get());
  }
  TeeSink tee(sinks);
  EngineOptions options;
  options.threads = flags->threads;
  Engine engine(*plan, options, &tee);

  // Ctrl-C / SIGTERM stop the run cleanly (in-flight requests become "aborted" records) instead
  // of killing the process: blocked here, inherited by the workers, taken by the watcher below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::atomic<bool> done{false};
  std::atomic<bool> interrupted{false};
  const bool live = !flags->quiet && isatty(STDERR_FILENO);
  std::thread watcher([&] {
    uint64_t last_count = 0;
    int64_t last_ns = start_mono;
    while (!done.load()) {
      timespec wait{0, 250'000'000};
      if (sigtimedwait(&signals, nullptr, &wait) > 0) {
        interrupted = true;
        engine.Stop();
      }
      if (live && !done.load()) {
        const int64_t now = clock.MonotonicNs();
        const Progress p = aggregator.LiveProgress(clock.WallNs());
        const double rps = static_cast<double>(p.totals().requests() - last_count) /
                           (static_cast<double>(now - last_ns) / 1e9);
        last_count = p.totals().requests();
        last_ns = now;
        std::cerr << ProgressLine(static_cast<double>(now - start_mono) / 1e9, p,
                                  engine.Progress().in_flight, rps)
                  << std::flush;
      }
    }
  });
  absl::Status run = engine.Run(start_mono);
  done = true;
  watcher.join();
  if (live) std::cerr << "\n";
  if (!run.ok()) {
    std::cerr << "stampede-agent: " << run.message() << "\n";
    return 2;
  }
  if (csv != nullptr) {
    if (absl::Status s = csv->Close(); !s.ok()) {
      std::cerr << "stampede-agent: " << s.message() << "\n";
      return 1;
    }
  }
  const RunReport report =
      LocalReport(aggregator, *plan, interrupted, started_ns, clock.WallNs());
  std::cout << (flags->json ? FormatReportJson(report) : FormatReportText(report));
  if (!flags->out.empty() && !flags->json) {
    std::cout << "records: " << flags->out << " (" << report.totals().requests() << " lines)\n";
  }
  if (interrupted) return 130;
  return report.threshold_failures().empty() ? 0 : 1;
}

}  // namespace stampede
