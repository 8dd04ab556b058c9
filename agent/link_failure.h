// Why the agent's link to the coordinator failed, in words an operator can act on, and which of
// those failures are worth a log line.
//
// gRPC reports a failed connection as UNAVAILABLE with a sentence from its transport or from
// OpenSSL in it ("Connection refused", "CERTIFICATE_VERIFY_FAILED", ...). ClassifyLinkFailure
// turns that, and what the agent knows of its own TLS settings, into a cause (one word for the
// log's cause= field) and a hint. A coordinator that answers and refuses the Register (bad token,
// name taken, ...) is a refusal instead: ClassifyRefusal, by the status code it ended the stream
// with.
//
// An agent retries a failed connection forever; FailureLog keeps that from writing the same
// line on every retry: it says when a failure is worth a line (the first, a change of cause) and
// when a reminder is due (at most once per `reminder` while the cause stays the same).
#ifndef STAMPEDE_AGENT_LINK_FAILURE_H_
#define STAMPEDE_AGENT_LINK_FAILURE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/grpc_tls.h"

namespace stampede {

struct LinkFailure {
  // One word: unreachable, tls_unknown_ca, tls_name_mismatch, tls_no_client_certificate,
  // tls_client_certificate_refused, tls_handshake_failed, not_tls, no_tls, link_error; for
  // refusals bad_token, name_taken, invalid_registration, name_not_in_certificate, refused.
  std::string cause;
  // What happened, in words ("connection refused", "the coordinator's certificate is not signed
  // by --tls-ca").
  std::string what;
  // What to do about it; may be empty.
  std::string hint;
  // gRPC's own message, bounded: for the operator who wants the details.
  std::string detail;
};

// A connection (or the stream on it) that failed before the coordinator answered the Register.
LinkFailure ClassifyLinkFailure(const grpc::Status& status, const TlsFiles& tls);

// The coordinator refused the Register: `reason` is its message, `status` how it ended the
// stream (UNAUTHENTICATED: the token; ALREADY_EXISTS: the name; INVALID_ARGUMENT: a field;
// PERMISSION_DENIED: the name is not in the client certificate).
LinkFailure ClassifyRefusal(const grpc::Status& status, const std::string& reason);

class FailureLog {
 public:
  enum class Say { kNothing, kFailure, kStillFailing };

  FailureLog(absl::Duration reminder, const Clock* clock);

  // A connection attempt failed with `cause`: what to log about it.
  Say Failed(const std::string& cause);
  // The link works again: the next failure is a first one.
  void Succeeded();

  // Failed attempts since the last success (or the start).
  int attempts() const { return attempts_; }
  // Since the first of those failures.
  absl::Duration failing_for() const;

 private:
  const absl::Duration reminder_;
  const Clock* const clock_;
  std::string cause_;
  int attempts_ = 0;
  int64_t first_failure_ns_ = 0;
  int64_t last_said_ns_ = 0;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_LINK_FAILURE_H_
