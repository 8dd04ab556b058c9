// Intended send times of an open-model stage: constant or Poisson arrivals at a rate that may
// ramp linearly. Pure arithmetic (no clock), so it is tested directly.
#ifndef STAMPEDE_AGENT_ARRIVAL_SCHEDULE_H_
#define STAMPEDE_AGENT_ARRIVAL_SCHEDULE_H_

#include <cstdint>
#include <random>

namespace stampede {

class ArrivalSchedule {
 public:
  // Rate moves linearly from rate_from to rate_to (per second) over duration_ns; with
  // duration_ns == 0 (a request-count stage) the rate stays rate_from. `phase` in [0, 1) shifts
  // constant arrivals by that fraction of a period, so that several workers sharing a rate do not
  // all fire at the same instant.
  ArrivalSchedule(double rate_from, double rate_to, int64_t duration_ns, bool poisson,
                  double phase, uint64_t seed);

  // Offset from the stage start of the next arrival, in ns; increases monotonically.
  int64_t Next();

 private:
  // Inverse of the expected arrival count N(t) = r0 t + (r1 - r0) t^2 / (2 D): the time at
  // which `arrivals` arrivals are due.
  double TimeOfArrival(double arrivals) const;

  double rate_from_;
  double rate_to_;
  double duration_s_;
  bool poisson_;
  // Constant: k + phase; Poisson: sum of Exp(1) draws ("operational time").
  double position_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> exp_{1.0};
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_ARRIVAL_SCHEDULE_H_
