// Test support: a TCP relay that delays every byte it carries, for simulating wide-area links
// (this kernel has no netem qdisc, so link delay cannot be injected below TCP). Each accepted
// connection is paired with a new connection to the upstream; bytes are read as they come, each
// read (a chunk) is stamped with its arrival time and released to the other side at arrival +
// the direction's delay (+/- jitter). Chunks wait in a queue, not behind a sleep, so a stream
// keeps flowing at its own rate and only its latency grows: throughput is not capped at one
// chunk per round trip. A chunk is never released before the one read before it, so jitter
// cannot reorder bytes within a connection.
//
// The relay terminates TCP on both sides (a "split" connection): the delay sits between two
// loopback-fast TCP connections, so TCP's own behaviour over a long path (slow start, window
// limits) is not simulated; what the programs above it see is the delay on their data.
#ifndef STAMPEDE_TESTS_SUPPORT_DELAY_RELAY_H_
#define STAMPEDE_TESTS_SUPPORT_DELAY_RELAY_H_

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stampede::testing {

struct DelayRelayOptions {
  // Where to listen and where to connect: "A.B.C.D:PORT" or "[V6]:PORT", numeric. Port 0 in
  // `listen` lets the kernel choose (see DelayRelay::port()).
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  // One-way delays: client -> upstream ("up") and upstream -> client ("down"). Different values
  // make an asymmetric path.
  absl::Duration up_delay = absl::ZeroDuration();
  absl::Duration down_delay = absl::ZeroDuration();
  // Each chunk's delay is drawn uniformly from delay +/- jitter (never below zero), then held
  // back if needed so that it leaves no earlier than the chunk before it.
  absl::Duration jitter = absl::ZeroDuration();
  uint64_t seed = 1;
  // Bytes queued per direction of a connection; when full, that side is not read (TCP flow
  // control pushes back on the sender). Also bounds throughput: at most this much per delay.
  size_t max_queued = 8 << 20;
  // Called on the relay's thread, once per connection, with the wall-clock time (CLOCK_REALTIME,
  // ns) at which the client's first byte arrived at the relay (before any delay). Lets a test
  // see when a program behind the relay really sent its first request.
  std::function<void(uint64_t connection, int64_t wall_ns)> on_first_byte{};
};

// The relay runs one background thread: a ppoll() loop over the listening socket, an eventfd
// (stop) and every connection's sockets, all non-blocking, woken at the next chunk's release
// time. It reads the real clocks itself: its job is to delay bytes in real time, which a fake
// clock could not do.
class DelayRelay {
 public:
  static absl::StatusOr<std::unique_ptr<DelayRelay>> Start(DelayRelayOptions options);
  DelayRelay(const DelayRelay&) = delete;
  DelayRelay& operator=(const DelayRelay&) = delete;
  ~DelayRelay();  // stops the thread, closes every socket; bytes still queued are dropped

  // Any thread.
  int port() const { return port_; }
  // The listening address with the actual port ("127.0.0.1:40123").
  const std::string& address() const { return address_; }
  uint64_t connections() const { return connections_.load(); }
  // Bytes delivered so far in each direction.
  uint64_t bytes_up() const { return bytes_up_.load(); }
  uint64_t bytes_down() const { return bytes_down_.load(); }

 private:
  struct Connection;

  DelayRelay(DelayRelayOptions options, int listen_fd, int wake_fd, int port, std::string address);
  void Run();
  // Reads what `from` has for direction `d` of `c`; false when the connection failed.
  bool ReadSide(Connection& c, bool up);
  // Writes the chunks of one direction that are due; false when the connection failed.
  bool WriteSide(Connection& c, bool up, int64_t now_ns);
  void Accept(std::vector<std::unique_ptr<Connection>>& connections);

  const DelayRelayOptions options_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd: the destructor writes it
  const int port_;
  const std::string address_;
  sockaddr_storage upstream_{};  // set once by Start(), before the thread starts
  socklen_t upstream_len_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> bytes_up_{0};
  std::atomic<uint64_t> bytes_down_{0};
  std::mt19937_64 rng_;  // jitter; only the relay thread uses it
  std::thread thread_;
};

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_DELAY_RELAY_H_
