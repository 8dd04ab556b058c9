// The libcurl transport: HTTPS, HTTP/2 and plans that ask for "client": "curl". One curl multi
// handle per worker, driven through the socket-action interface from the worker's epoll loop:
// curl's sockets go into the worker's epoll set (data.fd = the socket) and curl's timer becomes
// this transport's deadline. Easy handles are kept per transfer slot and reused, configured once
// from the run's RequestTemplate; a request only points its handle at a payload.
#ifndef STAMPEDE_AGENT_CURL_TRANSPORT_H_
#define STAMPEDE_AGENT_CURL_TRANSPORT_H_

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "agent/request_template.h"
#include "agent/transport.h"
#include "common/clock.h"

namespace stampede {

// curl_global_init, once per process (it is not thread-safe; call before any worker runs).
void CurlGlobalInit();

// Thread-compatible: owned by one worker, every method called from that worker's loop.
class CurlTransport final : public Transport {
 public:
  // `request`, `callbacks` and `clock` outlive the transport. Call Init before anything else.
  CurlTransport(int epoll_fd, const RequestTemplate* request, TransportCallbacks* callbacks,
                const Clock* clock);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // Creates the multi handle.
  absl::Status Init();

  void Start(uint64_t cookie, uint64_t payload, int64_t now) override;
  void OnEvent(epoll_data_t data, uint32_t events, int64_t now) override;
  // Lets curl start the transfers added since the last call (before the loop waits) and run its
  // due timers, then reports the failures deferred from Start.
  void RunDue(int64_t now) override;
  // curl's timer; `now` when transfers were just added or failures wait to be reported.
  int64_t NextDeadline(int64_t now) override;
  void AbortAll(int64_t now) override;

 private:
  // One easy handle and what a transfer on it needs to know; reused from transfer to transfer.
  struct Slot {
    CURL* easy = nullptr;
    uint64_t cookie = 0;
    uint64_t payload_bytes = 0;
    uint64_t rx_bytes = 0;  // body bytes, counted by the write callback
    bool active = false;
  };
  struct Immediate {
    uint64_t cookie;
    TransportResult result;
  };

  // libcurl callbacks (static trampolines to the transport in userp).
  static int OnSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* userp);

  Slot* Acquire();
  // Runs curl on a socket (or its timeouts), then reports the transfers that finished.
  void Action(curl_socket_t s, int flags);
  // curl finished a transfer: read what it knows and report it.
  void Complete(CURL* easy, CURLcode result, int64_t now);

  const int epoll_fd_;
  const RequestTemplate* const request_;
  TransportCallbacks* const callbacks_;
  const Clock* const clock_;
  CURLM* multi_ = nullptr;
  int64_t deadline_ns_ = INT64_MAX;  // curl's timer
  bool kick_ = false;                // handles were added: run curl's expired timers before waiting
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::vector<Immediate> immediate_;  // failures inside Start, reported by RunDue
  std::vector<Immediate> reporting_;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_CURL_TRANSPORT_H_
