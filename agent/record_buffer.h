// A worker thread's records on the hot path: appended to columnar arrays, handed to the sink as a
// RecordBatch when full or when the flush interval passes. The batch object is reused, so after
// warm-up appending allocates nothing.
#ifndef STAMPEDE_AGENT_RECORD_BUFFER_H_
#define STAMPEDE_AGENT_RECORD_BUFFER_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "agent/record_sink.h"
#include "records.pb.h"

namespace stampede {

struct Record {
  int64_t start_offset_ns = 0;  // from the run's time origin
  uint32_t latency_us = 0;
  uint32_t service_us = 0;
  uint32_t status = 0;
  ErrorClass error = ERROR_NONE;
  uint32_t bytes_sent = 0;
  uint32_t bytes_received = 0;
  uint32_t stage = 0;
};

// Thread-compatible: owned by one worker.
class RecordBuffer {
 public:
  // `seq` numbers batches across all workers of the agent (shared, atomic). `base_time_ns` is the
  // wall-clock instant that start offsets count from.
  RecordBuffer(const std::string& run_id, const std::string& agent_id, int64_t base_time_ns,
               uint32_t worker, size_t capacity, std::atomic<uint64_t>* seq, RecordSink* sink);

  void Add(const Record& r) {
    batch_.add_start_offset_ns(r.start_offset_ns);
    batch_.add_latency_us(r.latency_us);
    batch_.add_service_us(r.service_us);
    batch_.add_status(r.status);
    batch_.add_error(r.error);
    batch_.add_bytes_sent(r.bytes_sent);
    batch_.add_bytes_received(r.bytes_received);
    batch_.add_stage(r.stage);
    batch_.add_worker(worker_);
    if (static_cast<size_t>(batch_.latency_us_size()) >= capacity_) Flush();
  }
  void AddLate(uint64_t n) { batch_.set_late(batch_.late() + n); }
  void AddDropped(uint64_t n) { batch_.set_dropped(batch_.dropped() + n); }

  // Hands the pending records (and late/dropped counts) to the sink; no-op when there are none.
  void Flush();
  size_t size() const { return static_cast<size_t>(batch_.latency_us_size()); }
  uint64_t records_flushed() const { return records_flushed_; }

 private:
  void Reset();

  RecordBatch batch_;
  const uint32_t worker_;
  const size_t capacity_;
  std::atomic<uint64_t>* const seq_;
  RecordSink* const sink_;
  uint64_t records_flushed_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_RECORD_BUFFER_H_
