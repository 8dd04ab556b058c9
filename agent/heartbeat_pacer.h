// When the agent's link writer must send a heartbeat: when nothing was written for `interval`.
// A run whose requests are slow sends nothing for a while, and the coordinator declares an
// agent it does not hear from lost; heartbeats keep a healthy agent heard. Not thread-safe: one
// writer thread owns it.
#ifndef STAMPEDE_AGENT_HEARTBEAT_PACER_H_
#define STAMPEDE_AGENT_HEARTBEAT_PACER_H_

#include <cstdint>

#include "absl/time/time.h"
#include "common/clock.h"

namespace stampede {

class HeartbeatPacer {
 public:
  // Counts from now, as if something had just been written (the connection's Register).
  HeartbeatPacer(absl::Duration interval, const Clock* clock);

  // Something (a heartbeat or any other message) was written now.
  void Wrote();
  // Nothing was written for `interval`: send a heartbeat.
  bool Due() const;
  // How long the writer may wait for other work before a heartbeat is due (zero when due).
  absl::Duration UntilDue() const;

 private:
  const int64_t interval_ns_;
  const Clock* const clock_;
  int64_t last_write_ns_;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_HEARTBEAT_PACER_H_
