#include "agent/record_buffer.h"

namespace stampede {

RecordBuffer::RecordBuffer(const std::string& run_id, const std::string& agent_id,
                           int64_t base_time_ns, uint32_t worker, size_t capacity,
                           std::atomic<uint64_t>* seq, RecordSink* sink)
    : worker_(worker), capacity_(capacity), seq_(seq), sink_(sink) {
  batch_.set_run_id(run_id);
  batch_.set_agent_id(agent_id);
  batch_.set_base_time_ns(base_time_ns);
  Reset();
}

void RecordBuffer::Reset() {
  // Clear() keeps the arrays' capacity; Reserve() makes the first fill allocation-free too.
  const int n = static_cast<int>(capacity_);
  batch_.mutable_start_offset_ns()->Clear();
  batch_.mutable_latency_us()->Clear();
  batch_.mutable_service_us()->Clear();
  batch_.mutable_status()->Clear();
  batch_.mutable_error()->Clear();
  batch_.mutable_bytes_sent()->Clear();
  batch_.mutable_bytes_received()->Clear();
  batch_.mutable_stage()->Clear();
  batch_.mutable_worker()->Clear();
  batch_.mutable_start_offset_ns()->Reserve(n);
  batch_.mutable_latency_us()->Reserve(n);
  batch_.mutable_service_us()->Reserve(n);
  batch_.mutable_status()->Reserve(n);
  batch_.mutable_error()->Reserve(n);
  batch_.mutable_bytes_sent()->Reserve(n);
  batch_.mutable_bytes_received()->Reserve(n);
  batch_.mutable_stage()->Reserve(n);
  batch_.mutable_worker()->Reserve(n);
  batch_.set_late(0);
  batch_.set_dropped(0);
}

void RecordBuffer::Flush() {
  if (batch_.latency_us_size() == 0 && batch_.late() == 0 && batch_.dropped() == 0) return;
  batch_.set_seq(seq_->fetch_add(1, std::memory_order_relaxed));
  records_flushed_ += static_cast<uint64_t>(batch_.latency_us_size());
  sink_->Consume(batch_);
  Reset();
}

}  // namespace stampede
