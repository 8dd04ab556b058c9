// How a worker sends requests: the seam between the load model (agent/worker.cc: stages, virtual
// users, arrivals, records) and the bytes on the wire. Two implementations, chosen once per run
// for the plan's target (agent/transport_factory.h), as wrk picks its socket functions once:
// native HTTP/1.1 (agent/http1_transport.h) and libcurl (agent/curl_transport.h).
//
// A transport belongs to one worker and runs on that worker's thread only: the worker owns the
// epoll set and the loop; the transport registers its sockets in that set and is called back
// for their events, for its deadlines and once per loop turn. Nothing here is thread-safe, and
// nothing needs to be. One turn of the worker's loop:
//   [load model: Start ...]  RunDue  NextDeadline  epoll wait  OnEvent per event
// Done may come from RunDue, OnEvent and AbortAll.
#ifndef STAMPEDE_AGENT_TRANSPORT_H_
#define STAMPEDE_AGENT_TRANSPORT_H_

#include <sys/epoll.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "records.pb.h"

namespace stampede {

// The epoll data the worker keeps for its own wake-up eventfd. A transport never registers a
// file descriptor with this tag (pointers and small fds never equal it).
inline constexpr uint64_t kWorkerEpollTag = UINT64_MAX;

// How one request ended, as far as the wire is concerned. The worker adds the timing.
struct TransportResult {
  ErrorClass error = ERROR_NONE;
  uint32_t status = 0;    // HTTP status; 0 when none arrived
  uint64_t sent = 0;      // request bytes written (headers and body)
  uint64_t received = 0;  // response bytes read (headers and body)
};

// What a transport reports to the worker that owns it.
class TransportCallbacks {
 public:
  // Called exactly once for every request started with Transport::Start: completed, failed,
  // timed out or aborted. Worker's thread, from inside OnEvent, RunDue or AbortAll, never
  // from inside Start: a failure met inside Start waits for the next RunDue, so a port that
  // refuses everything at once cannot make the worker recurse, and each loop turn sees one
  // round of such failures. The worker may call Start from here.
  virtual void Done(uint64_t cookie, const TransportResult& result, int64_t now) = 0;

 protected:
  ~TransportCallbacks() = default;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Sends one request with payload variant `payload` (the transport takes it modulo the number
  // of payloads); `cookie` comes back in TransportCallbacks::Done. Worker's thread.
  virtual void Start(uint64_t cookie, uint64_t payload, int64_t now) = 0;
  // An epoll event whose data this transport registered (anything but kWorkerEpollTag).
  // Worker's thread.
  virtual void OnEvent(epoll_data_t data, uint32_t events, int64_t now) = 0;
  // Once per loop turn, after the load model has started this turn's requests and before the
  // wait: the work that is due now. Expires timeouts, runs libcurl's due timers and lets it
  // start the transfers just added (rather than after another wait), reports the failures
  // deferred from Start, recycles what the last epoll batch closed. Worker's thread.
  virtual void RunDue(int64_t now) = 0;
  // The earliest instant the loop must wake up for this transport: a request's timeout,
  // libcurl's timer; `now` (or earlier) when RunDue has work again at once (failures of
  // requests started from its own Done calls); INT64_MAX when it waits only for socket
  // events. Worker's thread, once per loop turn, after RunDue, before the wait.
  virtual int64_t NextDeadline(int64_t now) = 0;
  // Ends every request in flight (and every failure not yet reported) with ERROR_ABORTED,
  // through Done. The worker starts nothing from those Done calls. Worker's thread.
  virtual void AbortAll(int64_t now) = 0;
};

// Which implementation a run uses.
enum class TransportKind { kHttp1, kCurl };
inline absl::string_view TransportKindName(TransportKind kind) {
  return kind == TransportKind::kHttp1 ? "http1" : "curl";
}

// Made once per run (agent/transport_factory.h) from the plan's target; holds what every worker's
// transport shares read-only (the prebuilt request, payloads) and makes one transport per worker.
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  virtual TransportKind kind() const = 0;
  // One transport for one worker: its sockets go into `epoll_fd` (the worker's, which outlives
  // the transport), its results to `callbacks`. From Worker::Init, before the worker's thread
  // runs; the factory must outlive the transports it made.
  virtual absl::StatusOr<std::unique_ptr<Transport>> Create(int epoll_fd,
                                                            TransportCallbacks* callbacks,
                                                            const Clock* clock) const = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_TRANSPORT_H_
