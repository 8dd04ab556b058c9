// Log-linear (HDR-style) latency histogram in microseconds.
//
// Values from 1 µs to 1 h land in buckets whose width is 2^-10 of their lower bound, and a
// percentile is reported as its bucket's midpoint, so any percentile is within 0.05% of the exact
// one (nearest-rank over the recorded values). Values outside [1 µs, 1 h] are clamped into the
// first/last bucket; min, max and sum stay exact. Buckets are kept in lazily allocated chunks of
// one power of two each, so memory is bounded (at most 32 chunks x 1024 counters) but a histogram
// of typical latencies (a few octaves) costs a few tens of KiB.
//
// Thread-compatible: one writer at a time. Per-thread histograms are merged with Merge(), which is
// associative and commutative (a bucket-wise sum).
#ifndef STAMPEDE_COMMON_HISTOGRAM_H_
#define STAMPEDE_COMMON_HISTOGRAM_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/status/statusor.h"
#include "histogram.pb.h"

namespace stampede {

class Histogram {
 public:
  static constexpr double kMinUs = 1.0;
  static constexpr double kMaxUs = 3'600'000'000.0;  // 1 hour
  static constexpr int kSubBucketBits = 10;          // 1024 buckets per power of two
  static constexpr int kChunks = 32;                 // 2^0 .. 2^31 µs (covers 1 h)
  static constexpr uint32_t kLayout = 1;             // HistogramData.layout

  Histogram();
  Histogram(const Histogram& other);
  Histogram& operator=(const Histogram& other);
  Histogram(Histogram&&) noexcept = default;
  Histogram& operator=(Histogram&&) noexcept = default;

  // O(1). Records one value (microseconds).
  void Record(double value_us) { RecordN(value_us, 1); }
  void RecordN(double value_us, uint64_t n);

  // Bucket-wise sum; min/max/sum/count combine exactly.
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  double min() const;  // 0 when empty
  double max() const;  // 0 when empty
  double sum() const { return sum_; }
  double mean() const;  // 0 when empty

  // Nearest-rank percentile, q in [0, 100]: the value at rank ceil(q/100 * count) (rank 1 for
  // q = 0). Reported as the bucket midpoint, clamped to [min, max]. 0 when empty.
  double Percentile(double q) const;

  void Clear();

  HistogramData ToProto() const;
  // Rejects malformed data (unknown layout, bucket indexes out of range, counts that do not add
  // up) with InvalidArgument.
  static absl::StatusOr<Histogram> FromProto(const HistogramData& data);

  // Bucket index helpers, exposed for tests.
  static uint32_t BucketIndex(double value_us);
  static double BucketLow(uint32_t index);
  static double BucketHigh(uint32_t index);
  static constexpr uint32_t kBuckets = kChunks << kSubBucketBits;

 private:
  // Tests inspect AllocatedChunks() through this peer so the public API stays as specified.
  friend class HistogramTestPeer;

  using Chunk = std::array<uint64_t, 1u << kSubBucketBits>;

  // Number of chunks currently allocated (the memory footprint is this times sizeof(Chunk)).
  int AllocatedChunks() const;

  std::array<std::unique_ptr<Chunk>, kChunks> chunks_;
  uint64_t count_ = 0;
  // While empty, min_ is +inf and max_ is 0: the identities of min/max over the recorded values
  // (which are clamped to >= 0), so Record and Merge need no "is this the first value" branch.
  // min() and max() report 0 for an empty histogram.
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = 0;
  double sum_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_COMMON_HISTOGRAM_H_
