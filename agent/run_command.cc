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
#include "agent/csv_sink.h"
#include "agent/engine.h"
#include "agent/summary.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/plan_loader.h"

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

std::string ProgressLine(double elapsed_s, const Summary& s, uint64_t in_flight, double rps) {
  const Histogram& h = s.all.latency;
  return absl::StrFormat(
      "\r[%6.1fs] %10d req  %9.1f req/s  %7d errors  %5d in flight  p50 %8.3fms  p99 %8.3fms ",
      elapsed_s, s.all.requests, rps, s.all.errors, in_flight, h.Percentile(50) / 1e3,
      h.Percentile(99) / 1e3);
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
  SummarySink summary;
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
  const int64_t t0 = RealClock::Get().MonotonicNs();
  std::thread watcher([&] {
    uint64_t last_count = 0;
    int64_t last_ns = t0;
    while (!done.load()) {
      timespec wait{0, 250'000'000};
      if (sigtimedwait(&signals, nullptr, &wait) > 0) {
        interrupted = true;
        engine.Stop();
      }
      if (live && !done.load()) {
        const int64_t now = RealClock::Get().MonotonicNs();
        const Summary s = summary.Snapshot();
        const double rps = (s.all.requests - last_count) / ((now - last_ns) / 1e9);
        last_count = s.all.requests;
        last_ns = now;
        std::cerr << ProgressLine((now - t0) / 1e9, s, engine.Progress().in_flight, rps)
                  << std::flush;
      }
    }
  });
  absl::Status run = engine.Run();
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
  const Summary s = summary.Snapshot();
  std::cout << (flags->json ? FormatSummaryJson(s, *plan) : FormatSummaryText(s, *plan));
  if (!flags->out.empty() && !flags->json) {
    std::cout << "records: " << flags->out << " (" << s.all.requests << " lines)\n";
  }
  if (interrupted) return 130;
  return CheckThresholds(s.all, plan->thresholds()).empty() ? 0 : 1;
}

}  // namespace stampede
