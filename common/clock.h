// Time seam: code that schedules or stamps takes a Clock& so that tests can use FakeClock.
#ifndef STAMPEDE_COMMON_CLOCK_H_
#define STAMPEDE_COMMON_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace stampede {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (arbitrary origin): for scheduling and measuring. Any thread.
  virtual int64_t MonotonicNs() const = 0;
  // Wall-clock nanoseconds since the Unix epoch: for stamping records. Any thread.
  virtual int64_t WallNs() const = 0;
};

// The system clocks (CLOCK_MONOTONIC, CLOCK_REALTIME).
class RealClock final : public Clock {
 public:
  int64_t MonotonicNs() const override;
  int64_t WallNs() const override;
  // A process-wide instance; Clock objects are stateless so sharing is safe.
  static RealClock& Get();
};

// A clock that moves only when told to; wall = monotonic + a fixed epoch offset.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ns = 0, int64_t wall_offset_ns = 1'700'000'000'000'000'000)
      : now_ns_(start_ns), wall_offset_ns_(wall_offset_ns) {}
  int64_t MonotonicNs() const override { return now_ns_.load(std::memory_order_relaxed); }
  int64_t WallNs() const override { return MonotonicNs() + wall_offset_ns_; }
  void AdvanceNs(int64_t ns) { now_ns_.fetch_add(ns, std::memory_order_relaxed); }
  void SetNs(int64_t ns) { now_ns_.store(ns, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_ns_;
  const int64_t wall_offset_ns_;
};

}  // namespace stampede

#endif  // STAMPEDE_COMMON_CLOCK_H_
