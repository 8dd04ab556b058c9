// The flags that several `stampede` commands share, declared once so that they read and default
// the same everywhere (common/flags.h is the parser).
#ifndef STAMPEDE_CLI_FLAG_SPECS_H_
#define STAMPEDE_CLI_FLAG_SPECS_H_

#include <vector>

#include "common/flags.h"

namespace stampede {

// --coordinator HOST:PORT, default $STAMPEDE_COORDINATOR or 127.0.0.1:7700 (commands that always
// talk to a coordinator).
FlagSpec CoordinatorFlag();
// --coordinator HOST:PORT without a default: absent means an embedded run (run, saturate).
FlagSpec EmbeddedCoordinatorFlag();
// --token T, default $STAMPEDE_TOKEN, and --token-file PATH (keeps it out of the process table);
// ResolveToken() reads them.
FlagSpec TokenFlag();
FlagSpec TokenFileFlag();
// --db PATH: a store file to read instead of a coordinator (runs, report).
FlagSpec ReadDbFlag();
// The embedded cluster of run and saturate: --local-agents N, --db PATH, --regions R1,R2.
FlagSpec LocalAgentsFlag(const std::string& default_help);
FlagSpec EmbeddedDbFlag();
FlagSpec RegionsFlag();
FlagSpec JsonFlag(const std::string& help);

// How a remote command reaches its coordinator: --coordinator (CoordinatorFlag), --token,
// --token-file, and --tls-ca/--tls-cert/--tls-key (defaults $STAMPEDE_TLS_CA/_CERT/_KEY).
// DialFromFlags (coordinator_client.h) reads them.
std::vector<FlagSpec> RemoteFlags();
// The same for run and saturate, whose --coordinator has no default: given (or
// $STAMPEDE_COORDINATOR set) the run goes there, else it is embedded.
std::vector<FlagSpec> EmbeddedOrRemoteFlags();
// `flags` followed by `more`: a command's own flags, then a shared group.
std::vector<FlagSpec> WithFlags(std::vector<FlagSpec> flags, const std::vector<FlagSpec>& more);

}  // namespace stampede

#endif  // STAMPEDE_CLI_FLAG_SPECS_H_
