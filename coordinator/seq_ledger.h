// Which batches (by seq) of one agent in one run the coordinator has: on their way into the store
// (pending) or committed. Bounded: a seq must fall within a window above the agent's contiguous
// committed prefix, so no message can make it allocate more than the window, and every lookup is
// O(1). Thread-compatible (the run manager holds its lock).
#ifndef STAMPEDE_COORDINATOR_SEQ_LEDGER_H_
#define STAMPEDE_COORDINATOR_SEQ_LEDGER_H_

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace stampede {

class SeqLedger {
 public:
  // How far above the contiguous committed prefix a seq may be: 2^20 batches (4 billion records
  // at 4096 a batch) of an agent in flight or ingested out of order.
  static constexpr uint64_t kWindow = uint64_t{1} << 20;

  enum class Seen { kNew, kPending, kCommitted };

  Seen Lookup(uint64_t seq) const;
  // InvalidArgument naming `seq` when it is beyond the window.
  absl::Status CheckWindow(uint64_t seq) const;
  // kNew -> kPending (a batch on its way into the store).
  void MarkPending(uint64_t seq);
  // -> kCommitted (the store has it), from kNew (recovery) or kPending.
  void MarkCommitted(uint64_t seq);
  // kPending -> kNew: its commit failed, a resend may bring it again.
  void Forget(uint64_t seq);

  uint64_t committed() const { return committed_; }
  // Every seq below this is committed.
  uint64_t prefix() const { return prefix_; }

 private:
  uint64_t prefix_ = 0;
  uint64_t committed_ = 0;
  // Seqs at or above prefix_: true once committed.
  absl::flat_hash_map<uint64_t, bool> above_;
};

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_SEQ_LEDGER_H_
