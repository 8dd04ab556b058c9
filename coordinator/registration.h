// What an agent's Register must be before the coordinator takes it: a token compared in constant
// time, names, region and labels of bounded length and printable (they end up on every stored
// record and in every report), and, under mutual TLS, a name its certificate carries.
#ifndef STAMPEDE_COORDINATOR_REGISTRATION_H_
#define STAMPEDE_COORDINATOR_REGISTRATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "control.pb.h"

namespace stampede {

// Equal, in a time that depends on the lengths only (not on where the first difference is).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// OK, or InvalidArgument naming the field: register.name (1-128 printable characters, no
// spaces), register.region (1-64, likewise), register.labels (at most 32; keys 1-64 printable
// without spaces, values up to 256 printable), register.version, register.instanceId (up to 64),
// register.activeRuns (at most 1024 ids of up to 128).
absl::Status ValidateRegistration(const Register& reg);

// Under mutual TLS, the name an agent registers must be one its client certificate carries (its
// common name or a subject alternative name): PermissionDenied naming both otherwise.
absl::Status CheckNameMatchesCertificate(const std::string& name,
                                         const std::vector<std::string>& certificate_names);

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_REGISTRATION_H_
