// One load-generating thread: the load model and its epoll loop. It runs every stage of the plan
// with its share of the load (closed: virtual users, think time, ramps; open: arrivals from an
// ArrivalSchedule, a backlog when every in-flight slot is taken), times every request from its
// intended start and writes one record per request. How a request goes on the wire is its
// Transport's business (native HTTP/1.1 or libcurl, chosen once per run; agent/transport.h): the
// worker owns the epoll set and the wake-up eventfd, the transport registers its sockets there,
// and the loop hands it their events, wakes up for its deadlines and calls it once per turn.
#ifndef STAMPEDE_AGENT_WORKER_H_
#define STAMPEDE_AGENT_WORKER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include "absl/status/status.h"
#include "agent/arrival_schedule.h"
#include "agent/record_buffer.h"
#include "agent/run_context.h"
#include "agent/transport.h"

namespace stampede {

class Worker final : private TransportCallbacks {
 public:
  Worker(RunContext* ctx, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the epoll set, the wake-up eventfd and this worker's transport. Called before Run,
  // any thread.
  absl::Status Init();
  // The event loop; returns when every stage is done and every response is in (or on stop).
  // Called on the worker's own thread.
  void Run();
  // Interrupts a blocking wait so the loop notices ctx->stop. Any thread.
  void Wake();

  // Live counters, any thread (relaxed; for progress displays).
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  uint64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

 private:
  // A request in flight, as the load model sees it; its position in transfers_ is the cookie
  // the transport hands back in Done.
  struct Transfer {
    uint64_t index = 0;    // position in transfers_
    int vu = -1;           // virtual user (closed model) or -1 (open model)
    int64_t start_ns = 0;  // intended (open) or actual (closed) send time, monotonic
    int64_t send_ns = 0;   // actual send time
    uint32_t stage = 0;
  };
  struct Vu {
    bool busy = false;
    int64_t backoff_ns = 0;  // wait before the next request (Stage.back_off), 0 after a success
  };
  using TimedVu = std::pair<int64_t, int>;  // (due ns, vu): think-time wake-ups

  int64_t Now() const { return ctx_->clock->MonotonicNs(); }
  // Stage machinery.
  void BeginStage(int stage, int64_t start_ns);
  void EndStage(int64_t now);
  void Drive(int64_t now);
  int VuTarget(int64_t now) const;
  bool QuotaLeft() const { return quota_ < 0 || issued_ < quota_; }
  // Requests.
  Transfer* Acquire();
  void StartRequest(int64_t intended_ns, int vu, int64_t now);
  // TransportCallbacks: one request ended. Its record, and what the user or schedule does next.
  void Done(uint64_t cookie, const TransportResult& result, int64_t now) override;
  void VuFree(int vu, int64_t now);
  void AbortAll(int64_t now);
  void Bump(std::atomic<uint64_t>& counter, int64_t delta) {
    counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

  RunContext* const ctx_;
  const int index_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<Transport> transport_;  // made by ctx_->transport in Init
  bool aborting_ = false;
  RecordBuffer buffer_;

  std::vector<std::unique_ptr<Transfer>> transfers_;
  std::vector<Transfer*> free_;
  std::vector<Vu> vus_;
  std::priority_queue<TimedVu, std::vector<TimedVu>, std::greater<>> thinking_;
  std::deque<int64_t> backlog_;  // open model: intended times waiting for an in-flight slot

  // Current stage (this worker's share of it).
  int stage_ = -1;
  bool stage_running_ = false;  // false while waiting for the start or the gate
  bool gate_wait_ = false;
  bool finished_ = false;  // all stages over; draining
  Stage share_;
  bool back_off_ = false;  // share_.back_off() for a closed stage
  bool closed_ = true;
  int64_t stage_start_ns_ = 0;
  int64_t stage_end_ns_ = INT64_MAX;  // duration stages
  int64_t quota_ = -1;                // request-count stages: this worker's requests
  int64_t issued_ = 0;                // requests (arrivals) generated in this stage
  int64_t think_ns_ = 0;
  int vu_target_ = 0;
  bool ramping_ = false;
  size_t max_in_flight_ = 0;
  std::optional<ArrivalSchedule> schedule_;
  int64_t next_arrival_ns_ = INT64_MAX;
  uint64_t payload_counter_ = 0;
  uint64_t done_calls_ = 0;  // Done calls so far (the loop checks whether RunDue made any)

  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> in_flight_{0};
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_WORKER_H_
