#include "agent/batch_spool.h"

namespace stampede {

void BatchSpool::Consume(const RecordBatch& batch) {
  Entry e;
  e.batch = batch;
  const uint64_t size = batch.ByteSizeLong();
  std::function<void()> listener;
  {
    absl::MutexLock lock(&mu_);
    bytes_ += size;
    pending_[batch.seq()] = std::move(e);
    listener = listener_;
  }
  if (listener) listener();
}

void BatchSpool::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

void BatchSpool::Ack(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  bytes_ -= it->second.batch.ByteSizeLong();
  pending_.erase(it);
}

void BatchSpool::ResendAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [seq, e] : pending_) e.sent = false;
}

std::optional<RecordBatch> BatchSpool::NextToSend() {
  absl::MutexLock lock(&mu_);
  for (auto& [seq, e] : pending_) {
    if (!e.sent) {
      e.sent = true;
      return e.batch;
    }
  }
  return std::nullopt;
}

size_t BatchSpool::unacked() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

uint64_t BatchSpool::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace stampede
