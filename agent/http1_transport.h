// The native HTTP/1.1 transport for plain http:// targets: what wrk does, because libcurl 7.88
// spends ~80k instructions per request (printf-built headers, URL re-parsing, proxy lookups) and
// the agent must keep up with wrk while recording every request. Requests are prebuilt bytes
// (Http1Request: one header block per payload) written with one sendmsg next to the shared
// payload; responses are parsed in place by Http1ResponseParser. Keep-alive connections stay
// registered in the worker's epoll set (no epoll_ctl per request). HTTPS and HTTP/2 go through
// libcurl (agent/curl_transport.h).
#ifndef STAMPEDE_AGENT_HTTP1_TRANSPORT_H_
#define STAMPEDE_AGENT_HTTP1_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "agent/http1_request.h"
#include "agent/http1_response_parser.h"
#include "agent/transport.h"

namespace stampede {

// Thread-compatible: owned by one worker, every method called from that worker's loop.
class Http1Transport final : public Transport {
 public:
  // `request` and `callbacks` outlive the transport; sockets are registered in `epoll_fd` with
  // data.ptr = the connection.
  Http1Transport(int epoll_fd, const Http1Request* request, TransportCallbacks* callbacks);
  ~Http1Transport() override;
  Http1Transport(const Http1Transport&) = delete;
  Http1Transport& operator=(const Http1Transport&) = delete;

  void Start(uint64_t cookie, uint64_t payload, int64_t now) override;
  void OnEvent(epoll_data_t data, uint32_t events, int64_t now) override;
  // Fails the requests past their deadline, reports failures that happened inside Start (see
  // Report) and makes the connection objects closed since the last call reusable.
  void RunDue(int64_t now) override;
  // Earliest request deadline (all requests share one timeout); `now` while failures from
  // Start wait to be reported.
  int64_t NextDeadline(int64_t now) override;
  void AbortAll(int64_t now) override;

  size_t connections() const { return conns_.size(); }

 private:
  struct Conn;
  Conn* Connect(int* error);
  void Send(Conn* c, int64_t now);
  void Read(Conn* c, int64_t now);
  // Puts a request on a connection (fresh or idle) and sends it when connected.
  void Begin(Conn* c, uint64_t cookie, uint64_t payload, bool reused, bool retried, int64_t now);
  // Hands a result to the worker; deferred to RunDue while inside Start.
  void Report(uint64_t cookie, const TransportResult& result, int64_t now);
  // Ends the connection's request; keeps the connection for the next one when it can.
  void Finish(Conn* c, const TransportResult& result, bool reusable, int64_t now);
  // A reused keep-alive connection that the server had closed meanwhile: send again on a fresh
  // connection (what browsers and libcurl do). Returns false when that is not the case.
  bool RetryStale(Conn* c, int64_t now);
  void Close(Conn* c);
  void Watch(Conn* c, uint32_t events);
  void ExpireTimeouts(int64_t now);

  const int epoll_fd_;
  const Http1Request* const request_;
  TransportCallbacks* const callbacks_;
  std::vector<std::unique_ptr<Conn>> conns_;  // every connection object ever made (reused)
  std::vector<Conn*> idle_;                   // open keep-alive connections without a request
  std::vector<Conn*> spare_;                  // closed connection objects, buffers kept
  // Request deadlines in start order (all requests share one timeout, so this is sorted).
  struct Deadline {
    int64_t at;
    Conn* conn;
    uint64_t generation;
  };
  std::deque<Deadline> deadlines_;
  struct Immediate {
    uint64_t cookie;
    TransportResult result;
  };
  std::vector<Immediate> immediate_;  // failures inside Start, reported by RunDue
  std::vector<Immediate> reporting_;  // immediate_ being reported (kept to reuse its memory)
  std::vector<Conn*> closed_;         // closed since the last RunDue; spare after it
  bool in_start_ = false;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_HTTP1_TRANSPORT_H_
