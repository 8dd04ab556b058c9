#include "common/histogram.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "histogram.pb.h"

namespace stampede {

// Friend of Histogram (declared in its private section): lets the memory test count chunks
// without widening the public API.
class HistogramTestPeer {
 public:
  static int AllocatedChunks(const Histogram& h) { return h.AllocatedChunks(); }
};

namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The percentiles the issue asks for, in hundredths of a percent so that the reference rank can
// be computed in exact integer arithmetic (99.9 is not exact as a double).
constexpr int64_t kQuantilesBp[] = {0,    100,  1000, 2500, 5000, 7500,
                                    9000, 9500, 9900, 9990, 9999, 10000};

// Exact nearest-rank percentile of sorted values: rank = max(1, ceil(q/100 * n)), 1-based.
double ExactPercentile(const std::vector<double>& sorted, int64_t q_bp) {
  const uint64_t n = sorted.size();
  const uint64_t rank = std::max<uint64_t>(1, (q_bp * n + 9999) / 10000);
  return sorted[rank - 1];
}

Histogram FromValues(const std::vector<double>& values) {
  Histogram h;
  for (double v : values) h.Record(v);
  return h;
}

// Bucket contents, count and exact min/max must match; sum only up to rounding, since floating
// addition in a different order may differ in the last bits.
void ExpectSameHistogram(const Histogram& a, const Histogram& b) {
  const HistogramData pa = a.ToProto();
  const HistogramData pb = b.ToProto();
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_NEAR(a.sum(), b.sum(), 1e-12 * std::max(a.sum(), b.sum()));
  EXPECT_THAT(pa.bucket_index_delta(), ElementsAreArray(pb.bucket_index_delta()));
  EXPECT_THAT(pa.run_length(), ElementsAreArray(pb.run_length()));
  EXPECT_THAT(pa.bucket_count(), ElementsAreArray(pb.bucket_count()));
  for (int64_t q_bp : kQuantilesBp) {
    EXPECT_EQ(a.Percentile(q_bp / 100.0), b.Percentile(q_bp / 100.0)) << "q=" << q_bp / 100.0;
  }
}

// ---------------------------------------------------------------------------------------------
// Bucket indexing

TEST(HistogramIndexTest, EveryBucketBoundaryMapsBackToItsBucket) {
  EXPECT_EQ(Histogram::BucketLow(0), 1.0);
  EXPECT_EQ(Histogram::BucketIndex(1.0), 0u);
  const uint32_t last_used = Histogram::BucketIndex(Histogram::kMaxUs);
  for (uint32_t i = 0; i <= last_used; ++i) {
    const double low = Histogram::BucketLow(i);
    const double high = Histogram::BucketHigh(i);
    ASSERT_LT(low, high) << "bucket " << i;
    ASSERT_EQ(Histogram::BucketIndex(low), i) << "low of bucket " << i << " = " << low;
    // Above kMaxUs everything is clamped into kMaxUs's bucket, which is checked below.
    if (i < last_used) {
      const double below_high = std::nextafter(high, 0.0);
      ASSERT_EQ(Histogram::BucketIndex(below_high), i) << "high-eps of bucket " << i;
      ASSERT_EQ(Histogram::BucketIndex(high), i + 1) << "high of bucket " << i;
    }
    // The width bound is what makes the midpoint within 2^-11 of any value in the bucket.
    ASSERT_LE((high - low) / low, std::ldexp(1.0, -Histogram::kSubBucketBits)) << "bucket " << i;
    if (i > 0) {
      ASSERT_EQ(Histogram::BucketHigh(i - 1), low) << "gap before bucket " << i;
    }
  }
}

TEST(HistogramIndexTest, ChunkAndSubBucketLayout) {
  // index = floor(log2 v) * 1024 + the top 10 mantissa bits below the leading one.
  EXPECT_EQ(Histogram::BucketIndex(2.0), 1024u);
  EXPECT_EQ(Histogram::BucketIndex(3.0), 1024u + 512u);
  EXPECT_EQ(Histogram::BucketIndex(1023.9), 9u * 1024u + 1023u);
  EXPECT_EQ(Histogram::BucketIndex(1024.0), 10u * 1024u);
  EXPECT_EQ(Histogram::BucketIndex(1025.0), 10u * 1024u + 1u);
  // 1 h = 2^31 * 1.676..., in the last chunk.
  EXPECT_EQ(Histogram::BucketIndex(Histogram::kMaxUs) >> Histogram::kSubBucketBits, 31u);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBuckets - 1), std::ldexp(1.0, 32));
}

TEST(HistogramIndexTest, OutOfRangeValuesAreClamped) {
  for (double v : {0.0, -0.0, -5.0, -kInf, kNaN, 0.5, 1e-300, 0.999999}) {
    EXPECT_EQ(Histogram::BucketIndex(v), 0u) << v;
  }
  const uint32_t top = Histogram::BucketIndex(Histogram::kMaxUs);
  EXPECT_LT(top, Histogram::kBuckets);
  for (double v : {Histogram::kMaxUs + 1, 2 * Histogram::kMaxUs, 5e9, 1e300, kInf}) {
    EXPECT_EQ(Histogram::BucketIndex(v), top) << v;
  }
}

TEST(HistogramIndexTest, RecordClampsBucketsButKeepsExactStats) {
  Histogram h;
  h.Record(-5);
  h.Record(kNaN);
  h.Record(0.5);
  h.Record(2 * Histogram::kMaxUs);
  EXPECT_EQ(h.count(), 4u);
  // Negatives and NaN count as 0; 0.5 and 2 h keep their true values.
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 2 * Histogram::kMaxUs);
  EXPECT_EQ(h.sum(), 0.5 + 2 * Histogram::kMaxUs);
  EXPECT_EQ(h.Percentile(0), 0.0);
  EXPECT_EQ(h.Percentile(100), 2 * Histogram::kMaxUs);
  // Rank 2 and 3 are in bucket 0, reported as its midpoint.
  EXPECT_EQ(h.Percentile(50), (Histogram::BucketLow(0) + Histogram::BucketHigh(0)) / 2);
  const HistogramData data = h.ToProto();
  EXPECT_THAT(data.bucket_count(), ElementsAre(3u, 1u));
}

// ---------------------------------------------------------------------------------------------
// Basic accounting

TEST(HistogramTest, EmptyHistogramReportsZeros) {
  const Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 0.0);
  EXPECT_EQ(h.sum(), 0.0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.Percentile(0), 0.0);
  EXPECT_EQ(h.Percentile(50), 0.0);
  EXPECT_EQ(h.Percentile(100), 0.0);
}

TEST(HistogramTest, RecordNEqualsRepeatedRecord) {
  Histogram a;
  Histogram b;
  a.RecordN(1500, 5);
  a.RecordN(70, 0);  // recording nothing must not move min
  for (int i = 0; i < 5; ++i) b.Record(1500);
  ExpectSameHistogram(a, b);
  EXPECT_EQ(a.min(), 1500.0);
  EXPECT_EQ(a.mean(), 1500.0);
}

TEST(HistogramTest, NearestRankUsesTheDecimalPercentile) {
  // Values 1 ms, 2 ms, ..., 1000 ms: neighbours are 0.1% apart or more and every value is within
  // 0.05% of its bucket midpoint, so rounding to ms tells which rank was picked.
  Histogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(i * 1000.0);
  auto rank_of = [&](double q) { return std::lround(h.Percentile(q) / 1000); };
  EXPECT_EQ(rank_of(50), 500);
  // 99.9/100*1000 is 999.0000000000001 in doubles; a plain ceil would give rank 1000.
  EXPECT_EQ(rank_of(99.9), 999);
  EXPECT_EQ(rank_of(99.91), 1000);
  EXPECT_EQ(rank_of(29), 290);
  EXPECT_EQ(rank_of(0.1), 1);
  EXPECT_EQ(rank_of(0.11), 2);
  EXPECT_EQ(rank_of(1e-9), 1);
  // q outside [0, 100] (and NaN) is clamped; the extremes are exact.
  EXPECT_EQ(h.Percentile(-3), 1000.0);
  EXPECT_EQ(h.Percentile(kNaN), 1000.0);
  EXPECT_EQ(h.Percentile(150), 1'000'000.0);
  EXPECT_EQ(h.Percentile(0), 1000.0);
  EXPECT_EQ(h.Percentile(100), 1'000'000.0);
}

TEST(HistogramTest, CopyIsDeepAndClearResets) {
  Histogram a;
  a.Record(10);
  a.Record(20'000);
  Histogram copy(a);
  Histogram assigned;
  assigned.Record(7);
  assigned = a;
  a.Record(5'000'000);  // must not show up in the copies
  for (const Histogram* h : {&copy, &assigned}) {
    EXPECT_EQ(h->count(), 2u);
    EXPECT_EQ(h->max(), 20'000.0);
    EXPECT_EQ(h->Percentile(100), 20'000.0);
    EXPECT_EQ(h->ToProto().bucket_count_size(), 2);
  }
  Histogram& self = copy;
  copy = self;
  EXPECT_EQ(copy.count(), 2u);

  a.Clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.max(), 0.0);
  EXPECT_EQ(a.sum(), 0.0);
  EXPECT_EQ(a.ToProto().bucket_count_size(), 0);
  a.Record(300);
  EXPECT_EQ(a.min(), 300.0);  // not 10, nor 0
}

// ---------------------------------------------------------------------------------------------
// Accuracy against exact percentiles

struct Distribution {
  std::string name;
  std::function<double(std::mt19937_64&)> sample;
};
// Short parameter names in test listings (ctest shows GetParam() otherwise as raw bytes).
void PrintTo(const Distribution& d, std::ostream* os) { *os << d.name; }

class HistogramAccuracyTest : public ::testing::TestWithParam<Distribution> {};

TEST_P(HistogramAccuracyTest, PercentilesWithinRelativeErrorOfExact) {
  constexpr int kSamples = 1'000'000;
  std::mt19937_64 rng(20240611);
  std::vector<double> values(kSamples);
  Histogram h;
  for (double& v : values) {
    v = GetParam().sample(rng);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());

  ASSERT_EQ(h.count(), static_cast<uint64_t>(kSamples));
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  double previous = 0;
  for (int64_t q_bp : kQuantilesBp) {
    const double q = q_bp / 100.0;
    const double exact = ExactPercentile(values, q_bp);
    const double got = h.Percentile(q);
    const double rel = std::abs(got - exact) / exact;
    // The bound, and the header's tighter one (half a bucket, 2^-11).
    EXPECT_LE(rel, 1e-3) << "q=" << q << " exact=" << exact << " got=" << got;
    EXPECT_LE(rel, std::ldexp(1.0, -11) * (1 + 1e-9)) << "q=" << q;
    EXPECT_GE(got, previous) << "percentiles must not decrease, q=" << q;
    previous = got;
  }
  EXPECT_EQ(h.Percentile(0), values.front());
  EXPECT_EQ(h.Percentile(100), values.back());
}

double Uniform1usTo10s(std::mt19937_64& rng) {
  return std::uniform_real_distribution<double>(1, 10e6)(rng);
}

double LogNormalAround5ms(std::mt19937_64& rng) {
  return std::lognormal_distribution<double>(std::log(5000.0), 0.8)(rng);
}

double ExponentialMean3ms(std::mt19937_64& rng) {
  return std::exponential_distribution<double>(1 / 3000.0)(rng);
}

// A fast path and a slow (e.g. cold-start) path, 9:1, with a wide empty gap between them.
double Bimodal2msAnd200ms(std::mt19937_64& rng) {
  const bool slow = std::bernoulli_distribution(0.1)(rng);
  const double median = slow ? 200'000.0 : 2'000.0;
  return std::lognormal_distribution<double>(std::log(median), 0.2)(rng);
}

double Constant(std::mt19937_64&) { return 1234.567; }

INSTANTIATE_TEST_SUITE_P(Distributions, HistogramAccuracyTest,
                         ::testing::Values(Distribution{"Uniform1usTo10s", &Uniform1usTo10s},
                                           Distribution{"LogNormalAround5ms", &LogNormalAround5ms},
                                           Distribution{"ExponentialMean3ms", &ExponentialMean3ms},
                                           Distribution{"Bimodal2msAnd200ms", &Bimodal2msAnd200ms},
                                           Distribution{"Constant", &Constant}),
                         [](const ::testing::TestParamInfo<Distribution>& info) {
                           return info.param.name;
                         });

TEST(HistogramTest, ConstantDataGivesTheExactValueAtEveryPercentile) {
  Histogram h;
  h.RecordN(1234.567, 1000);
  for (int64_t q_bp : kQuantilesBp) EXPECT_EQ(h.Percentile(q_bp / 100.0), 1234.567);
}

// ---------------------------------------------------------------------------------------------
// Merge

std::vector<double> LogNormalValues(int n, double median, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(median), 1.0);
  std::vector<double> values(n);
  for (double& v : values) v = dist(rng);
  return values;
}

TEST(HistogramMergeTest, MergeOfSplitDataEqualsTheWhole) {
  const std::vector<double> values = LogNormalValues(100'000, 5000, 1);
  const Histogram whole = FromValues(values);
  Histogram parts[3];
  for (size_t i = 0; i < values.size(); ++i) parts[i % 3].Record(values[i]);
  Histogram merged;
  for (const Histogram& part : parts) merged.Merge(part);
  ExpectSameHistogram(merged, whole);
  EXPECT_EQ(merged.count(), values.size());
}

TEST(HistogramMergeTest, MergeIsAssociativeAndCommutative) {
  // Different ranges, so that the histograms have chunks the others lack.
  const Histogram a = FromValues(LogNormalValues(20'000, 50, 2));
  const Histogram b = FromValues(LogNormalValues(20'000, 5'000, 3));
  const Histogram c = FromValues(LogNormalValues(20'000, 5'000'000, 4));

  Histogram ab_c(a);
  ab_c.Merge(b);
  ab_c.Merge(c);
  Histogram bc(b);
  bc.Merge(c);
  Histogram a_bc(a);
  a_bc.Merge(bc);
  Histogram ca_b(c);
  ca_b.Merge(a);
  ca_b.Merge(b);
  ExpectSameHistogram(ab_c, a_bc);
  ExpectSameHistogram(ab_c, ca_b);

  Histogram ab(a);
  ab.Merge(b);
  Histogram ba(b);
  ba.Merge(a);
  ExpectSameHistogram(ab, ba);
  EXPECT_EQ(ab.sum(), ba.sum());  // a + b == b + a exactly in IEEE arithmetic
  EXPECT_EQ(ab_c.count(), 60'000u);
  EXPECT_EQ(ab_c.min(), std::min({a.min(), b.min(), c.min()}));
  EXPECT_EQ(ab_c.max(), c.max());
}

TEST(HistogramMergeTest, MergeWithEmptyKeepsMinAndMax) {
  Histogram h;
  h.Record(5000);
  h.Record(9000);
  const Histogram empty;

  Histogram left(h);
  left.Merge(empty);
  ExpectSameHistogram(left, h);
  EXPECT_EQ(left.min(), 5000.0);

  // The empty side's min is "no value": merging into it must not leave min at 0.
  Histogram right;
  right.Merge(h);
  ExpectSameHistogram(right, h);
  EXPECT_EQ(right.min(), 5000.0);
  EXPECT_EQ(right.Percentile(0), 5000.0);

  Histogram both;
  both.Merge(empty);
  EXPECT_EQ(both.count(), 0u);
  EXPECT_EQ(both.min(), 0.0);
  EXPECT_EQ(both.max(), 0.0);
  both.Record(42);
  EXPECT_EQ(both.min(), 42.0);
}

TEST(HistogramMergeTest, MergeWithItselfDoubles) {
  Histogram h = FromValues({10, 20, 30});
  h.Merge(h);
  Histogram expected = FromValues({10, 20, 30, 10, 20, 30});
  ExpectSameHistogram(h, expected);
}

// ---------------------------------------------------------------------------------------------
// Sparse proto form

TEST(HistogramProtoTest, RunsAreDeltaEncoded) {
  Histogram h;
  // Buckets 5..7, 10, and 1023..1024 (a run across a chunk boundary).
  h.RecordN(Histogram::BucketLow(5), 1);
  h.RecordN(Histogram::BucketLow(6), 2);
  h.RecordN(Histogram::BucketLow(7), 3);
  h.RecordN(Histogram::BucketLow(10), 4);
  h.RecordN(Histogram::BucketLow(1023), 5);
  h.RecordN(Histogram::BucketLow(1024), 6);
  const HistogramData data = h.ToProto();
  EXPECT_EQ(data.layout(), Histogram::kLayout);
  EXPECT_EQ(data.count(), 21u);
  EXPECT_EQ(data.min_us(), Histogram::BucketLow(5));
  EXPECT_EQ(data.max_us(), 2.0);
  EXPECT_THAT(data.bucket_index_delta(), ElementsAre(5u, 2u, 1012u));
  EXPECT_THAT(data.run_length(), ElementsAre(3u, 1u, 2u));
  EXPECT_THAT(data.bucket_count(), ElementsAre(1u, 2u, 3u, 4u, 5u, 6u));
}

TEST(HistogramProtoTest, RoundTripPreservesEverything) {
  std::vector<double> values = LogNormalValues(50'000, 3000, 5);
  // Add the edges: bucket 0, the last used bucket, and clamped values.
  for (double v : {0.0, 1.0, 0.3, Histogram::kMaxUs, 3 * Histogram::kMaxUs}) values.push_back(v);
  const Histogram h = FromValues(values);

  absl::StatusOr<Histogram> direct = Histogram::FromProto(h.ToProto());
  ASSERT_TRUE(direct.ok()) << direct.status();
  ExpectSameHistogram(*direct, h);
  EXPECT_EQ(direct->sum(), h.sum());

  HistogramData parsed;
  ASSERT_TRUE(parsed.ParseFromString(h.ToProto().SerializeAsString()));
  absl::StatusOr<Histogram> wire = Histogram::FromProto(parsed);
  ASSERT_TRUE(wire.ok()) << wire.status();
  ExpectSameHistogram(*wire, h);
  EXPECT_EQ(wire->sum(), h.sum());
  EXPECT_EQ(wire->ToProto().SerializeAsString(), h.ToProto().SerializeAsString());
}

TEST(HistogramProtoTest, EmptyRoundTripsAndDefaultMessageIsEmpty) {
  absl::StatusOr<Histogram> from_empty = Histogram::FromProto(Histogram().ToProto());
  ASSERT_TRUE(from_empty.ok()) << from_empty.status();
  EXPECT_EQ(from_empty->count(), 0u);

  absl::StatusOr<Histogram> from_default = Histogram::FromProto(HistogramData());
  ASSERT_TRUE(from_default.ok()) << from_default.status();
  EXPECT_EQ(from_default->count(), 0u);
  EXPECT_EQ(from_default->min(), 0.0);
  // And it still behaves as empty: the first value sets min.
  from_default->Record(77);
  EXPECT_EQ(from_default->min(), 77.0);
}

TEST(HistogramProtoTest, NarrowDistributionIsSmallOnTheWire) {
  // 10 ms +- 10%: about 250 buckets of 8 µs, each a varint of two bytes.
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> dist(9'000, 11'000);
  Histogram h;
  for (int i = 0; i < 100'000; ++i) h.Record(dist(rng));
  const HistogramData data = h.ToProto();
  EXPECT_EQ(data.run_length_size(), 1);  // every bucket in the range is hit: one run
  EXPECT_LT(data.SerializeAsString().size(), 2048u);
}

// Each case breaks one thing in a valid message and names the expected complaint.
struct MalformedCase {
  std::string name;
  std::function<void(HistogramData&)> corrupt;
  std::string message;
};
void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class HistogramFromProtoRejectsTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(HistogramFromProtoRejectsTest, WithInvalidArgumentNamingTheProblem) {
  Histogram h;
  h.RecordN(1024, 4);  // bucket 10240 (buckets are 1 µs wide in [1024, 2048))
  h.RecordN(1025, 3);  // bucket 10241: one run of two
  h.RecordN(5000, 2);  // bucket 12514: a second run
  HistogramData data = h.ToProto();
  ASSERT_TRUE(Histogram::FromProto(data).ok()) << "the uncorrupted message must be accepted";
  GetParam().corrupt(data);
  const absl::StatusOr<Histogram> result = Histogram::FromProto(data);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, HistogramFromProtoRejectsTest,
    ::testing::Values(
        MalformedCase{"UnknownLayout", [](HistogramData& d) { d.set_layout(2); },
                      "histogram: unknown layout 2 (expected 1)"},
        MalformedCase{"LayoutZeroWithData", [](HistogramData& d) { d.set_layout(0); },
                      "histogram: unknown layout 0"},
        MalformedCase{"MoreDeltasThanRuns", [](HistogramData& d) { d.add_bucket_index_delta(1); },
                      "histogram: 3 bucket_index_delta entries but 2 run_length entries"},
        MalformedCase{"RunLengthsDisagreeWithCounts",
                      [](HistogramData& d) { d.set_run_length(0, 3); },
                      "histogram: run lengths add up to 4 but there are 3 bucket counts"},
        MalformedCase{"IndexOutOfRange",
                      [](HistogramData& d) { d.set_bucket_index_delta(1, 40'000); },
                      "histogram: bucket index 50242 out of range"},
        MalformedCase{"DeltaWrapsPastUint32",
                      [](HistogramData& d) { d.set_bucket_index_delta(1, 0xFFFFFFFFu); },
                      "out of range"},
        MalformedCase{"ZeroCount", [](HistogramData& d) { d.set_bucket_count(1, 0); },
                      "histogram: bucket 10241 has a zero count"},
        MalformedCase{"ZeroLengthRun",
                      [](HistogramData& d) {
                        d.add_bucket_index_delta(1);
                        d.add_run_length(0);
                      },
                      "histogram: run 2 has length 0"},
        MalformedCase{"CountsDoNotAddUp", [](HistogramData& d) { d.set_count(11); },
                      "histogram: bucket counts add up to 9 but count is 11"},
        MalformedCase{
            "CountsOverflow",
            [](HistogramData& d) { d.set_bucket_count(0, std::numeric_limits<uint64_t>::max()); },
            "histogram: bucket counts overflow 64 bits"},
        MalformedCase{"MinAboveMax", [](HistogramData& d) { d.set_min_us(6000); },
                      "histogram: min_us 6000 is greater than max_us 5000"},
        MalformedCase{"NegativeMin", [](HistogramData& d) { d.set_min_us(-1); }, "must be >= 0"},
        MalformedCase{"NaNSum", [](HistogramData& d) { d.set_sum_us(kNaN); }, "must be >= 0"},
        MalformedCase{"EmptyWithStats",
                      [](HistogramData& d) {
                        d.clear_bucket_index_delta();
                        d.clear_run_length();
                        d.clear_bucket_count();
                        d.set_count(0);
                      },
                      "histogram: count is 0 but min_us, max_us, sum_us are 1024, 5000, 17171"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Memory

TEST(HistogramMemoryTest, OneOctaveAllocatesOneChunk) {
  Histogram h;
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(h), 0);
  // [1024, 2048) µs is one power of two, so one chunk however many values.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(1024, 2048);
  for (int i = 0; i < 10'000; ++i) h.Record(dist(rng));
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(h), 1);

  // Copies, merges and round trips allocate only what holds data.
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(Histogram(h)), 1);
  Histogram merged;
  merged.Merge(h);
  merged.Merge(Histogram());
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(merged), 1);
  absl::StatusOr<Histogram> parsed = Histogram::FromProto(h.ToProto());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(*parsed), 1);

  h.Record(5);  // a second octave
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(h), 2);
  h.Clear();
  EXPECT_EQ(HistogramTestPeer::AllocatedChunks(h), 0);
}

}  // namespace
}  // namespace stampede
