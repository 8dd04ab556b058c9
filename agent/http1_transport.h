// The native HTTP/1.1 transport for plain http:// targets: what wrk does, because libcurl 7.88
// spends ~80k instructions per request (printf-built headers, URL re-parsing, proxy lookups) and
// the agent must keep up with wrk while recording every request. Requests are prebuilt bytes
// (one header block per payload) written with writev next to the shared payload; responses are
// parsed in place by Http1ResponseParser. Keep-alive connections stay registered in the worker's
// epoll set (no epoll_ctl per request). HTTPS and HTTP/2 stay on libcurl.
#ifndef STAMPEDE_AGENT_HTTP1_CLIENT_H_
#define STAMPEDE_AGENT_HTTP1_CLIENT_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/http1_response_parser.h"
#include "plan.pb.h"
#include "records.pb.h"

namespace stampede {

// The request, built once per run from the plan's (resolved) target.
class Http1Request {
 public:
  // Fails for targets this transport does not handle (https, HTTP/2, a host that does not
  // resolve); the caller then uses libcurl, which reports such problems per request.
  static absl::StatusOr<std::unique_ptr<Http1Request>> Create(const Target& target);
  // Whether the plan's target is meant for this transport at all.
  static bool Wants(const Target& target);

  const sockaddr_storage& address() const { return address_; }
  socklen_t address_len() const { return address_len_; }
  int64_t timeout_ns() const { return timeout_ns_; }
  bool head() const { return head_; }
  size_t variants() const { return heads_.size(); }
  const std::string& head_bytes(size_t i) const { return heads_[i]; }
  const std::string& body(size_t i) const { return bodies_[i]; }

 private:
  sockaddr_storage address_{};
  socklen_t address_len_ = 0;
  int64_t timeout_ns_ = 10'000'000'000;
  bool head_ = false;
  std::vector<std::string> heads_;   // request line + headers + blank line, per payload
  std::vector<std::string> bodies_;  // the payloads (empty strings for bodiless methods)
};

// Thread-compatible: owned by one worker, driven from its epoll loop.
class Http1Client {
 public:
  struct Result {
    ErrorClass error = ERROR_NONE;
    uint32_t status = 0;
    uint64_t sent = 0;
    uint64_t received = 0;
  };
  // Called for every request started, exactly once: completed, failed, timed out or aborted.
  using Done = std::function<void(uint64_t cookie, const Result& result, int64_t now)>;

  Http1Client(int epoll_fd, const Http1Request* request, Done done);
  ~Http1Client();

  // Sends one request (payload variant `payload`); `cookie` comes back in Done.
  void Start(uint64_t cookie, uint64_t payload, int64_t now);
  // An epoll event whose data.ptr is a connection of this client.
  void OnEvent(void* connection, uint32_t events, int64_t now);
  // Earliest request deadline (INT64_MAX when idle), and failing the requests past theirs.
  int64_t NextDeadline();
  void ExpireTimeouts(int64_t now);
  // After each epoll batch: reports failures that happened inside Start (see Finish) and makes
  // closed connection objects reusable.
  void EndOfBatch(int64_t now);
  bool has_immediate() const { return !immediate_.empty(); }
  // Ends every request in flight as ERROR_ABORTED.
  void AbortAll(int64_t now);
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn;
  Conn* Connect(int64_t now, int* error);
  void Send(Conn* c, int64_t now);
  void Read(Conn* c, int64_t now);
  // Puts a request on a connection (fresh or idle) and sends it when connected.
  void Begin(Conn* c, uint64_t cookie, uint64_t payload, bool reused, bool retried, int64_t now);
  // Hands a result to the worker; deferred to EndOfBatch while inside Start.
  void Report(uint64_t cookie, const Result& result, int64_t now);
  // Ends the connection's request; keeps the connection for the next one when it can.
  void Finish(Conn* c, Result result, bool reusable, int64_t now);
  // A reused keep-alive connection that the server had closed meanwhile: send again on a fresh
  // connection (what browsers and libcurl do). Returns false when that is not the case.
  bool RetryStale(Conn* c, int64_t now);
  void Close(Conn* c);
  void Watch(Conn* c, uint32_t events);

  const int epoll_fd_;
  const Http1Request* const request_;
  const Done done_;
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
    Result result;
  };
  std::vector<Immediate> immediate_;  // failures inside Start, reported by EndOfBatch
  std::vector<Conn*> closed_;         // closed in this batch; spare after EndOfBatch
  bool in_start_ = false;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_HTTP1_CLIENT_H_
