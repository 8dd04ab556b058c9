// stampede validate / serve / agents / runs / abort / report.
#include <signal.h>

#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/plan_loader.h"
#include "coordinator/cli.h"
#include "coordinator/cli_client.h"
#include "coordinator/cli_flags.h"
#include "coordinator/report_format.h"
#include "coordinator/server.h"
#include "coordinator/services.h"

namespace stampede {
namespace {

int Fail(const std::string& command, const absl::Status& status, int code) {
  std::cerr << "stampede " << command << ": " << status.message() << "\n";
  return code;
}

// Exit code for a failed RPC: 3 for "the coordinator could not", 2 for bad input.
int CodeFor(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
}

std::string FormatTime(int64_t ns) {
  if (ns == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

int CmdValidate(const Args& args) {
  auto flags = CliFlags::Parse(args, {}, {});
  if (!flags.ok()) return Fail("validate", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede validate PLAN.json\n";
    return 2;
  }
  auto plan = LoadPlan(flags->positional()[0]);
  if (!plan.ok()) {
    std::cout << "invalid: " << plan.status().message() << "\n";
    return 2;
  }
  std::cout << "ok: " << PlanSummary(*plan) << "\n";
  return 0;
}

int CmdServe(const Args& args) {
  auto flags = CliFlags::Parse(args,
                               {"--listen", "--db", "--token", "--agent-grace", "--tls-cert",
                                "--tls-key", "--tls-client-ca"},
                               {});
  if (!flags.ok()) return Fail("serve", flags.status(), 2);
  ServerOptions options;
  options.listen = flags->GetOr("--listen", "127.0.0.1:7700");
  options.db_path = flags->GetOr("--db", "stampede.db");
  options.manager.token = TokenOr(flags->GetOr("--token", ""));
  options.tls.cert = flags->GetOr("--tls-cert", "");
  options.tls.key = flags->GetOr("--tls-key", "");
  options.tls.ca = flags->GetOr("--tls-client-ca", "");
  if (auto grace = flags->Get("--agent-grace")) {
    if (!absl::ParseDuration(*grace, &options.manager.agent_grace) ||
        options.manager.agent_grace <= absl::ZeroDuration()) {
      return Fail("serve",
                  absl::InvalidArgumentError(absl::StrCat(
                      "--agent-grace: expected a duration like 5s, got \"", *grace, "\"")),
                  2);
    }
  }
  // SIGINT/SIGTERM end the server cleanly (store flushed): taken by a waiting thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = CoordinatorServer::Start(options);
  if (!server.ok()) {
    return Fail("serve", server.status(),
                server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 3);
  }
  std::cout << "coordinator listening on " << (*server)->address() << ", store " << options.db_path
            << (options.tls.empty() ? " (plaintext: use TLS beyond loopback)"
                                    : options.tls.ca.empty() ? " (TLS)" : " (mutual TLS)")
            << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "stopping (signal " << sig << ")" << std::endl;
  (*server)->Shutdown();
  return 0;
}

int CmdAgents(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token"}, {"--json"});
  if (!flags.ok()) return Fail("agents", flags.status(), 2);
  auto client = DialCoordinator(flags->GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags->GetOr("--token", "")));
  if (!client.ok()) return Fail("agents", client.status(), 3);
  ListAgentsRequest request;
  request.set_token(client->token);
  ListAgentsResponse response;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->ListAgents(&ctx, request, &response)); !s.ok()) {
    return Fail("agents", s, 3);
  }
  if (flags->Has("--json")) {
    std::vector<std::string> rows;
    for (const auto& a : response.agents()) {
      rows.push_back(absl::StrFormat(
          "{\"id\": \"%s\", \"name\": \"%s\", \"region\": \"%s\", \"state\": \"%s\", "
          "\"cores\": %d, \"clockOffsetMs\": %.3f, \"clockUncertaintyMs\": %.3f}",
          a.id(), a.name(), a.region(), a.state(), a.cores(), a.clock_offset_ns() / 1e6,
          a.clock_uncertainty_ns() / 1e6));
    }
    std::cout << "[" << absl::StrJoin(rows, ",\n ") << "]\n";
    return 0;
  }
  if (response.agents_size() == 0) {
    std::cout << "no agents connected to " << client->address << "\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-20s %-16s %-24s %-22s %5s %s\n", "name", "region", "labels",
                               "state", "cores", "clock offset");
  for (const auto& a : response.agents()) {
    std::vector<std::string> labels;
    for (const auto& [k, v] : a.labels()) labels.push_back(absl::StrCat(k, "=", v));
    std::sort(labels.begin(), labels.end());
    std::cout << absl::StrFormat("%-20s %-16s %-24s %-22s %5d %+.3fms ± %.3fms\n", a.name(),
                                 a.region(), absl::StrJoin(labels, ","), a.state(), a.cores(),
                                 a.clock_offset_ns() / 1e6, a.clock_uncertainty_ns() / 1e6);
  }
  return 0;
}

namespace {

// Runs and reports come from a coordinator, or straight from a store file with --db.
absl::StatusOr<std::vector<RunSummary>> FetchRuns(const CliFlags& flags) {
  if (auto db = flags.Get("--db")) {
    auto store = Store::Open(*db);
    if (!store.ok()) return store.status();
    return (*store)->ListRuns();
  }
  auto client = DialCoordinator(flags.GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags.GetOr("--token", "")));
  if (!client.ok()) return client.status();
  ListRunsRequest request;
  request.set_token(client->token);
  ListRunsResponse response;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->ListRuns(&ctx, request, &response)); !s.ok()) return s;
  return std::vector<RunSummary>(response.runs().begin(), response.runs().end());
}

absl::StatusOr<RunReport> FetchReport(const CliFlags& flags, const std::string& run_id) {
  if (auto db = flags.Get("--db")) {
    auto store = Store::Open(*db);
    if (!store.ok()) return store.status();
    return (*store)->GetReport(run_id);
  }
  auto client = DialCoordinator(flags.GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags.GetOr("--token", "")));
  if (!client.ok()) return client.status();
  RunRef ref;
  ref.set_token(client->token);
  ref.set_run_id(run_id);
  RunReport report;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->GetReport(&ctx, ref, &report)); !s.ok()) return s;
  return report;
}

}  // namespace

int CmdRuns(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token", "--db"}, {});
  if (!flags.ok()) return Fail("runs", flags.status(), 2);
  auto runs = FetchRuns(*flags);
  if (!runs.ok()) return Fail("runs", runs.status(), 3);
  if (runs->empty()) {
    std::cout << "no runs yet\n";
    return 0;
  }
  std::cout << absl::StrFormat("%-24s %-16s %-26s %-20s %7s %10s %8s\n", "run", "plan", "state",
                               "started (UTC)", "agents", "requests", "errors");
  for (const auto& r : *runs) {
    std::cout << absl::StrFormat("%-24s %-16s %-26s %-20s %7d %10d %8d\n", r.run_id(),
                                 r.plan_name(), r.state(), FormatTime(r.started_ns()), r.agents(),
                                 r.requests(), r.errors());
  }
  return 0;
}

int CmdAbort(const Args& args) {
  auto flags = CliFlags::Parse(args, {"--coordinator", "--token"}, {});
  if (!flags.ok()) return Fail("abort", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede abort RUN [--coordinator ADDR]\n";
    return 2;
  }
  auto client = DialCoordinator(flags->GetOr("--coordinator", DefaultCoordinatorAddress()),
                                TokenOr(flags->GetOr("--token", "")));
  if (!client.ok()) return Fail("abort", client.status(), 3);
  RunRef ref;
  ref.set_token(client->token);
  ref.set_run_id(flags->positional()[0]);
  RunSummary summary;
  grpc::ClientContext ctx;
  if (auto s = FromGrpc(client->stub->Abort(&ctx, ref, &summary)); !s.ok()) {
    return Fail("abort", s, 3);
  }
  std::cout << "run " << summary.run_id() << ": " << summary.state() << "\n";
  return 0;
}

int CmdReport(const Args& args) {
  auto flags =
      CliFlags::Parse(args, {"--coordinator", "--token", "--db", "--format", "-o", "--output"}, {});
  if (!flags.ok()) return Fail("report", flags.status(), 2);
  if (flags->positional().size() != 1) {
    std::cerr << "usage: stampede report RUN [--format text|json|csv] [-o FILE] "
                 "[--coordinator ADDR | --db PATH]\n";
    return 2;
  }
  const std::string format = flags->GetOr("--format", "text");
  if (format != "text" && format != "json" && format != "csv") {
    return Fail("report",
                absl::InvalidArgumentError(absl::StrCat(
                    "--format: expected text, json or csv, got \"", format, "\"")),
                2);
  }
  auto report = FetchReport(*flags, flags->positional()[0]);
  if (!report.ok()) return Fail("report", report.status(), CodeFor(report.status()));
  const std::string text = format == "json"  ? FormatReportJson(*report)
                           : format == "csv" ? FormatReportCsv(*report)
                                             : FormatReportText(*report);
  const std::string out = flags->GetOr("-o", flags->GetOr("--output", ""));
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream file(out);
  file << text;
  file.close();
  if (!file) {
    return Fail("report", absl::UnavailableError(absl::StrCat("-o: cannot write \"", out, "\"")),
                2);
  }
  std::cout << "wrote " << out << "\n";
  return 0;
}

}  // namespace stampede
