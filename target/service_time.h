// Draws simulated service times from the configured distribution.
#ifndef STAMPEDE_TARGET_SERVICE_TIME_H_
#define STAMPEDE_TARGET_SERVICE_TIME_H_

#include <random>

#include "target/flags.h"

namespace stampede::target {

class ServiceTimeSampler {
 public:
  // fixed: always mean_ms. uniform: mean_ms * (1 + U(-jitter, +jitter)), jitter in [0, 1].
  // lognormal: sigma = jitter, mu chosen so that the mean is mean_ms (the median is lower).
  ServiceTimeSampler(ServiceDist dist, double mean_ms, double jitter);

  // Milliseconds, never negative. The generator is the caller's so that one seeded stream
  // drives every random choice of the server.
  double Sample(std::mt19937_64& rng);

 private:
  ServiceDist dist_;
  double mean_ms_;
  double jitter_;
  std::lognormal_distribution<double> lognormal_;
};

}  // namespace stampede::target

#endif  // STAMPEDE_TARGET_SERVICE_TIME_H_
