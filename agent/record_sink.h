// Where record batches go when they leave a worker thread: the summary, a CSV file, the
// coordinator link. Batches are handed over by value so that memory never piles up in a worker.
#ifndef STAMPEDE_AGENT_RECORD_SINK_H_
#define STAMPEDE_AGENT_RECORD_SINK_H_

#include <vector>

#include "records.pb.h"

namespace stampede {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // Called from worker threads, possibly concurrently; implementations synchronise themselves.
  // Each batch arrives exactly once.
  virtual void Consume(const RecordBatch& batch) = 0;
};

// Hands every batch to several sinks in order.
class TeeSink final : public RecordSink {
 public:
  explicit TeeSink(std::vector<RecordSink*> sinks) : sinks_(std::move(sinks)) {}
  void Consume(const RecordBatch& batch) override {
    for (RecordSink* sink : sinks_) sink->Consume(batch);
  }

 private:
  std::vector<RecordSink*> sinks_;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_RECORD_SINK_H_
