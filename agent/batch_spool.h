// Record batches of the current run that the coordinator has not acknowledged yet. The engine's
// workers put batches in (it is their RecordSink); the link sends them and drops them on ack;
// after a reconnect everything still here is sent again, so no record is lost to a dropped link.
#ifndef STAMPEDE_AGENT_BATCH_SPOOL_H_
#define STAMPEDE_AGENT_BATCH_SPOOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/record_sink.h"
#include "records.pb.h"

namespace stampede {

class BatchSpool final : public RecordSink {
 public:
  // Worker threads.
  void Consume(const RecordBatch& batch) override;
  // The coordinator has the batch.
  void Ack(uint64_t seq);
  // A new connection: every unacked batch is to be sent again.
  void ResendAll();
  // The next batch not yet sent on the current connection, marked sent; nullopt when none.
  std::optional<RecordBatch> NextToSend();
  size_t unacked() const;
  uint64_t bytes() const;
  // Called (outside the spool's lock) after each new batch, to wake the sender.
  void SetListener(std::function<void()> listener);

 private:
  struct Entry {
    RecordBatch batch;
    bool sent = false;
  };
  mutable absl::Mutex mu_;
  std::map<uint64_t, Entry> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_BATCH_SPOOL_H_
