#include "target/service_time.h"

#include <algorithm>
#include <cmath>

namespace stampede::target {

ServiceTimeSampler::ServiceTimeSampler(ServiceDist dist, double mean_ms, double jitter)
    : dist_(dist),
      mean_ms_(mean_ms),
      jitter_(jitter),
      // E[exp(N(mu, s))] = exp(mu + s^2/2); pick mu so the mean is mean_ms. The standard wants
      // s > 0, so sigma 0 gets a placeholder and Sample() returns mean_ms directly.
      lognormal_(mean_ms > 0 ? std::log(mean_ms) - jitter * jitter / 2 : 0,
                 jitter > 0 ? jitter : 1) {}

double ServiceTimeSampler::Sample(std::mt19937_64& rng) {
  if (mean_ms_ <= 0) return 0;
  switch (dist_) {
    case ServiceDist::kFixed:
      return mean_ms_;
    case ServiceDist::kUniform: {
      std::uniform_real_distribution<double> u(-jitter_, jitter_);
      return std::max(0.0, mean_ms_ * (1 + u(rng)));
    }
    case ServiceDist::kLognormal:
      return jitter_ > 0 ? lognormal_(rng) : mean_ms_;
  }
  return mean_ms_;
}

}  // namespace stampede::target
