// stampede run / watch / demo.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/plan_loader.h"
#include "coordinator/cli.h"
#include "coordinator/cli_client.h"
#include "coordinator/cli_flags.h"
#include "coordinator/cli_runner.h"
#include "coordinator/embedded_cluster.h"
#include "coordinator/progress_view.h"
#include "coordinator/report_format.h"
#include "coordinator/store.h"

extern char** environ;

namespace stampede {
namespace {

int Fail(const std::string& command, const absl::Status& status, int code) {
  std::cerr << "stampede " << command << ": " << status.message() << "\n";
  return code;
}

struct OutputMode {
  bool json = false;
  bool quiet = false;
};

// Follows a run to its end with live progress; returns false if the stream broke.
absl::Status FollowRun(CoordinatorClient& client, const std::string& run_id,
                       const OutputMode& mode) {
  // Progress goes to the terminal; with --json, stdout carries only the report.
  std::ostream& out = mode.json ? std::cerr : std::cout;
  const bool tty = isatty(mode.json ? STDERR_FILENO : STDOUT_FILENO);
  ProgressView view(&out, tty);
  absl::Status s = WaitForRun(client, run_id, [&](const Progress& progress) {
    if (!mode.quiet && (!mode.json || tty)) view.Show(progress);
  });
  view.Finish();
  return s;
}

// Prints the final report; the exit code says whether it passed.
int PrintReport(CoordinatorClient& client, const std::string& run_id, const OutputMode& mode,
                const std::string& command) {
  absl::StatusOr<RunReport> report = FetchReport(client, run_id);
  if (!report.ok()) return Fail(command, report.status(), 3);
  std::cout << (mode.json ? FormatReportJson(*report) : FormatReportText(*report));
  if (report->threshold_failures_size() > 0) return 1;
  return report->state() == "finished" ? 0 : 1;
}

int StartAndFollow(CoordinatorClient& client, const Plan& plan, const OutputMode& mode,
                   std::string* run_id_out) {
  absl::StatusOr<StartRunResponse> started = StartRunOn(client, plan);
  if (!started.ok()) {
    const absl::Status& s = started.status();
    return Fail("run", s, s.code() == absl::StatusCode::kInvalidArgument ? 2 : 3);
  }
  const StartRunResponse& response = *started;
  std::vector<std::string> agents;
  for (const auto& a : response.agents()) {
    agents.push_back(absl::StrCat(a.name(), " (", a.region(), ")"));
  }
  (mode.json ? std::cerr : std::cout)
      << "run " << response.run_id() << " started on " << response.agents_size()
      << " agent(s): " << absl::StrJoin(agents, ", ") << std::endl;
  if (run_id_out != nullptr) *run_id_out = response.run_id();
  if (auto s = FollowRun(client, response.run_id(), mode); !s.ok()) return Fail("run", s, 3);
  return PrintReport(client, response.run_id(), mode, "run");
}

}  // namespace

// `stampede run`; also tells the demo which run it was.
int RunPlanCommand(const Args& args, std::string* run_id_out) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token", "--local-agents", "--db",
                                      "--regions"},
                               {"--json", "--quiet"});
  if (!flags.ok()) return Fail("run", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede run PLAN.json [--coordinator HOST:PORT] [--local-agents N] "
                 "[--json]\n";
    return 2;
  }
  auto local_agents = flags->GetInt("--local-agents", 2, 1, 64);
  if (!local_agents.ok()) return Fail("run", local_agents.status(), 2);
  // The plan is loaded here, on the client: payload and key are read locally and travel to the
  // agents over the link, never through a file on the coordinator.
  auto plan = LoadPlan(flags->positional()[0]);
  if (!plan.ok()) return Fail("run", plan.status(), 2);
  OutputMode mode{flags->Has("--json"), flags->Has("--quiet")};

  if (auto address = flags->Get("--coordinator")) {
    auto client = DialCoordinator(*address, TokenOr(flags->GetOr("--token", "")));
    if (!client.ok()) return Fail("run", client.status(), 3);
    return StartAndFollow(*client, *plan, mode, run_id_out);
  }
  const EmbeddedOptions options = EmbeddedOptionsForPlan(
      *local_agents, flags->GetOr("--db", "stampede.db"), flags->Get("--regions"), &*plan);
  auto cluster = EmbeddedCluster::Start(options);
  if (!cluster.ok()) return Fail("run", cluster.status(), 3);
  auto client = DialCoordinator((*cluster)->address(), "");
  if (!client.ok()) return Fail("run", client.status(), 3);
  const int code = StartAndFollow(*client, *plan, mode, run_id_out);
  if (!mode.json) std::cout << "store: " << options.db_path << "\n";
  return code;
}

int CmdRun(const Args& args) { return RunPlanCommand(args, nullptr); }

int CmdWatch(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token"}, {"--json"});
  if (!flags.ok()) return Fail("watch", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede watch RUN [--coordinator HOST:PORT] [--json]\n";
    return 2;
  }
  auto client = DialCoordinator(flags->GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags->GetOr("--token", "")));
  if (!client.ok()) return Fail("watch", client.status(), 3);
  OutputMode mode{flags->Has("--json"), false};
  if (auto s = FollowRun(*client, flags->positional()[0], mode); !s.ok()) {
    return Fail("watch", s, 3);
  }
  return PrintReport(*client, flags->positional()[0], mode, "watch");
}

namespace {

// The simulated model service for the demo, started from the binary next to this one.
class TargetProcess {
 public:
  ~TargetProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (out_ != nullptr) fclose(out_);
  }
  absl::StatusOr<int> Start(const std::vector<std::string>& flags) {
    const std::string bin =
        (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "stampede-target")
            .string();
    std::vector<std::string> argv = {bin, "--port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    const int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    if (rc != 0) {
      pid_ = -1;
      return absl::NotFoundError(absl::StrCat("cannot start ", bin, ": ", strerror(rc)));
    }
    char line[256];
    while (fgets(line, sizeof(line), out_) != nullptr) {
      std::string s(line);
      if (s.find("listening on") == std::string::npos) continue;
      int port = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(s.substr(s.rfind(':') + 1)), &port)) {
        return port;
      }
    }
    return absl::InternalError(absl::StrCat(bin, " exited before listening"));
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

}  // namespace

int CmdDemo(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--dir"}, {"--json"});
  if (!flags.ok()) return Fail("demo", flags.status(), 2);
  const std::filesystem::path dir = flags->GetOr("--dir", "stampede-demo");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail("demo", absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ",
                                                         ec.message())),
                2);
  }
  // A model service of known capacity: 4 replicas x 8 concurrent / 20 ms = 1600 requests/s,
  // answering 503 once 32 requests per replica are waiting.
  TargetProcess target;
  auto port = target.Start({"--replicas", "4", "--concurrency", "8", "--queue", "32",
                            "--service-ms", "20", "--service-dist", "lognormal", "--jitter",
                            "0.3"});
  if (!port.ok()) return Fail("demo", port.status(), 3);
  std::ofstream(dir / "payload.json")
      << "{\"inputs\": [[0.12, 0.5, 0.33, 0.91, 0.07, 0.64, 0.28, 0.45]]}\n";
  const std::string plan_path = (dir / "demo-plan.json").string();
  std::ofstream(plan_path) << absl::StrCat(R"({
  "name": "demo",
  "target": {
    "url": "http://127.0.0.1:)", *port, R"(/score",
    "headers": {"Content-Type": "application/json"},
    "payloadFile": "payload.json",
    "timeout": "5s"
  },
  "agents": {"regions": ["eastus", "westeurope", "southeastasia"]},
  "stages": [
    {"name": "warm-up", "concurrency": 1, "requests": 100},
    {"name": "step", "concurrency": 8, "duration": "3s"},
    {"name": "ramp", "rate": 100, "rampTo": 450, "duration": "4s"}
  ],
  "thresholds": {"p99Ms": 500, "errorRate": 0.01}
}
)");
  std::cout << "demo: simulated model service on 127.0.0.1:" << *port
            << " (4 replicas x 8 concurrent, ~20 ms: capacity ~1600 req/s)\n"
            << "demo: plan " << plan_path << ", 3 local agents in eastus, westeurope, "
            << "southeastasia\n";
  const std::string db = (dir / "stampede.db").string();
  Args run_args = {plan_path, "--local-agents", "3", "--db", db,
                   "--regions", "eastus,westeurope,southeastasia"};
  if (flags->Has("--json")) run_args.push_back("--json");
  std::string run_id;
  const int code = RunPlanCommand(run_args, &run_id);
  if (run_id.empty()) return code;
  // The full report next to the database, for people and for scripts.
  auto store = Store::Open(db);
  if (store.ok()) {
    if (auto report = (*store)->GetReport(run_id); report.ok()) {
      std::ofstream(dir / "report.json") << FormatReportJson(*report);
    }
  }
  std::cout << "\nfull report: " << (dir / "report.json").string()
            << "   (again: build/bin/stampede report " << run_id << " --db " << db
            << " --format text|json|csv)\n"
            << "database:    " << db << "   (try: sqlite3 " << db
            << " 'SELECT region, COUNT(*), AVG(latency_us) FROM records GROUP BY region';"
            << " more in docs/queries.sql)\n";
  return code;
}

}  // namespace stampede
