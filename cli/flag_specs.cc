#include "cli/flag_specs.h"

#include "cli/coordinator_client.h"

namespace stampede {

FlagSpec CoordinatorFlag() {
  return {.name = "--coordinator",
          .value = "HOST:PORT",
          .default_value = DefaultCoordinatorAddress(),
          .default_help = "$STAMPEDE_COORDINATOR or 127.0.0.1:7700",
          .help = "the coordinator to ask"};
}

FlagSpec EmbeddedCoordinatorFlag() {
  return {.name = "--coordinator",
          .value = "HOST:PORT",
          .default_help = "$STAMPEDE_COORDINATOR; neither: embedded",
          .help =
              "run on this coordinator and its agents; without it (and without the variable) "
              "the run is embedded: an in-process coordinator and --local-agents agents"};
}

FlagSpec TokenFlag() {
  return {.name = "--token",
          .value = "T",
          .default_help = "$STAMPEDE_TOKEN",
          .help = "the coordinator's client token"};
}

FlagSpec TokenFileFlag() {
  return {.name = "--token-file",
          .value = "PATH",
          .help = "read the token from this file (keeps it out of the process table)"};
}

FlagSpec ReadDbFlag() {
  return {.name = "--db",
          .value = "PATH",
          .help = "read this store file instead of asking a coordinator"};
}

FlagSpec LocalAgentsFlag(const std::string& default_help) {
  return {.name = "--local-agents",
          .value = "N",
          .default_value = "2",
          .default_help = default_help,
          .help = "agents of the embedded run, 1 to 64"};
}

FlagSpec EmbeddedDbFlag() {
  return {.name = "--db",
          .value = "PATH",
          .default_value = "stampede.db",
          .help = "store file of the embedded run"};
}

FlagSpec RegionsFlag() {
  return {.name = "--regions",
          .value = "R1,R2",
          .default_help = "the plan's agents.regions",
          .help = "regions of the embedded agents, round robin"};
}

FlagSpec JsonFlag(const std::string& help) { return {.name = "--json", .help = help}; }

namespace {

std::vector<FlagSpec> TlsFlags() {
  return {{.name = "--tls-ca",
           .value = "PEM",
           .default_help = "$STAMPEDE_TLS_CA",
           .help = "CA of the coordinator's certificate: the link uses TLS"},
          {.name = "--tls-cert",
           .value = "PEM",
           .default_help = "$STAMPEDE_TLS_CERT",
           .help = "client certificate, for a coordinator that requires mutual TLS"},
          {.name = "--tls-key",
           .value = "PEM",
           .default_help = "$STAMPEDE_TLS_KEY",
           .help = "the client certificate's private key"}};
}

}  // namespace

std::vector<FlagSpec> RemoteFlags() {
  return WithFlags({CoordinatorFlag(), TokenFlag(), TokenFileFlag()}, TlsFlags());
}

std::vector<FlagSpec> EmbeddedOrRemoteFlags() {
  return WithFlags({EmbeddedCoordinatorFlag(), TokenFlag(), TokenFileFlag()}, TlsFlags());
}

std::vector<FlagSpec> WithFlags(std::vector<FlagSpec> flags, const std::vector<FlagSpec>& more) {
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

}  // namespace stampede
