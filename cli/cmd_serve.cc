// stampede serve: the coordinator service in the foreground until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "cli/flag_specs.h"
#include "common/log_line.h"
#include "coordinator/server.h"

namespace stampede {

int CmdServe(const Args& args) {
  ServerOptions options;
  const CommandSpec spec = {
      .command = "stampede serve",
      .description = "The coordinator service, in the foreground until SIGINT or SIGTERM.",
      .flags = {
          {.name = "--listen",
           .value = "HOST:PORT",
           .default_value = options.listen,
           .help = "address for agents and clients; port 0 lets the kernel pick"},
          {.name = "--db",
           .value = "PATH",
           .default_value = options.db_path,
           .help = "the SQLite store file"},
          {.name = "--token",
           .value = "T",
           .default_help = "$STAMPEDE_TOKEN; empty: no token",
           .help = "token that agents and clients must present (visible in the process table: "
                   "prefer --token-file)"},
          TokenFileFlag(),
          {.name = "--agent-grace",
           .value = "D",
           .default_value = absl::FormatDuration(options.manager.agent_grace),
           .help = "an agent not heard from for this long is marked lost in its runs (its "
                   "records that come later are still stored)"},
          {.name = "--resume-grace",
           .value = "D",
           .default_value = absl::FormatDuration(options.manager.resume_grace),
           .help = "after a restart, how long the agents of unfinished runs have to come back "
                   "before those runs end as interrupted"},
          {.name = "--late-window",
           .value = "D",
           .default_value = absl::FormatDuration(options.manager.late_window),
           .help = "how long after its end a run still takes records that arrive late"},
          {.name = "--tls-cert", .value = "CERT.pem", .help = "TLS certificate (with --tls-key)"},
          {.name = "--tls-key", .value = "KEY.pem", .help = "TLS private key"},
          {.name = "--tls-client-ca",
           .value = "CA.pem",
           .help = "mutual TLS: agents and clients need a certificate from this CA, and an "
                   "agent registers under a name its certificate carries (CN or SAN)"},
          {.name = "--insecure-plaintext",
           .help = "allow a non-loopback --listen without TLS (the token and the plans' bearer "
                   "keys then cross the network in the clear)"},
          {.name = "--log-level",
           .value = "LEVEL",
           .default_value = "info",
           .help = "which key=value log lines are written (stderr): error, warn (also refused "
                   "agents and batches, lost agents), info (also agents joining and leaving, runs "
                   "starting and ending), debug (also every batch)"}}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  const std::optional<LogLevel> level = ParseLogLevel(flags->String("--log-level"));
  if (!level.has_value()) {
    return Fail(
        "serve",
        absl::InvalidArgumentError(absl::StrCat("--log-level: expected one of ", kLogLevelNames,
                                                ", got \"", flags->String("--log-level"), "\"")),
        2);
  }
  options.manager.log_level = *level;
  options.listen = flags->String("--listen");
  options.db_path = flags->String("--db");
  auto token = ResolveToken(*flags);
  if (!token.ok()) return Fail("serve", token.status(), 2);
  options.manager.token = *token;
  options.insecure_plaintext = flags->Bool("--insecure-plaintext");
  options.tls.cert = flags->String("--tls-cert");
  options.tls.key = flags->String("--tls-key");
  options.tls.ca = flags->String("--tls-client-ca");
  auto grace = flags->Duration("--agent-grace", absl::Nanoseconds(1));
  if (!grace.ok()) return Fail("serve", grace.status(), 2);
  options.manager.agent_grace = *grace;
  auto resume = flags->Duration("--resume-grace", absl::Nanoseconds(1));
  if (!resume.ok()) return Fail("serve", resume.status(), 2);
  options.manager.resume_grace = *resume;
  auto late = flags->Duration("--late-window", absl::ZeroDuration());
  if (!late.ok()) return Fail("serve", late.status(), 2);
  options.manager.late_window = *late;
  // SIGINT/SIGTERM end the server cleanly (store flushed): taken by a waiting thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = CoordinatorServer::Start(options);
  if (!server.ok()) return Fail("serve", server.status(), ExitCodeFor(server.status()));
  std::cout << "coordinator listening on " << (*server)->address() << ", store " << options.db_path
            << (options.tls.empty() && options.insecure_plaintext
                    ? " (PLAINTEXT beyond loopback: --insecure-plaintext)"
                : options.tls.empty()    ? " (plaintext, loopback only)"
                : options.tls.ca.empty() ? " (TLS)"
                                         : " (mutual TLS)")
            << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "stopping (signal " << sig << ")" << std::endl;
  (*server)->Shutdown();
  return 0;
}

}  // namespace stampede
