#include "common/error_names.h"

namespace stampede {

absl::string_view ErrorClassName(ErrorClass error) {
  switch (error) {
    case ERROR_NONE:
      return "none";
    case ERROR_CONNECT:
      return "connect";
    case ERROR_DNS:
      return "dns";
    case ERROR_TLS:
      return "tls";
    case ERROR_TIMEOUT:
      return "timeout";
    case ERROR_RESET:
      return "reset";
    case ERROR_HTTP_4XX:
      return "http_4xx";
    case ERROR_HTTP_5XX:
      return "http_5xx";
    case ERROR_PROTOCOL:
      return "protocol";
    case ERROR_SEND:
      return "send";
    case ERROR_OTHER:
      return "other";
    case ERROR_ABORTED:
      return "aborted";
    default:
      return "unknown";
  }
}

}  // namespace stampede
