// stampede-agent: generates load. `run` runs a plan locally (single-client mode); with
// --coordinator it dials out to a coordinator and runs the plans it pushes.
#include <grpc/support/log.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/coordinator_link.h"
#include "agent/run_command.h"
#include "common/flags.h"
#include "common/log_line.h"
#include "common/secret_file.h"

namespace {

// The --log-level, for gRPC's log function (a plain function pointer, so a global).
stampede::LogLevel g_log_level = stampede::LogLevel::kInfo;

// gRPC's own log lines ("Handshake failed with fatal error ..." on every retry) go into the
// agent's log at debug level: each failed connection is already one line of the link's
// (event=connect_failed, once per cause) carrying gRPC's message as detail=.
void GrpcLog(gpr_log_func_args* args) {
  if (!stampede::LogEnabled(g_log_level, stampede::LogLevel::kDebug)) return;
  stampede::LogToStderr(stampede::LogFields({{"event", "grpc"},
                                             {"severity", gpr_log_severity_string(args->severity)},
                                             {"where", absl::StrCat(args->file, ":", args->line)},
                                             {"message", args->message}}));
}

std::string DefaultName() {
  char host[256] = "agent";
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

// systemd's StateDirectory= sets $STATE_DIRECTORY (several directories: colon-separated, the
// first is ours). Empty when it is not set.
std::string DefaultSpoolDir() {
  const char* state = std::getenv("STATE_DIRECTORY");
  if (state == nullptr || *state == '\0') return "";
  std::string dir(state);
  dir = dir.substr(0, dir.find(':'));
  return dir.empty() ? "" : absl::StrCat(dir, "/spool");
}

// The coordinator mode's flags; its --help is the binary's.
stampede::CommandSpec AgentSpec() {
  return {
      .command = "stampede-agent",
      .usage =
          "stampede-agent --coordinator HOST:PORT [--name N] [--region R] [--label K=V]... "
          "[--token T | --token-file PATH] [--threads N] [--allow-host HOST|*.DOMAIN]... "
          "[--spool-dir DIR] [--spool-max-mb N] [--memory-max-mb N] "
          "[--tls-ca CA.pem [--tls-cert CERT.pem --tls-key KEY.pem]] [--log-level LEVEL]\n"
          "stampede-agent run PLAN.json [flags]\n"
          "stampede-agent --version",
      .description =
          "stampede-agent " STAMPEDE_VERSION
          ": generates load. With --coordinator it dials out to a coordinator and runs "
          "the plans it pushes, reconnecting by itself. `stampede-agent run --help`: "
          "run a plan on this machine alone.\n\n"
          "It logs each change of state as one key=value line on stderr (event=connecting, "
          "registered, connect_failed with its cause, link_lost, link_resumed, "
          "run_started, run_finished, refused). A coordinator it cannot reach is "
          "retried for ever; the cause is logged once, again when it changes, and as "
          "still_failing every 30 s.\n\n"
          "Exit codes: 0 stopped by SIGINT or SIGTERM; 2 bad flags or unusable TLS "
          "files; 3 refused by the coordinator (name taken, name not in the client "
          "certificate, registration out of bounds) or the spool directory in use by "
          "another agent; 4 the coordinator refused the token.",
      .flags = {{.name = "--coordinator", .value = "HOST:PORT", .help = "the coordinator to dial"},
                {.name = "--name",
                 .value = "N",
                 .default_value = DefaultName(),
                 .default_help = "HOSTNAME-PID",
                 .help = "this agent's name"},
                {.name = "--region",
                 .value = "R",
                 .default_value = "default",
                 .help = "the region plans select agents by"},
                {.name = "--label",
                 .value = "K=V",
                 .repeatable = true,
                 .help = "a label plans can select agents by"},
                {.name = "--token",
                 .value = "T",
                 .default_help = "$STAMPEDE_TOKEN",
                 .help = "the coordinator's token"},
                {.name = "--token-file",
                 .value = "PATH",
                 .help = "read the token from this file (one line), so that it is not in the "
                         "process table; not with --token"},
                {.name = "--threads",
                 .value = "N",
                 .default_help = "what the coordinator asks for",
                 .help = "worker threads, 1 to 1024"},
                {.name = "--allow-host",
                 .value = "HOST|*.DOMAIN",
                 .repeatable = true,
                 .help = "accept plans only for these target hosts; without it, for any"},
                {.name = "--spool-dir",
                 .value = "DIR",
                 .default_value = DefaultSpoolDir(),
                 .default_help = "$STATE_DIRECTORY/spool when set, else none",
                 .help = "keep unacknowledged record batches on disk here, so that a restarted "
                         "agent resends them; empty: in memory only"},
                {.name = "--spool-max-mb",
                 .value = "N",
                 .default_value = "1024",
                 .help = "disk bound of the spool; batches beyond it are kept in memory only "
                         "(counted as undurable)"},
                {.name = "--memory-max-mb",
                 .value = "N",
                 .default_value = "512",
                 .help = "memory bound of unacknowledged batches; beyond it (and the spool's) "
                         "records are dropped and counted"},
                {.name = "--tls-ca",
                 .value = "CA.pem",
                 .help = "TLS: the CA that signed the coordinator's certificate"},
                {.name = "--tls-cert",
                 .value = "CERT.pem",
                 .help = "mutual TLS: this agent's certificate (with --tls-key)"},
                {.name = "--tls-key", .value = "KEY.pem", .help = "mutual TLS: its private key"},
                {.name = "--log-level",
                 .value = "LEVEL",
                 .default_value = "info",
                 .help = "which log lines are written: error, warn (also failures to connect and "
                         "refusals), info (also state changes and runs), debug (also every "
                         "attempt and batch)"},
                {.name = "--version", .help = "print the version and exit"}}};
}

int ServeCoordinator(const std::vector<std::string>& args) {
  int parse_code = 0;
  auto flags = stampede::ParseOrExit(AgentSpec(), args, &parse_code);
  if (!flags) return parse_code;
  if (flags->Bool("--version")) {
    std::cout << "stampede-agent " STAMPEDE_VERSION "\n";
    return 0;
  }
  stampede::LinkOptions options;
  options.coordinator = flags->String("--coordinator");
  options.name = flags->String("--name");
  options.region = flags->String("--region");
  if (const char* token = std::getenv("STAMPEDE_TOKEN")) options.token = token;
  if (flags->Has("--token") && flags->Has("--token-file")) {
    std::cerr << "stampede-agent: --token and --token-file: give one of them\n";
    return 2;
  }
  if (auto token = flags->Get("--token")) options.token = *token;
  if (auto path = flags->Get("--token-file")) {
    auto token = stampede::ReadSecretFile(*path, "--token-file");
    if (!token.ok()) {
      std::cerr << "stampede-agent: " << token.status().message() << "\n";
      return 2;
    }
    options.token = *std::move(token);
  }
  options.spool_dir = flags->String("--spool-dir");
  for (const auto& [flag, bytes] : {std::pair{"--spool-max-mb", &options.spool_max_bytes},
                                    std::pair{"--memory-max-mb", &options.memory_max_bytes}}) {
    auto mb = flags->Int(flag, 1, 1 << 24);  // up to 16 TiB
    if (!mb.ok()) {
      std::cerr << "stampede-agent: " << mb.status().message() << "\n";
      return 2;
    }
    *bytes = static_cast<uint64_t>(*mb) << 20;
  }
  const auto level = stampede::ParseLogLevel(flags->String("--log-level"));
  if (!level.has_value()) {
    std::cerr << "stampede-agent: --log-level: expected one of " << stampede::kLogLevelNames
              << ", got \"" << flags->String("--log-level") << "\"\n";
    return 2;
  }
  options.log_level = *level;
  g_log_level = *level;
  gpr_set_log_function(GrpcLog);
  options.allowed_hosts = flags->All("--allow-host");
  options.tls.ca = flags->String("--tls-ca");
  options.tls.cert = flags->String("--tls-cert");
  options.tls.key = flags->String("--tls-key");
  for (const std::string& label : flags->All("--label")) {
    const size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "stampede-agent: --label: expected key=value, got \"" << label << "\"\n";
      return 2;
    }
    options.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  if (flags->Has("--threads")) {
    auto threads = flags->Int("--threads", 1, 1024);
    if (!threads.ok()) {
      std::cerr << "stampede-agent: " << threads.status().message() << "\n";
      return 2;
    }
    options.threads = static_cast<int>(*threads);
  }
  if (options.coordinator.empty() || options.name.empty() || options.region.empty()) {
    std::cerr << "stampede-agent: --coordinator, --name and --region must not be empty\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  stampede::CoordinatorLink link(options);
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    link.Shutdown();
  });
  // (The link logs event=connecting with the address, and every change of state after it.)
  if (options.spool_dir.empty() &&
      stampede::LogEnabled(options.log_level, stampede::LogLevel::kWarn)) {
    stampede::LogToStderr(
        "event=spool_disabled note=" +
        stampede::LogValue("no --spool-dir (and no $STATE_DIRECTORY): unacknowledged records are "
                           "kept in memory only and lost if this process dies"));
  }
  absl::Status status = link.Run();
  // Wake the signal thread if Run ended on its own (rejected).
  kill(getpid(), SIGTERM);
  stopper.join();
  if (!status.ok()) {
    // The exit codes of --help: a refused token has its own, so that a supervisor (or the
    // operator) can tell it from the other refusals.
    const int code = status.code() == absl::StatusCode::kInvalidArgument   ? 2
                     : status.code() == absl::StatusCode::kUnauthenticated ? 4
                                                                           : 3;
    std::cerr << "stampede-agent: " << status.message() << " (exit " << code << ")\n";
    return code;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << stampede::CommandHelp(AgentSpec());
    return 2;
  }
  if (args[0] == "help") args[0] = "--help";
  if (args[0] == "run") {
    return stampede::RunLocalCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  // The coordinator mode; its parser also answers -h/--help and --version.
  if (args[0].rfind("-", 0) == 0) return ServeCoordinator(args);
  std::cerr << "stampede-agent: unknown command \"" << args[0] << "\" (try --help)\n";
  return 2;
}
