// "Did you mean ...?": the declared name a mistyped one most likely meant. Shared by the plan
// loader (unknown fields) and the flag parser (unknown flags).
#ifndef STAMPEDE_COMMON_CLOSEST_NAME_H_
#define STAMPEDE_COMMON_CLOSEST_NAME_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace stampede {

// The candidate closest to `given`: within an edit distance of a third of the candidate's length
// (at least 1; case-insensitive; a transposition such as "nmae" counts as one edit, the typo
// people make), or starting with `given` when `given` has three characters or more ("p99" for
// "p99Ms"). nullopt when none is close. Time and memory stay bounded whatever `given` is (a
// candidate whose length differs by more than the allowed distance is not compared), so a hostile
// megabyte-long key costs nothing.
std::optional<std::string> ClosestName(absl::string_view given,
                                       const std::vector<std::string>& candidates);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_CLOSEST_NAME_H_
