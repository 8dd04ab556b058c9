#include "agent/run_context.h"

namespace stampede {

StageGate::StageGate(int workers, int stages)
    : workers_(workers),
      arrived_(new std::atomic<int>[static_cast<size_t>(stages)]),
      release_ns_(new std::atomic<int64_t>[static_cast<size_t>(stages)]) {
  for (int i = 0; i < stages; ++i) {
    arrived_[i].store(0);
    release_ns_[i].store(0);
  }
}

void StageGate::Arrive(int stage, int64_t now_ns) {
  // The last worker to arrive publishes the release time before bumping the count past the
  // point others wait for, so a reader that sees the full count also sees the time.
  const int before = arrived_[stage].fetch_add(1, std::memory_order_acq_rel);
  if (before + 1 == workers_) {
    release_ns_[stage].store(now_ns, std::memory_order_release);
    arrived_[stage].fetch_add(1, std::memory_order_acq_rel);
  }
}

std::optional<int64_t> StageGate::Released(int stage) const {
  if (arrived_[stage].load(std::memory_order_acquire) <= workers_) return std::nullopt;
  return release_ns_[stage].load(std::memory_order_acquire);
}

}  // namespace stampede
