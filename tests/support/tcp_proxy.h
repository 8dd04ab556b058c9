// Test support: an in-process loopback TCP proxy that can drop the connections it carries on
// demand, so that tests can break a live link (the agent <-> coordinator gRPC stream) at a chosen
// moment and hold the client off for a while, without touching either end's code.
#ifndef STAMPEDE_TESTS_SUPPORT_TCP_PROXY_H_
#define STAMPEDE_TESTS_SUPPORT_TCP_PROXY_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"

namespace stampede::testing {

// Listens on 127.0.0.1 on a kernel-chosen port; every accepted connection is paired with a new
// connection to 127.0.0.1:upstream_port and bytes are copied both ways. One background thread
// runs a poll() loop over the listening socket, an eventfd (commands and stop) and every socket;
// all sockets are non-blocking and each direction buffers at most a bounded number of bytes
// (when full, that side is not read: TCP flow control pushes back on the sender). A half-close
// (EOF) on one side is passed on as shutdown(SHUT_WR) on the other once its buffer is flushed.
class TcpProxy {
 public:
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int upstream_port);
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;
  ~TcpProxy();  // stops the thread, closes every socket

  int port() const { return port_; }

  // Any thread. Abruptly closes every current connection pair (both sockets, with a TCP RST, any
  // buffered bytes discarded) and returns once that is done. New connections are still accepted
  // and forwarded afterwards.
  void CutAll();
  // Any thread. While false, new connections are accepted and immediately reset, so that a
  // client keeps failing to connect; established pairs are left alone (CutAll() them).
  void SetAccepting(bool accepting);
  // Any thread. While true, bytes from the upstream are read and buffered but not passed on to
  // the clients (up to the bound, then the upstream is not read): the client's requests still
  // arrive, the answers do not. Used to have the coordinator ingest batches whose acks never
  // reach the agent (then CutAll() discards them), so that the agent must resend them.
  void SetHoldReplies(bool hold);
  // Any thread. The other direction: while true, bytes from the clients are buffered here and
  // not passed on to the upstream. Followed by CutAll(), what the client "sent" meanwhile is
  // lost in transit, as on a real broken link.
  void SetHoldRequests(bool hold);
  // Connections accepted and forwarded so far (not counting those reset while not accepting).
  uint64_t connections() const { return connections_.load(); }
  // Connections reset on arrival because accepting was false.
  uint64_t refused() const { return refused_.load(); }
  // Connection pairs open right now.
  uint64_t open_pairs() const { return open_pairs_.load(); }

 private:
  struct Pair;

  TcpProxy(int listen_fd, int wake_fd, int port, int upstream_port)
      : listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port), upstream_port_(upstream_port) {}

  void Run();
  void Wake();

  const int listen_fd_;
  const int wake_fd_;  // eventfd: CutAll() and the destructor write it
  const int port_;
  const int upstream_port_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> hold_replies_{false};
  std::atomic<bool> hold_requests_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> open_pairs_{0};

  // CutAll() requests: the caller bumps cut_requested_ and waits until the loop has caught up.
  std::mutex mu_;
  std::condition_variable cut_done_cv_;
  uint64_t cut_requested_ = 0;  // guarded by mu_
  uint64_t cut_done_ = 0;       // guarded by mu_

  std::thread thread_;
};

}  // namespace stampede::testing

#endif  // STAMPEDE_TESTS_SUPPORT_TCP_PROXY_H_
