#include "agent/csv_sink.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/error_class.h"

namespace stampede {

std::string CsvSink::Header() {
  return "start_unix_ns,latency_us,service_us,status,error,bytes_sent,bytes_received,stage,"
         "worker\n";
}

absl::StatusOr<std::unique_ptr<CsvSink>> CsvSink::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: cannot write \"", path, "\": ", std::strerror(errno)));
  }
  const std::string header = Header();
  std::fwrite(header.data(), 1, header.size(), f);
  return std::unique_ptr<CsvSink>(new CsvSink(path, f));
}

CsvSink::~CsvSink() { (void)Close(); }

std::string CsvSink::Format(const RecordBatch& b) {
  std::string out;
  const int n = b.latency_us_size();
  out.reserve(static_cast<size_t>(n) * 64);
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&out, b.base_time_ns() + b.start_offset_ns(i), ",", b.latency_us(i), ",",
                    b.service_us(i), ",", b.status(i), ",",
                    ErrorClassName(static_cast<ErrorClass>(b.error(i))), ",", b.bytes_sent(i),
                    ",", b.bytes_received(i), ",", b.stage(i), ",", b.worker(i), "\n");
  }
  return out;
}

void CsvSink::Consume(const RecordBatch& batch) {
  const std::string lines = Format(batch);
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return;
  if (std::fwrite(lines.data(), 1, lines.size(), file_) != lines.size()) write_failed_ = true;
}

absl::Status CsvSink::Close() {
  absl::MutexLock lock(&mu_);
  if (file_ == nullptr) return absl::OkStatus();
  const bool close_failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (write_failed_ || close_failed) {
    return absl::DataLossError(absl::StrCat("--out: writing \"", path_, "\" failed"));
  }
  return absl::OkStatus();
}

}  // namespace stampede
