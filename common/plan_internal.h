// Helpers shared by the parts of plan loading: the JSON walk (plan_json.cc), the semantic rules
// (plan_validation.cc) and loading, resolution and summaries (plan_loader.cc). Internal to
// common/; other targets use plan_loader.h.
#ifndef STAMPEDE_COMMON_PLAN_INTERNAL_H_
#define STAMPEDE_COMMON_PLAN_INTERNAL_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"

namespace stampede::plan_internal {

// google.protobuf.Duration's documented range (about 10000 years).
inline constexpr int64_t kMaxProtoDurationSeconds = 315576000000;

// Integral values print without exponent or decimals ("500", not "500.0" or "5e+02").
inline std::string FormatNumber(double v) {
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 1e15) {
    return absl::StrFormat("%.0f", v);
  }
  return absl::StrFormat("%.6g", v);
}

inline absl::Duration ToAbsl(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// absl prints a zero duration as "0"; "0s" reads better next to "(0s, 1h]".
inline std::string HumanDuration(absl::Duration d) {
  return d == absl::ZeroDuration() ? "0s" : absl::FormatDuration(d);
}

inline std::string HumanDuration(const google::protobuf::Duration& d) {
  return HumanDuration(ToAbsl(d));
}

// Protobuf's JSON errors end with an excerpt of the input and a caret on separate lines; a status
// message should be one line, so keep the sentence and quote the excerpt line.
inline std::string OneLine(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  std::string out(absl::StripAsciiWhitespace(lines[0]));
  if (lines.size() > 1 && !absl::StripAsciiWhitespace(lines[1]).empty()) {
    absl::StrAppend(&out, " near \"", absl::StripAsciiWhitespace(lines[1]), "\"");
  }
  return out;
}

}  // namespace stampede::plan_internal

#endif  // STAMPEDE_COMMON_PLAN_INTERNAL_H_
