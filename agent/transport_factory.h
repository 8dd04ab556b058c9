// Picks the transport for a plan's target, once per run (as wrk picks its socket functions once):
// native HTTP/1.1 for plain http:// HTTP/1.1 targets unless the plan says "client": "curl";
// libcurl for everything else (https://, HTTP/2), and for an http:// host that does not resolve
// (libcurl then records a DNS error for every request instead of the run failing to start).
#ifndef STAMPEDE_AGENT_TRANSPORT_FACTORY_H_
#define STAMPEDE_AGENT_TRANSPORT_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/transport.h"
#include "plan.pb.h"

namespace stampede {

// `target` must be resolved (payload bytes and bearer key read by the plan loader). Fails when
// the run cannot start with this target: options libcurl rejects, cleartext HTTP/2 on a libcurl
// that breaks it, payloads named but not loaded, a URL that does not parse. Any thread.
absl::StatusOr<std::unique_ptr<TransportFactory>> ChooseTransport(const Target& target);

}  // namespace stampede

#endif  // STAMPEDE_AGENT_TRANSPORT_FACTORY_H_
