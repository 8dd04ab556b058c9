#include "agent/link_failure.h"

#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

// gRPC's message in the log: enough to tell a resolver from an OpenSSL error, never a page.
constexpr size_t kMaxDetail = 300;

bool HasAny(const std::string& text, std::initializer_list<absl::string_view> needles) {
  for (absl::string_view needle : needles) {
    if (absl::StrContains(text, needle)) return true;
  }
  return false;
}

LinkFailure Failure(std::string cause, std::string what, std::string hint,
                    const std::string& detail) {
  return {std::move(cause), std::move(what), std::move(hint), detail.substr(0, kMaxDetail)};
}

}  // namespace

LinkFailure ClassifyLinkFailure(const grpc::Status& status, const TlsFiles& tls) {
  const std::string detail = status.error_message();
  const std::string text = absl::AsciiStrToLower(detail);
  const bool tls_on = !tls.ca.empty();
  const bool client_cert = !tls.cert.empty();
  // TLS first: a handshake failure also reads "failed to connect to all addresses".
  if (HasAny(text, {"peer name", "hostname mismatch", "not in peer certificate"})) {
    return Failure("tls_name_mismatch",
                   "the coordinator's certificate does not carry the name or address dialled",
                   "dial a name that is in its certificate (CN or subjectAltName), or reissue "
                   "the certificate with this one",
                   detail);
  }
  if (HasAny(text, {"certificate required", "peer did not return a certificate"})) {
    return client_cert
               ? Failure("tls_client_certificate_refused",
                         "the coordinator did not accept this agent's client certificate",
                         "it needs a certificate signed by its --tls-client-ca", detail)
               : Failure("tls_no_client_certificate",
                         "the coordinator requires a client certificate (mutual TLS) and this "
                         "agent has none",
                         "give --tls-cert and --tls-key", detail);
  }
  if (HasAny(text, {"certificate verify failed", "certificate_verify_failed",
                    "unable to get local issuer", "self-signed certificate",
                    "self signed certificate"})) {
    return Failure("tls_unknown_ca",
                   "the coordinator's certificate is not signed by the CA in --tls-ca",
                   "give --tls-ca the CA that signed the coordinator's --tls-cert", detail);
  }
  if (HasAny(text, {"unknown ca", "bad certificate", "certificate unknown",
                    "unsupported certificate", "certificate expired", "certificate revoked"})) {
    // An alert from the coordinator about our certificate.
    return Failure("tls_client_certificate_refused",
                   "the coordinator did not accept this agent's client certificate",
                   "it needs a certificate signed by its --tls-client-ca", detail);
  }
  if (tls_on && HasAny(text, {"wrong version number", "packet length too long", "record layer",
                              "http_request"})) {
    return Failure("not_tls", "the coordinator does not speak TLS on this port",
                   "drop --tls-ca (and --tls-cert/--tls-key), or start the coordinator with "
                   "--tls-cert and --tls-key",
                   detail);
  }
  if (tls_on && HasAny(text, {"handshake", "ssl", "tls"})) {
    return client_cert
               ? Failure("tls_handshake_failed", "the TLS handshake with the coordinator failed",
                         "check that the coordinator's --tls-client-ca signed --tls-cert", detail)
               : Failure("tls_handshake_failed", "the TLS handshake with the coordinator failed",
                         "if it requires mutual TLS, give --tls-cert and --tls-key", detail);
  }
  if (HasAny(text, {"dns resolution failed", "domain name not found", "name or service not known",
                    "could not resolve", "resolution failed", "unparseable target address",
                    "no address added"})) {
    return Failure("unreachable", "the coordinator's name does not resolve", "check --coordinator",
                   detail);
  }
  if (HasAny(text, {"connection refused"})) {
    return Failure("unreachable", "connection refused: nothing listens on that port",
                   "is the coordinator running, on this address?", detail);
  }
  if (HasAny(text, {"timeout", "timed out", "deadline", "no route to host",
                    "network is unreachable", "host is unreachable"})) {
    return Failure("unreachable", "no answer from the coordinator's address (timed out)",
                   "check --coordinator and the firewall between the two", detail);
  }
  if (!tls_on && HasAny(text, {"socket closed", "connection reset", "end of file", "eof",
                               "frame of size", "http2", "protocol error"})) {
    // A TLS server closes on a plaintext hello.
    return Failure("no_tls",
                   "the coordinator closed the connection at once: it probably requires TLS",
                   "give --tls-ca (and --tls-cert/--tls-key for mutual TLS)", detail);
  }
  if (tls_on && HasAny(text, {"socket closed", "connection reset", "end of file"})) {
    // Under TLS 1.3 the client's side of the handshake is done before the server checks the
    // client's certificate; a coordinator that wants another (or one at all) just closes.
    return client_cert
               ? Failure("tls_client_certificate_refused",
                         "the coordinator closed the connection in the TLS handshake: it probably "
                         "does not accept this agent's client certificate",
                         "it needs a certificate signed by its --tls-client-ca", detail)
               : Failure("tls_no_client_certificate",
                         "the coordinator closed the connection in the TLS handshake: it probably "
                         "requires a client certificate (mutual TLS) and this agent has none",
                         "give --tls-cert and --tls-key", detail);
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Failure("unreachable", "the coordinator is unavailable", "", detail);
  }
  return Failure("link_error", absl::StrCat("the link failed (", status.error_code(), ")"), "",
                 detail);
}

LinkFailure ClassifyRefusal(const grpc::Status& status, const std::string& reason) {
  const std::string text = absl::AsciiStrToLower(reason);
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return Failure("bad_token", "the coordinator refused this agent's token",
                     "give the coordinator's token with --token-file, --token or "
                     "$STAMPEDE_TOKEN",
                     reason);
    case grpc::StatusCode::ALREADY_EXISTS:
      return Failure("name_taken", "another agent with this name is connected",
                     "give each agent its own --name", reason);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Failure("invalid_registration", "the coordinator refused this agent's registration",
                     "", reason);
    case grpc::StatusCode::PERMISSION_DENIED:
      // A coordinator that refuses a token with PERMISSION_DENIED (older ones did).
      if (absl::StrContains(text, "token")) {
        return Failure("bad_token", "the coordinator refused this agent's token",
                       "give the coordinator's token with --token-file, --token or "
                       "$STAMPEDE_TOKEN",
                       reason);
      }
      return Failure("name_not_in_certificate",
                     "this agent's --name is not a name of its client certificate",
                     "use the certificate's CN (or a subjectAltName) as --name", reason);
    default:
      return Failure("refused", "the coordinator refused this agent", "", reason);
  }
}

FailureLog::FailureLog(absl::Duration reminder, const Clock* clock)
    : reminder_(reminder), clock_(clock) {}

FailureLog::Say FailureLog::Failed(const std::string& cause) {
  const int64_t now = clock_->MonotonicNs();
  ++attempts_;
  if (attempts_ == 1) first_failure_ns_ = now;
  if (attempts_ == 1 || cause != cause_) {
    cause_ = cause;
    last_said_ns_ = now;
    return Say::kFailure;
  }
  if (now - last_said_ns_ >= absl::ToInt64Nanoseconds(reminder_)) {
    last_said_ns_ = now;
    return Say::kStillFailing;
  }
  return Say::kNothing;
}

void FailureLog::Succeeded() {
  attempts_ = 0;
  cause_.clear();
}

absl::Duration FailureLog::failing_for() const {
  return attempts_ == 0 ? absl::ZeroDuration()
                        : absl::Nanoseconds(clock_->MonotonicNs() - first_failure_ns_);
}

}  // namespace stampede
