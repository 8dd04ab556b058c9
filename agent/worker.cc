#include "agent/worker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/load_split.h"
#include "common/plan_loader.h"
#include "common/status_macros.h"

namespace stampede {
namespace {

constexpr int64_t kLateNs = 1'000'000;          // a send ≥1 ms after its intended time is late
constexpr int64_t kRampTickNs = 1'000'000;      // closed ramps re-evaluate their target every ms
constexpr int64_t kGatePollNs = 200'000;        // how often a worker looks at the stage gate
constexpr int kDefaultMaxInFlight = 10000;      // per agent, open model
constexpr uint64_t kWakeTag = kWorkerEpollTag;  // epoll data of the wake-up eventfd
// Sends waiting for an in-flight slot. Waiting is what makes a stalled server visible (latency
// from the intended time grows), so the bound is only there to keep memory finite (8 MB).
constexpr size_t kMaxBacklog = 1'000'000;

uint32_t ClampU32(int64_t v) {
  return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, UINT32_MAX));
}

}  // namespace

Worker::Worker(RunContext* ctx, int index)
    : ctx_(ctx),
      index_(index),
      buffer_(ctx->run_id, ctx->agent_id, ctx->origin_wall_ns, static_cast<uint32_t>(index),
              ctx->batch_records, &ctx->batch_seq, ctx->sink) {}

Worker::~Worker() {
  transport_.reset();  // it may unregister sockets from the epoll set: close that last
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

absl::Status Worker::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("worker ", index_, ": ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ASSIGN_OR_RETURN(transport_, ctx_->transport->Create(epoll_fd_, this, ctx_->clock));
  return absl::OkStatus();
}

void Worker::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void Worker::BeginStage(int stage, int64_t start_ns) {
  const Stage& global = ctx_->plan->stages(stage);
  stage_ = stage;
  share_ = SplitStage(global, ctx_->workers, index_);
  closed_ = IsClosedStage(global);
  stage_start_ns_ = start_ns;
  stage_end_ns_ = global.has_duration() ? start_ns + DurationToNs(global.duration()) : INT64_MAX;
  quota_ = global.has_requests() ? share_.requests() : -1;
  issued_ = 0;
  stage_running_ = true;
  gate_wait_ = false;
  ramping_ = global.has_ramp_to() && global.has_duration();
  vu_target_ = 0;
  schedule_.reset();
  next_arrival_ns_ = INT64_MAX;
  if (closed_) {
    think_ns_ = global.has_think_time() ? DurationToNs(global.think_time()) : 0;
    back_off_ = global.back_off();
    int most = share_.concurrency();
    if (ramping_) most = std::max(most, static_cast<int>(share_.ramp_to()));
    if (static_cast<int>(vus_.size()) < most) vus_.resize(static_cast<size_t>(most));
    for (Vu& vu : vus_) vu.backoff_ns = 0;  // a new stage starts gently only after its own 503s
  } else {
    max_in_flight_ = static_cast<size_t>(
        share_.has_max_in_flight()
            ? share_.max_in_flight()
            : std::max<int64_t>(1, SplitCount(kDefaultMaxInFlight, ctx_->workers, index_)));
    const int64_t duration = global.has_duration() ? DurationToNs(global.duration()) : 0;
    schedule_.emplace(
        share_.rate(), ramping_ ? share_.ramp_to() : share_.rate(), duration,
        global.arrival() == "poisson", static_cast<double>(index_) / ctx_->workers,
        ctx_->seed * 7919 + static_cast<uint64_t>(index_) * 131 + static_cast<uint64_t>(stage));
    next_arrival_ns_ = start_ns + schedule_->Next();
  }
}

void Worker::EndStage(int64_t next_start_ns) {
  stage_running_ = false;
  if (stage_ + 1 < ctx_->plan->stages_size()) {
    BeginStage(stage_ + 1, next_start_ns);
  } else {
    finished_ = true;
  }
}

int Worker::VuTarget(int64_t now) const {
  if (!ramping_) return share_.concurrency();
  const Stage& global = ctx_->plan->stages(stage_);
  const double span = static_cast<double>(stage_end_ns_ - stage_start_ns_);
  const double f = std::clamp(static_cast<double>(now - stage_start_ns_) / span, 0.0, 1.0);
  const double total = global.concurrency() + (global.ramp_to() - global.concurrency()) * f;
  return static_cast<int>(SplitCount(std::llround(total), ctx_->workers, index_));
}

void Worker::Drive(int64_t now) {
  if (closed_) {
    if (now >= stage_end_ns_) return;
    const int target = VuTarget(now);
    for (int vu = vu_target_; vu < target && QuotaLeft(); ++vu) {
      if (!vus_[vu].busy) {
        ++issued_;
        StartRequest(now, vu, now);
      }
    }
    // On a ramp down, users at or above the target stop when their request ends (VuFree).
    vu_target_ = target;
    return;
  }
  while (next_arrival_ns_ <= now && next_arrival_ns_ < stage_end_ns_ && QuotaLeft()) {
    ++issued_;
    if (in_flight_.load(std::memory_order_relaxed) < max_in_flight_) {
      StartRequest(next_arrival_ns_, -1, now);
    } else if (backlog_.size() < kMaxBacklog) {
      backlog_.push_back(next_arrival_ns_);  // sent when a slot frees; counted late then
    } else {
      buffer_.AddDropped(1);
    }
    next_arrival_ns_ = stage_start_ns_ + schedule_->Next();
  }
}

Worker::Transfer* Worker::Acquire() {
  if (!free_.empty()) {
    Transfer* t = free_.back();
    free_.pop_back();
    return t;
  }
  auto t = std::make_unique<Transfer>();
  t->index = transfers_.size();
  transfers_.push_back(std::move(t));
  return transfers_.back().get();
}

void Worker::StartRequest(int64_t intended_ns, int vu, int64_t now) {
  if (vu >= 0) vus_[vu].busy = true;
  if (now - intended_ns >= kLateNs) buffer_.AddLate(1);
  Transfer* t = Acquire();
  t->vu = vu;
  t->start_ns = intended_ns;
  t->send_ns = now;
  t->stage = static_cast<uint32_t>(stage_);
  Bump(in_flight_, 1);
  // Done comes later (never from inside Start), exactly once.
  transport_->Start(t->index, payload_counter_++, now);
}

void Worker::Done(uint64_t cookie, const TransportResult& result, int64_t now) {
  ++done_calls_;
  Transfer* t = transfers_[cookie].get();
  Record r;
  r.start_offset_ns = t->start_ns - ctx_->origin_mono_ns;
  r.latency_us = ClampU32((now - t->start_ns) / 1000);
  r.service_us = ClampU32((now - t->send_ns) / 1000);
  r.status = result.status;
  r.error = result.error;
  r.bytes_sent = ClampU32(static_cast<int64_t>(result.sent));
  r.bytes_received = ClampU32(static_cast<int64_t>(result.received));
  r.stage = t->stage;
  buffer_.Add(r);
  Bump(completed_, 1);
  if (r.error != ERROR_NONE) Bump(errors_, 1);
  Bump(in_flight_, -1);

  free_.push_back(t);
  if (aborting_) return;
  if (t->vu >= 0) {
    if (back_off_) {
      constexpr int64_t kFirstBackoffNs = 50'000'000, kMaxBackoffNs = 1'000'000'000;
      int64_t& backoff = vus_[t->vu].backoff_ns;
      const bool failed = r.status == 503 || r.status == 0;
      backoff = !failed ? 0 : std::clamp(2 * backoff, kFirstBackoffNs, kMaxBackoffNs);
    }
    VuFree(t->vu, now);
  } else if (!backlog_.empty()) {
    const int64_t intended = backlog_.front();
    backlog_.pop_front();
    StartRequest(intended, -1, now);
  }
}

void Worker::VuFree(int vu, int64_t now) {
  vus_[vu].busy = false;
  if (!stage_running_ || !closed_ || now < stage_start_ns_ || now >= stage_end_ns_ ||
      vu >= vu_target_ || !QuotaLeft()) {
    return;
  }
  const int64_t wait = std::max(think_ns_, back_off_ ? vus_[vu].backoff_ns : 0);
  if (wait > 0) {
    vus_[vu].busy = true;
    thinking_.emplace(now + wait, vu);
    return;
  }
  ++issued_;
  StartRequest(now, vu, now);
}

void Worker::AbortAll(int64_t now) {
  aborting_ = true;
  // Each request in flight ends as ERROR_ABORTED through Done; aborting_: no user or backlog
  // starts another one.
  transport_->AbortAll(now);
  // Backlogged sends were never sent: they are dropped, not requests.
  buffer_.AddDropped(backlog_.size());
  backlog_.clear();
}

void Worker::Run() {
  BeginStage(0, ctx_->start_mono_ns);
  int64_t next_flush_ns = Now() + ctx_->flush_interval_ns;
  epoll_event events[256];
  while (true) {
    int64_t now = Now();
    if (ctx_->stop.load(std::memory_order_relaxed)) {
      AbortAll(now);
      break;
    }
    if (gate_wait_) {
      if (auto release = ctx_->gate.Released(stage_)) {
        gate_wait_ = false;
        EndStage(*release);
      }
    }
    if (stage_running_ && now >= stage_start_ns_) {
      const bool in_stage = now < stage_end_ns_;
      while (in_stage && !thinking_.empty() && thinking_.top().first <= now) {
        const int vu = thinking_.top().second;
        thinking_.pop();
        vus_[vu].busy = false;
        if (closed_ && vu < vu_target_ && QuotaLeft()) {
          ++issued_;
          StartRequest(now, vu, now);
        }
      }
      // Before a stage can end, every arrival it scheduled is sent, even when this loop woke up
      // late: the schedule, not the loop, decides how many requests a stage has.
      Drive(now);
      if (!in_stage) {
        EndStage(stage_end_ns_);
      } else if (quota_ >= 0 && !QuotaLeft() && in_flight_.load(std::memory_order_relaxed) == 0 &&
                 backlog_.empty()) {
        stage_running_ = false;
        gate_wait_ = true;
        ctx_->gate.Arrive(stage_, now);
        continue;  // look at the gate at once: this worker may have been the last
      }
    }
    if (finished_ && in_flight_.load(std::memory_order_relaxed) == 0 && backlog_.empty()) break;

    if (now >= next_flush_ns) {
      buffer_.Flush();
      next_flush_ns = now + ctx_->flush_interval_ns;
    }

    // The transport's due work (timeouts, libcurl's timers and new transfers, failures from
    // Start). Requests it ends may end a stage or the run: then look again before sleeping.
    const uint64_t done_before = done_calls_;
    transport_->RunDue(Now());
    int64_t deadline = std::min(transport_->NextDeadline(now), next_flush_ns);
    if (done_calls_ != done_before) deadline = now;
    if (gate_wait_) deadline = std::min(deadline, now + kGatePollNs);
    if (stage_running_) {
      if (now < stage_start_ns_) {
        deadline = std::min(deadline, stage_start_ns_);
      } else {
        deadline = std::min(deadline, stage_end_ns_);
        if (closed_) {
          if (!thinking_.empty()) deadline = std::min(deadline, thinking_.top().first);
          if (ramping_) deadline = std::min(deadline, now + kRampTickNs);
        } else if (QuotaLeft()) {
          deadline = std::min(deadline, next_arrival_ns_);
        }
      }
    }
    const int n = ctx_->waiter->Wait(epoll_fd_, events, 256, deadline);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        uint64_t v;
        (void)!read(wake_fd_, &v, sizeof(v));
        continue;
      }
      transport_->OnEvent(events[i].data, events[i].events, Now());
    }
  }
  buffer_.Flush();
}

}  // namespace stampede
