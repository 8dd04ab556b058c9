#include "agent/error_class.h"

namespace stampede {

ErrorClass ClassifyStatus(long status) {
  if (status >= 500) return ERROR_HTTP_5XX;
  if (status >= 400) return ERROR_HTTP_4XX;
  // A "response" without a status line (HTTP/0.9 style garbage) is not a success.
  if (status < 100) return ERROR_PROTOCOL;
  return ERROR_NONE;
}

ErrorClass ClassifyResult(CURLcode code, long status) {
  switch (code) {
    case CURLE_OK:
      return ClassifyStatus(status);
    case CURLE_COULDNT_CONNECT:
      return ERROR_CONNECT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return ERROR_DNS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return ERROR_TLS;
    case CURLE_OPERATION_TIMEDOUT:
      return ERROR_TIMEOUT;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return ERROR_RESET;
    case CURLE_SEND_ERROR:
      return ERROR_SEND;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP3:
      return ERROR_PROTOCOL;
    default:
      return ERROR_OTHER;
  }
}

}  // namespace stampede
