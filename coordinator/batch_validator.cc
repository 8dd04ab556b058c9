#include "coordinator/batch_validator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/timeline.h"

namespace stampede {
namespace {

// A request can outlive its timeout a little: the timeout fires on the agent's next loop turn.
constexpr int64_t kServiceSlackNs = 30'000'000'000;
// Late and dropped are counts of sends; more than this is garbage, not a load.
constexpr uint64_t kMaxCount = uint64_t{1} << 40;

absl::Status Bad(absl::string_view field, int index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("batch.", field, "[", index, "]: ", what));
}

std::string Instant(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

}  // namespace

absl::Status ValidateBatch(const RecordBatch& b, const BatchLimits& limits) {
  if (!b.agent_id().empty() && b.agent_id() != limits.agent_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.agentId: the batch says it is from another agent than the one that "
                     "sent it (",
                     limits.agent_id, ")"));
  }
  const int n = b.latency_us_size();
  if (n > kMaxRecordsPerBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.latencyUs: ", n, " records, more than ", kMaxRecordsPerBatch));
  }
  struct Column {
    const char* name;
    int size;
    bool may_be_empty;
  };
  for (const Column& c :
       {Column{"startOffsetNs", b.start_offset_ns_size(), false},
        Column{"serviceUs", b.service_us_size(), false}, Column{"status", b.status_size(), false},
        Column{"error", b.error_size(), false}, Column{"bytesSent", b.bytes_sent_size(), false},
        Column{"bytesReceived", b.bytes_received_size(), false},
        Column{"stage", b.stage_size(), false}, Column{"worker", b.worker_size(), true}}) {
    if (c.size != n && !(c.may_be_empty && c.size == 0)) {
      return absl::InvalidArgumentError(absl::StrCat("batch.", c.name, ": ", c.size, " values for ",
                                                     n,
                                                     " records (every column has one per record)"));
    }
  }
  if (b.late() > kMaxCount || b.dropped() > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch.late/dropped: ", b.late(), " / ", b.dropped(), " is not a count"));
  }
  // Timestamps may stray from the run's window by the agent's clock uncertainty (twice: the
  // offset was estimated once, the clocks drift after) and the slack.
  const int64_t slack =
      std::max<int64_t>(0, limits.slack_ns) + 2 * std::max<int64_t>(0, limits.clock_uncertainty_ns);
  const int64_t earliest = WrapSub(limits.run_start_ns, slack);
  const int64_t latest = WrapAdd(limits.now_ns, slack);
  const int64_t base = AgentToCoordinatorNs(b.base_time_ns(), limits.clock_offset_ns);
  const uint64_t max_service_us =
      static_cast<uint64_t>(std::max<int64_t>(0, limits.timeout_ns) + kServiceSlackNs) / 1000;
  for (int i = 0; i < n; ++i) {
    if (b.status(i) > 599) {
      return Bad("status", i, absl::StrCat(b.status(i), " is not an HTTP status (0..599)"));
    }
    if (!ErrorClass_IsValid(b.error(i))) {
      return Bad("error", i, absl::StrCat(static_cast<int>(b.error(i)), " is not an error class"));
    }
    if (b.stage(i) >= static_cast<uint32_t>(limits.stages)) {
      return Bad("stage", i,
                 absl::StrCat(b.stage(i), " but the plan has ", limits.stages, " stage(s)"));
    }
    if (b.service_us(i) > b.latency_us(i)) {
      return Bad("serviceUs", i,
                 absl::StrCat(b.service_us(i), " µs is more than the latency (", b.latency_us(i),
                              " µs), which counts from earlier"));
    }
    if (b.service_us(i) > max_service_us) {
      return Bad("serviceUs", i,
                 absl::StrCat(b.service_us(i), " µs is far beyond the request timeout"));
    }
    const int64_t start = WrapAdd(base, b.start_offset_ns(i));
    const int64_t end = WrapAdd(start, int64_t{b.latency_us(i)} * 1000);
    if (start < earliest || start > latest) {
      return Bad("startOffsetNs", i,
                 absl::StrCat("starts at ", Instant(start), ", outside the run (from ",
                              Instant(limits.run_start_ns), " to now)"));
    }
    if (end < start || end > latest) {
      return Bad("latencyUs", i,
                 absl::StrCat(b.latency_us(i), " µs ends at ", Instant(end),
                              ", after now on the coordinator's clock"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stampede
