// Stable names of the ErrorClass values, shared by the agent (summaries, CSV) and the coordinator
// (reports, store) so that both spell an error class the same way.
#ifndef STAMPEDE_COMMON_ERROR_NAMES_H_
#define STAMPEDE_COMMON_ERROR_NAMES_H_

#include "absl/strings/string_view.h"
#include "records.pb.h"

namespace stampede {

// Stable lowercase names used in summaries, reports, CSV and the store: "none", "connect", "dns",
// "tls", "timeout", "reset", "http_4xx", "http_5xx", "protocol", "send", "other", "aborted";
// "unknown" for a value outside the enum (e.g. from a newer agent).
absl::string_view ErrorClassName(ErrorClass error);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_ERROR_NAMES_H_
