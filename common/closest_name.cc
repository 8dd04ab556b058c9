#include "common/closest_name.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace stampede {
namespace {

bool Same(char a, char b) { return absl::ascii_tolower(a) == absl::ascii_tolower(b); }

// Optimal-string-alignment distance, case-insensitive, in three rolling rows.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  const size_t m = b.size();
  std::vector<size_t> before(m + 1), previous(m + 1), current(m + 1);
  for (size_t j = 0; j <= m; ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (Same(a[i - 1], b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && Same(a[i - 1], b[j - 2]) && Same(a[i - 2], b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[m];
}

}  // namespace

std::optional<std::string> ClosestName(absl::string_view given,
                                       const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& name : candidates) {
    const size_t allowed = std::max<size_t>(1, name.size() / 3);
    const bool prefix = given.size() >= 3 && absl::StartsWithIgnoreCase(name, given);
    const size_t gap = given.size() > name.size() ? given.size() - name.size()
                                                   : name.size() - given.size();
    // The distance is at least the difference in length: beyond `allowed`, only a prefix could
    // still match, and its distance is that difference.
    const size_t distance = gap > allowed ? gap : EditDistance(given, name);
    if ((distance <= allowed || prefix) && distance < best_distance) {
      best = &name;
      best_distance = distance;
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

}  // namespace stampede
