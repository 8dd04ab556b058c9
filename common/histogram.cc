#include "common/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

constexpr uint32_t kSubBuckets = 1u << Histogram::kSubBucketBits;
constexpr int kMantissaBits = 52;
constexpr uint64_t kExponentBias = 1023;

// The bucket index of v in [1, 2^32) is the double's biased exponent and top mantissa bits, read
// as one integer, minus the biased exponent of 1.0: (exponent - bias) * 1024 + top 10 mantissa
// bits. The shift keeps exponent and sub-bucket together, so this is one shift and a subtract.
constexpr int kIndexShift = kMantissaBits - Histogram::kSubBucketBits;
constexpr uint64_t kIndexOfOne = kExponentBias << Histogram::kSubBucketBits;

static_assert(Histogram::kMaxUs < static_cast<double>(uint64_t{1} << Histogram::kChunks),
              "kMaxUs must fall in the last chunk");
static_assert(static_cast<double>(uint64_t{1} << (Histogram::kChunks - 1)) <= Histogram::kMaxUs,
              "the last chunk must be reachable, or it is wasted");

// The exact value used for min/max/sum: negative values and NaN count as 0, like in the buckets.
double ExactValue(double value_us) { return value_us > 0 ? value_us : 0.0; }

// Nearest rank (1-based) for percentile q of count values: max(1, ceil(q/100 * count)).
//
// q/100 * count is computed in doubles, and decimal q such as 99.9 are not exact: 99.9/100*1000
// comes out as 999.0000000000001, whose ceil would report the maximum as p99.9 of 1000 values.
// So a product within a few hundred ulps of an integer is taken to be that integer. This only
// misjudges a true fraction smaller than count * 1e-13, i.e. never for q with up to 4 decimals
// and counts below 10^7, and then by one rank out of more than 10^7.
uint64_t NearestRank(double q, uint64_t count) {
  // Written as !(q > 0) so that NaN is treated as 0.
  if (!(q > 0)) q = 0;
  if (q > 100) q = 100;
  const double exact = q / 100 * static_cast<double>(count);
  const double nearest = std::round(exact);
  double rank = std::abs(exact - nearest) <= exact * 1e-13 ? nearest : std::ceil(exact);
  rank = std::clamp(rank, 1.0, static_cast<double>(count));
  return static_cast<uint64_t>(rank);
}

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(absl::StrCat("histogram: ", message));
}

}  // namespace

Histogram::Histogram() = default;

Histogram::Histogram(const Histogram& other)
    : count_(other.count_), min_(other.min_), max_(other.max_), sum_(other.sum_) {
  for (int c = 0; c < kChunks; ++c) {
    if (other.chunks_[c] != nullptr) chunks_[c] = std::make_unique<Chunk>(*other.chunks_[c]);
  }
}

Histogram& Histogram::operator=(const Histogram& other) {
  if (this != &other) {
    Histogram copy(other);
    *this = std::move(copy);
  }
  return *this;
}

uint32_t Histogram::BucketIndex(double value_us) {
  // std::max(kMinUs, v) returns kMinUs for NaN (the comparison kMinUs < NaN is false), so NaN,
  // negatives, 0 and sub-µs values all land in bucket 0; both compile to branchless min/max.
  const double v = std::min(std::max(kMinUs, value_us), kMaxUs);
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  return static_cast<uint32_t>((bits >> kIndexShift) - kIndexOfOne);
}

double Histogram::BucketLow(uint32_t index) {
  // The inverse of BucketIndex: the double whose exponent and top mantissa bits are the index
  // and whose remaining mantissa bits are 0. Exact, and also defined for index == kBuckets
  // (2^32, the upper end of the last bucket); larger indexes are clamped to that.
  const uint64_t i = std::min(index, kBuckets);
  return std::bit_cast<double>((i + kIndexOfOne) << kIndexShift);
}

double Histogram::BucketHigh(uint32_t index) {
  return BucketLow(index >= kBuckets ? kBuckets : index + 1);
}

void Histogram::RecordN(double value_us, uint64_t n) {
  // Recording nothing must not move min/max.
  if (n == 0) return;
  const uint32_t index = BucketIndex(value_us);
  std::unique_ptr<Chunk>& chunk = chunks_[index >> kSubBucketBits];
  if (chunk == nullptr) chunk = std::make_unique<Chunk>();  // value-initialised: all zero
  (*chunk)[index & (kSubBuckets - 1)] += n;
  count_ += n;
  const double exact = ExactValue(value_us);
  min_ = std::min(min_, exact);
  max_ = std::max(max_, exact);
  sum_ += exact * static_cast<double>(n);
}

void Histogram::Merge(const Histogram& other) {
  // Safe for other == *this too: each bucket is read before it is written.
  for (int c = 0; c < kChunks; ++c) {
    if (other.chunks_[c] == nullptr) continue;
    if (chunks_[c] == nullptr) {
      chunks_[c] = std::make_unique<Chunk>(*other.chunks_[c]);
      continue;
    }
    Chunk& mine = *chunks_[c];
    const Chunk& theirs = *other.chunks_[c];
    for (uint32_t s = 0; s < kSubBuckets; ++s) mine[s] += theirs[s];
  }
  count_ += other.count_;
  // An empty side has min_ = +inf and max_ = 0, the identities, so no special case is needed.
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double Histogram::min() const { return count_ == 0 ? 0.0 : min_; }

double Histogram::max() const { return count_ == 0 ? 0.0 : max_; }

double Histogram::mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

double Histogram::Percentile(double q) const {
  if (count_ == 0) return 0.0;
  const uint64_t rank = NearestRank(q, count_);
  // The first and last ranks are the exact extremes, which we keep; a bucket midpoint would be up
  // to half a bucket off.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (int c = 0; c < kChunks; ++c) {
    if (chunks_[c] == nullptr) continue;
    const Chunk& chunk = *chunks_[c];
    for (uint32_t s = 0; s < kSubBuckets; ++s) {
      seen += chunk[s];
      if (seen >= rank) {
        const uint32_t index = (static_cast<uint32_t>(c) << kSubBucketBits) | s;
        const double mid = (BucketLow(index) + BucketHigh(index)) / 2;
        return std::clamp(mid, min_, max_);
      }
    }
  }
  // Unreachable while count_ equals the bucket total (only a moved-from histogram breaks that).
  return max_;
}

void Histogram::Clear() {
  // Frees the chunks too, so a cleared histogram is indistinguishable from a new one.
  *this = Histogram();
}

int Histogram::AllocatedChunks() const {
  return static_cast<int>(
      std::count_if(chunks_.begin(), chunks_.end(), [](const auto& c) { return c != nullptr; }));
}

HistogramData Histogram::ToProto() const {
  HistogramData data;
  data.set_layout(kLayout);
  data.set_count(count_);
  data.set_min_us(min());
  data.set_max_us(max());
  data.set_sum_us(sum_);

  // Runs of consecutive non-empty buckets; a run may cross a chunk boundary.
  uint32_t prev_end = 0;  // end (exclusive) of the previous run
  uint32_t run_start = 0;
  uint32_t run_end = 0;  // run_start == run_end: no open run
  auto flush = [&] {
    if (run_end == run_start) return;
    data.add_bucket_index_delta(run_start - prev_end);
    data.add_run_length(run_end - run_start);
    prev_end = run_end;
  };
  for (int c = 0; c < kChunks; ++c) {
    if (chunks_[c] == nullptr) continue;
    const Chunk& chunk = *chunks_[c];
    for (uint32_t s = 0; s < kSubBuckets; ++s) {
      if (chunk[s] == 0) continue;
      const uint32_t index = (static_cast<uint32_t>(c) << kSubBucketBits) | s;
      if (index != run_end || run_end == run_start) {
        flush();
        run_start = index;
      }
      run_end = index + 1;
      data.add_bucket_count(chunk[s]);
    }
  }
  flush();
  return data;
}

absl::StatusOr<Histogram> Histogram::FromProto(const HistogramData& data) {
  const bool no_buckets = data.bucket_index_delta_size() == 0 && data.run_length_size() == 0 &&
                          data.bucket_count_size() == 0;
  if (data.layout() != kLayout) {
    // A default-constructed message (layout 0, nothing set) is the natural "no data" value.
    const bool all_default = data.layout() == 0 && data.count() == 0 && data.min_us() == 0 &&
                             data.max_us() == 0 && data.sum_us() == 0 && no_buckets;
    if (all_default) return Histogram();
    return Invalid(absl::StrCat("unknown layout ", data.layout(), " (expected ", kLayout, ")"));
  }
  if (data.bucket_index_delta_size() != data.run_length_size()) {
    return Invalid(absl::StrCat(data.bucket_index_delta_size(), " bucket_index_delta entries but ",
                                data.run_length_size(), " run_length entries"));
  }
  uint64_t total_run_length = 0;
  for (uint32_t length : data.run_length()) total_run_length += length;
  if (total_run_length != static_cast<uint64_t>(data.bucket_count_size())) {
    return Invalid(absl::StrCat("run lengths add up to ", total_run_length, " but there are ",
                                data.bucket_count_size(), " bucket counts"));
  }
  // Record clamps negatives and NaN to 0, so such extremes or sums can only come from corruption.
  // The !(x >= 0) form also catches NaN.
  if (!(data.min_us() >= 0) || !(data.max_us() >= 0) || !(data.sum_us() >= 0)) {
    return Invalid(absl::StrCat("min_us, max_us and sum_us must be >= 0, got ", data.min_us(), ", ",
                                data.max_us(), ", ", data.sum_us()));
  }
  if (data.count() == 0 && (data.min_us() != 0 || data.max_us() != 0 || data.sum_us() != 0)) {
    return Invalid(absl::StrCat("count is 0 but min_us, max_us, sum_us are ", data.min_us(), ", ",
                                data.max_us(), ", ", data.sum_us()));
  }
  if (data.count() > 0 && !(data.min_us() <= data.max_us())) {
    return Invalid(
        absl::StrCat("min_us ", data.min_us(), " is greater than max_us ", data.max_us()));
  }

  Histogram h;
  uint64_t next = 0;  // end (exclusive) of the previous run; 64 bits so deltas cannot wrap
  uint64_t total = 0;
  int k = 0;  // position in bucket_count
  for (int r = 0; r < data.run_length_size(); ++r) {
    const uint32_t length = data.run_length(r);
    if (length == 0) return Invalid(absl::StrCat("run ", r, " has length 0"));
    const uint64_t start = next + data.bucket_index_delta(r);
    const uint64_t end = start + length;
    if (end > kBuckets) {
      return Invalid(absl::StrCat("bucket index ", std::max(start, uint64_t{kBuckets}),
                                  " out of range (there are ", kBuckets, " buckets)"));
    }
    for (uint64_t index = start; index < end; ++index, ++k) {
      const uint64_t n = data.bucket_count(k);
      if (n == 0) return Invalid(absl::StrCat("bucket ", index, " has a zero count"));
      if (n > std::numeric_limits<uint64_t>::max() - total) {
        return Invalid("bucket counts overflow 64 bits");
      }
      total += n;
      std::unique_ptr<Chunk>& chunk = h.chunks_[index >> kSubBucketBits];
      if (chunk == nullptr) chunk = std::make_unique<Chunk>();
      (*chunk)[index & (kSubBuckets - 1)] = n;
    }
    next = end;
  }
  if (total != data.count()) {
    return Invalid(absl::StrCat("bucket counts add up to ", total, " but count is ", data.count()));
  }
  h.count_ = data.count();
  if (h.count_ > 0) {
    h.min_ = data.min_us();
    h.max_ = data.max_us();
    h.sum_ = data.sum_us();
  }
  return h;
}

}  // namespace stampede
