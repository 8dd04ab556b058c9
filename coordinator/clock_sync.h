// Clock offset estimation from ping/pong exchanges (NTP-style): t1 coordinator send, t2 agent
// receive, t3 agent send, t4 coordinator receive. offset = ((t2 - t1) + (t3 - t4)) / 2 is the
// agent clock minus the coordinator clock; the sample with the smallest round trip is kept,
// and its uncertainty is half that round trip.
#ifndef STAMPEDE_COORDINATOR_CLOCK_SYNC_H_
#define STAMPEDE_COORDINATOR_CLOCK_SYNC_H_

#include <cstdint>
#include <optional>

namespace stampede {

struct ClockEstimate {
  int64_t offset_ns = 0;       // agent - coordinator
  int64_t uncertainty_ns = 0;  // half the best round trip
  int64_t rtt_ns = 0;
  int samples = 0;
};

class ClockEstimator {
 public:
  // Adds one exchange; samples with negative round trips (clock steps) are ignored.
  void AddSample(int64_t t1, int64_t t2, int64_t t3, int64_t t4);
  std::optional<ClockEstimate> Best() const;
  void Reset() {
    best_.reset();
    samples_ = 0;
  }

 private:
  std::optional<ClockEstimate> best_;
  int samples_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_CLOCK_SYNC_H_
