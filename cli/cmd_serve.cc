// stampede serve: the coordinator service in the foreground until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/cli_flags.h"
#include "cli/command_util.h"
#include "cli/commands.h"
#include "cli/coordinator_client.h"
#include "coordinator/server.h"

namespace stampede {

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
