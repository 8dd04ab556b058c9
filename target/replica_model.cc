#include "target/replica_model.h"

#include <algorithm>
#include <cassert>

namespace stampede::target {

ReplicaModel::ReplicaModel(int replicas, int concurrency, int queue)
    : concurrency_(concurrency), queue_(queue), replicas_(std::max(replicas, 1)) {}

int64_t ReplicaModel::capacity() const {
  return static_cast<int64_t>(replicas_.size()) * (concurrency_ + queue_);
}

ReplicaModel::Admission ReplicaModel::Admit(uint64_t id) {
  const int n = static_cast<int>(replicas_.size());
  int best = -1;
  size_t best_load = 0;
  for (int k = 0; k < n; ++k) {
    int r = (next_tie_ + k) % n;
    size_t load = static_cast<size_t>(replicas_[r].busy) + replicas_[r].waiting.size();
    if (best < 0 || load < best_load) {
      best = r;
      best_load = load;
    }
  }
  next_tie_ = (next_tie_ + 1) % n;
  // A queue only fills once all slots are busy, so the least-loaded replica has room iff any
  // replica has.
  Replica& rep = replicas_[best];
  Outcome outcome;
  if (rep.busy < concurrency_) {
    ++rep.busy;
    outcome = Outcome::kStarted;
  } else if (static_cast<int>(rep.waiting.size()) < queue_) {
    rep.waiting.push_back(id);
    outcome = Outcome::kQueued;
  } else {
    return {Outcome::kRejected, -1};
  }
  max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  return {outcome, best};
}

std::optional<uint64_t> ReplicaModel::Complete(int replica) {
  Replica& rep = replicas_[replica];
  assert(rep.busy > 0);
  --in_flight_;
  if (!rep.waiting.empty()) {
    // The slot passes straight to the head of the queue: busy stays the same.
    uint64_t next = rep.waiting.front();
    rep.waiting.pop_front();
    return next;
  }
  --rep.busy;
  return std::nullopt;
}

}  // namespace stampede::target
