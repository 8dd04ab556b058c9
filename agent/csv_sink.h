// Writes every record as one CSV line (single-client mode's --out). Lines are formatted per batch
// outside the lock and written with one fwrite, so workers do not queue behind each other.
#ifndef STAMPEDE_AGENT_CSV_SINK_H_
#define STAMPEDE_AGENT_CSV_SINK_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/record_sink.h"

namespace stampede {

class CsvSink final : public RecordSink {
 public:
  // Header: start_unix_ns,latency_us,service_us,status,error,bytes_sent,bytes_received,stage,worker
  static absl::StatusOr<std::unique_ptr<CsvSink>> Open(const std::string& path);
  ~CsvSink() override;

  void Consume(const RecordBatch& batch) override;
  // Flushes and closes; reports a write error (disk full...) that happened on the way.
  absl::Status Close();
  static std::string Header();
  // The lines for one batch (exposed for tests).
  static std::string Format(const RecordBatch& batch);

 private:
  CsvSink(std::string path, FILE* file) : path_(std::move(path)), file_(file) {}
  const std::string path_;
  absl::Mutex mu_;
  FILE* file_ ABSL_GUARDED_BY(mu_);
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_CSV_SINK_H_
