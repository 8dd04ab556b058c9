// stampede demo: a simulated model service, an embedded coordinator and three local agents in
// three "regions" through a multi-stage plan; the merged report is printed and saved.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/flag_specs.h"
#include "cli/target_process.h"
#include "coordinator/store.h"
#include "report/report_format.h"

namespace stampede {

int CmdDemo(const Args& args) {
  const CommandSpec spec = {
      .command = "stampede demo",
      .description =
          "A whole run on this machine: a simulated model service, an embedded "
          "coordinator and three local agents in three regions through a multi-stage "
          "plan. The merged report is printed and saved next to the store.",
      .flags = {{.name = "--dir",
                 .value = "DIR",
                 .default_value = "stampede-demo",
                 .help = "where the plan, payload, store and report are written"},
                JsonFlag("print the report as JSON")}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  const std::filesystem::path dir = flags->String("--dir");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(
        "demo",
        absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message())), 2);
  }
  // A model service of known capacity: 4 replicas x 8 concurrent / 20 ms = 1600 requests/s,
  // answering 503 once 32 requests per replica are waiting.
  TargetProcess target;
  auto port =
      target.Start({"--replicas", "4", "--concurrency", "8", "--queue", "32", "--service-ms", "20",
                    "--service-dist", "lognormal", "--jitter", "0.3"});
  if (!port.ok()) return Fail("demo", port.status(), 3);
  std::ofstream(dir / "payload.json")
      << "{\"inputs\": [[0.12, 0.5, 0.33, 0.91, 0.07, 0.64, 0.28, 0.45]]}\n";
  const std::string plan_path = (dir / "demo-plan.json").string();
  std::ofstream(plan_path) << absl::StrCat(R"({
  "name": "demo",
  "target": {
    "url": "http://127.0.0.1:)",
                                           *port, R"(/score",
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
  Args run_args = {
      plan_path, "--local-agents", "3", "--db", db, "--regions", "eastus,westeurope,southeastasia"};
  if (flags->Bool("--json")) run_args.push_back("--json");
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
