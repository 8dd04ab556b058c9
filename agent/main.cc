// stampede-agent: generates load. `run` runs a plan locally (single-client mode); with
// --coordinator it dials out to a coordinator and runs the plans it pushes.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/coordinator_link.h"
#include "agent/run_command.h"

namespace {

constexpr char kUsage[] =
    "stampede-agent " STAMPEDE_VERSION "\n"
    "usage:\n"
    "  stampede-agent run PLAN.json [--out records.csv] [--json] [--threads N] [--quiet]\n"
    "      run a plan on this machine alone and print a summary\n"
    "  stampede-agent --coordinator HOST:PORT [--name N] [--region R] [--label k=v]...\n"
    "                 [--token T] [--threads N] [--allow-host HOST|*.DOMAIN]...\n"
    "                 [--tls-ca CA.pem [--tls-cert CERT.pem --tls-key KEY.pem]]\n"
    "      dial out to a coordinator and run the plans it pushes (reconnects by itself)\n";

std::string DefaultName() {
  char host[256] = "agent";
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", getpid());
}

int ServeCoordinator(const std::vector<std::string>& args) {
  stampede::LinkOptions options;
  options.name = DefaultName();
  options.region = "default";
  if (const char* token = std::getenv("STAMPEDE_TOKEN")) options.token = token;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* {
      if (i + 1 >= args.size()) return nullptr;
      return &args[++i];
    };
    const std::string* v = nullptr;
    if (a == "--coordinator" || a == "--name" || a == "--region" || a == "--label" ||
        a == "--token" || a == "--threads" || a == "--allow-host" || a == "--tls-ca" ||
        a == "--tls-cert" || a == "--tls-key") {
      v = value();
      if (v == nullptr) {
        std::cerr << "stampede-agent: " << a << ": needs a value\n";
        return 2;
      }
    } else {
      std::cerr << "stampede-agent: unknown flag " << a << "\n" << kUsage;
      return 2;
    }
    if (a == "--coordinator") options.coordinator = *v;
    if (a == "--name") options.name = *v;
    if (a == "--region") options.region = *v;
    if (a == "--token") options.token = *v;
    if (a == "--allow-host") options.allowed_hosts.push_back(*v);
    if (a == "--tls-ca") options.tls.ca = *v;
    if (a == "--tls-cert") options.tls.cert = *v;
    if (a == "--tls-key") options.tls.key = *v;
    if (a == "--label") {
      const size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "stampede-agent: --label: expected key=value, got \"" << *v << "\"\n";
        return 2;
      }
      options.labels[v->substr(0, eq)] = v->substr(eq + 1);
    }
    if (a == "--threads" && (!absl::SimpleAtoi(*v, &options.threads) || options.threads < 1 ||
                             options.threads > 1024)) {
      std::cerr << "stampede-agent: --threads: expected a number from 1 to 1024, got \"" << *v
                << "\"\n";
      return 2;
    }
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
  std::cout << "agent " << options.name << " (" << options.region << ") dialling "
            << options.coordinator << std::endl;
  absl::Status status = link.Run();
  // Wake the signal thread if Run ended on its own (rejected).
  kill(getpid(), SIGTERM);
  stopper.join();
  if (!status.ok()) {
    std::cerr << "stampede-agent: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << "stampede-agent " STAMPEDE_VERSION "\n";
    return 0;
  }
  if (args[0] == "run") {
    return stampede::RunLocalCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (args[0].rfind("--", 0) == 0) return ServeCoordinator(args);
  std::cerr << "stampede-agent: unknown command \"" << args[0] << "\" (try --help)\n";
  return 2;
}
