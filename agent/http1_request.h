// The request of the native HTTP/1.1 transport, built once per run from the plan's target: the
// resolved address and, per payload variant, the request line and headers as ready bytes next to
// the body, so that sending one is a single sendmsg of two buffers.
#ifndef STAMPEDE_AGENT_HTTP1_REQUEST_H_
#define STAMPEDE_AGENT_HTTP1_REQUEST_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plan.pb.h"

namespace stampede {

// Immutable after Create; shared read-only by every worker's transport.
class Http1Request {
 public:
  // Fails for targets this transport does not handle (https, HTTP/2, "client": "curl") and with
  // NotFound for a host that does not resolve; the caller then uses libcurl, which records a DNS
  // error per request.
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
  Http1Request() = default;

  sockaddr_storage address_{};
  socklen_t address_len_ = 0;
  int64_t timeout_ns_ = 10'000'000'000;
  bool head_ = false;
  std::vector<std::string> heads_;   // request line + headers + blank line, per payload
  std::vector<std::string> bodies_;  // the payloads (empty strings for bodiless methods)
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_HTTP1_REQUEST_H_
