// The check every record batch passes before any of it touches a run's state: an agent (or
// anyone holding the token) may send anything, and a batch that is not what an honest agent
// sends is refused whole, with a message naming the field and the record.
#ifndef STAMPEDE_COORDINATOR_BATCH_VALIDATOR_H_
#define STAMPEDE_COORDINATOR_BATCH_VALIDATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "records.pb.h"

namespace stampede {

// At most this many records in one batch (agents flush at 4096).
inline constexpr int kMaxRecordsPerBatch = 1 << 20;

// What a batch is checked against: the run, the agent and the coordinator's clock.
struct BatchLimits {
  std::string agent_id;         // the sender: the batch's agent_id is empty or this
  int stages = 1;               // the plan's stage count: stage indexes are below it
  int64_t timeout_ns = 0;       // the plan's request timeout: service times are within it (+ slack)
  int64_t run_start_ns = 0;     // the run's start instant on the coordinator's timeline
  int64_t now_ns = 0;           // the coordinator's wall clock now
  int64_t clock_offset_ns = 0;  // the agent's clock minus the coordinator's
  int64_t clock_uncertainty_ns = 0;  // of that offset
  // How far a timestamp may stray from the run's window beyond twice the clock uncertainty
  // (scheduling, NTP steps): RunManagerOptions::timestamp_slack.
  int64_t slack_ns = 10'000'000'000;
};

// OK, or InvalidArgument naming the field and record, e.g. "batch.status[17]: 999 is not an HTTP
// status (0..599)". The rules: every column as long as latency_us (worker may be empty); at most
// kMaxRecordsPerBatch records; status 0..599; a known error class; stage below the plan's stage
// count; service time at most the latency (latency counts from the intended send, which is not
// after the actual one) and at most the request timeout plus a slack; start and end times within
// the run (from its start to now), allowing for the agent's clock uncertainty plus limits.slack_ns.
absl::Status ValidateBatch(const RecordBatch& batch, const BatchLimits& limits);

}  // namespace stampede

#endif  // STAMPEDE_COORDINATOR_BATCH_VALIDATOR_H_
