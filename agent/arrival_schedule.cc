#include "agent/arrival_schedule.h"

#include <cmath>

namespace stampede {

ArrivalSchedule::ArrivalSchedule(double rate_from, double rate_to, int64_t duration_ns,
                                 bool poisson, double phase, uint64_t seed)
    : rate_from_(rate_from),
      rate_to_(duration_ns > 0 ? rate_to : rate_from),
      duration_s_(static_cast<double>(duration_ns) / 1e9),
      poisson_(poisson),
      position_(poisson ? 0.0 : phase),
      rng_(seed) {}

double ArrivalSchedule::TimeOfArrival(double arrivals) const {
  const double r0 = rate_from_;
  if (duration_s_ <= 0 || rate_to_ == r0) return arrivals / r0;
  const double a = (rate_to_ - r0) / (2 * duration_s_);
  const double in_ramp = r0 * duration_s_ + a * duration_s_ * duration_s_;  // N(D)
  if (arrivals >= in_ramp) {
    // Past the ramp the rate stays at rate_to (only reached if the stage overruns).
    return duration_s_ + (arrivals - in_ramp) / rate_to_;
  }
  // Solve a t^2 + r0 t - arrivals = 0 for the non-negative root, in the form that is stable
  // when a is tiny or negative (a ramp down).
  const double disc = r0 * r0 + 4 * a * arrivals;
  return 2 * arrivals / (r0 + std::sqrt(std::max(0.0, disc)));
}

int64_t ArrivalSchedule::Next() {
  if (poisson_) position_ += exp_(rng_);
  const double t = TimeOfArrival(position_);
  if (!poisson_) position_ += 1.0;
  return static_cast<int64_t>(t * 1e9);
}

}  // namespace stampede
