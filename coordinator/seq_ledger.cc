#include "coordinator/seq_ledger.h"

#include "absl/strings/str_cat.h"

namespace stampede {

SeqLedger::Seen SeqLedger::Lookup(uint64_t seq) const {
  if (seq < prefix_) return Seen::kCommitted;
  auto it = above_.find(seq);
  if (it == above_.end()) return Seen::kNew;
  return it->second ? Seen::kCommitted : Seen::kPending;
}

absl::Status SeqLedger::CheckWindow(uint64_t seq) const {
  // Subtracting: seq >= prefix_ here or Lookup would have answered, and prefix_ + kWindow could
  // overflow for a hostile seq near 2^64.
  if (seq >= prefix_ && seq - prefix_ >= kWindow) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.seq: ", seq, " is more than ", kWindow,
                     " batches beyond the ones this agent has delivered (", prefix_, ")"));
  }
  return absl::OkStatus();
}

void SeqLedger::MarkPending(uint64_t seq) {
  if (seq < prefix_) return;
  above_.try_emplace(seq, false);
}

void SeqLedger::MarkCommitted(uint64_t seq) {
  if (seq < prefix_) return;
  auto [it, inserted] = above_.try_emplace(seq, true);
  if (!inserted) {
    if (it->second) return;
    it->second = true;
  }
  ++committed_;
  // Advance the prefix over what is now contiguous, so that the map holds only the gaps' far side.
  while (true) {
    auto next = above_.find(prefix_);
    if (next == above_.end() || !next->second) break;
    above_.erase(next);
    ++prefix_;
  }
}

void SeqLedger::Forget(uint64_t seq) {
  auto it = above_.find(seq);
  if (it != above_.end() && !it->second) above_.erase(it);
}

}  // namespace stampede
