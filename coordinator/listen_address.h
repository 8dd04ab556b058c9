// The --listen address of `stampede serve`: checked before gRPC sees it (gRPC takes ":99999" modulo
// 65536 and shares a port already in use through SO_REUSEPORT), and the reason a listen failed.
#ifndef STAMPEDE_COORDINATOR_LISTEN_ADDRESS_H_
#define STAMPEDE_COORDINATOR_LISTEN_ADDRESS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace stampede {

// HOST:PORT or [V6]:PORT with a port in 0..65535 (0: the kernel picks). Errors name --listen.
absl::Status CheckListenAddress(const std::string& listen);

// Why listening on `listen` would fail, found by binding a socket the way the server does:
// "the port is in use (...)", "it is not an address of this machine", ...; nullopt when the bind
// works. Asked before gRPC binds, so that the error is ours and not a gRPC log line.
std::optional<std::string> ListenProblem(const std::string& listen);

// Whether the host of `listen` is a loopback address (127.0.0.0/8, ::1, localhost).
bool IsLoopbackAddress(const std::string& listen);

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_LISTEN_ADDRESS_H_
