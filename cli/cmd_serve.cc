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
           .help = "token that agents and clients must present"},
          {.name = "--agent-grace",
           .value = "D",
           .default_value = absl::FormatDuration(options.manager.agent_grace),
           .help = "a disconnected or silent agent is marked lost in its runs after this long"},
          {.name = "--tls-cert", .value = "CERT.pem", .help = "TLS certificate (with --tls-key)"},
          {.name = "--tls-key", .value = "KEY.pem", .help = "TLS private key"},
          {.name = "--tls-client-ca",
           .value = "CA.pem",
           .help = "mutual TLS: agents and clients need a certificate from this CA"}}};
  int parse_code = 0;
  auto flags = ParseOrExit(spec, args, &parse_code);
  if (!flags) return parse_code;
  options.listen = flags->String("--listen");
  options.db_path = flags->String("--db");
  options.manager.token = TokenOr(flags->String("--token"));
  options.tls.cert = flags->String("--tls-cert");
  options.tls.key = flags->String("--tls-key");
  options.tls.ca = flags->String("--tls-client-ca");
  auto grace = flags->Duration("--agent-grace", absl::Nanoseconds(1));
  if (!grace.ok()) return Fail("serve", grace.status(), 2);
  options.manager.agent_grace = *grace;
  // SIGINT/SIGTERM end the server cleanly (store flushed): taken by a waiting thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto server = CoordinatorServer::Start(options);
  if (!server.ok()) return Fail("serve", server.status(), ExitCodeFor(server.status()));
  std::cout << "coordinator listening on " << (*server)->address() << ", store " << options.db_path
            << (options.tls.empty()      ? " (plaintext: use TLS beyond loopback)"
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
