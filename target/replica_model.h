// Slot and queue accounting of the simulated replicas: no sockets, no clocks, no locking, so
// that the admission rules can be unit-tested on their own. The server guards it with a mutex.
#ifndef STAMPEDE_TARGET_REPLICA_MODEL_H_
#define STAMPEDE_TARGET_REPLICA_MODEL_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace stampede::target {

class ReplicaModel {
 public:
  // `replicas` >= 1 replicas, each with `concurrency` >= 1 slots and a FIFO of up to
  // `queue` >= 0 waiting requests.
  ReplicaModel(int replicas, int concurrency, int queue);

  enum class Outcome { kStarted, kQueued, kRejected };
  struct Admission {
    Outcome outcome;
    int replica = -1;  // -1 when rejected
  };

  // Places request `id` (any caller-chosen number) on the least-loaded replica (fewest in
  // service + queued; ties rotate so that light load spreads over all replicas). It starts at
  // once when that replica has a free slot, waits in its queue when the queue has room, and
  // is rejected when every replica is full.
  Admission Admit(uint64_t id);

  // Ends one in-service request on `replica`. If a request was waiting there it takes the
  // freed slot and its id is returned: the caller starts its service time.
  std::optional<uint64_t> Complete(int replica);

  int replicas() const { return static_cast<int>(replicas_.size()); }
  int in_service(int replica) const { return replicas_[replica].busy; }
  int queued(int replica) const { return static_cast<int>(replicas_[replica].waiting.size()); }
  // Admitted and not yet completed, over all replicas (in service + queued).
  int64_t in_flight() const { return in_flight_; }
  int64_t max_in_flight() const { return max_in_flight_; }
  // Upper bound of in_flight(): replicas * (concurrency + queue).
  int64_t capacity() const;

 private:
  struct Replica {
    int busy = 0;
    std::deque<uint64_t> waiting;
  };

  const int concurrency_;
  const int queue_;
  std::vector<Replica> replicas_;
  int next_tie_ = 0;  // where the least-loaded scan starts, rotated per admission
  int64_t in_flight_ = 0;
  int64_t max_in_flight_ = 0;
};

}  // namespace stampede::target

#endif  // STAMPEDE_TARGET_REPLICA_MODEL_H_
