#include "common/load_split.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stampede {

int64_t SplitCount(int64_t total, int parts, int index) {
  if (parts <= 0) return 0;
  const int64_t base = total / parts;
  const int64_t rest = total % parts;
  return base + (index < rest ? 1 : 0);
}

Stage SplitStage(const Stage& stage, int parts, int index) {
  Stage out = stage;
  if (stage.has_concurrency()) {
    const int64_t vus = SplitCount(stage.concurrency(), parts, index);
    out.set_concurrency(static_cast<int32_t>(vus));
    if (stage.has_ramp_to()) {
      out.set_ramp_to(static_cast<double>(
          SplitCount(static_cast<int64_t>(std::llround(stage.ramp_to())), parts, index)));
    }
    if (stage.has_requests()) {
      // Requests in proportion to users: split over the users, then sum this part's users.
      const int64_t first_vu = [&] {
        int64_t n = 0;
        for (int i = 0; i < index; ++i) n += SplitCount(stage.concurrency(), parts, i);
        return n;
      }();
      int64_t requests = 0;
      for (int64_t vu = first_vu; vu < first_vu + vus; ++vu) {
        requests += SplitCount(stage.requests(), stage.concurrency(), static_cast<int>(vu));
      }
      out.set_requests(requests);
    }
  } else {
    out.set_rate(stage.rate() / parts);
    if (stage.has_ramp_to()) out.set_ramp_to(stage.ramp_to() / parts);
    if (stage.has_requests()) out.set_requests(SplitCount(stage.requests(), parts, index));
    if (stage.has_max_in_flight()) {
      out.set_max_in_flight(static_cast<int32_t>(
          std::max<int64_t>(1, SplitCount(stage.max_in_flight(), parts, index))));
    }
  }
  return out;
}

std::string StageLoad(const Stage& s) {
  auto count = [](double v) { return absl::StrFormat("%g", v); };
  if (s.has_concurrency()) {
    return s.has_ramp_to() ? absl::StrCat("c=", s.concurrency(), "->", count(s.ramp_to()))
                           : absl::StrCat("c=", s.concurrency());
  }
  if (s.has_rate()) {
    return s.has_ramp_to() ? absl::StrCat("rate=", count(s.rate()), "->", count(s.ramp_to()), "/s")
                           : absl::StrCat("rate=", count(s.rate()), "/s");
  }
  return "";
}

}  // namespace stampede
