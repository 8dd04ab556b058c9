// TLS (and optional mutual TLS) for the gRPC links: coordinator <-> agents and CLI clients.
// Files are PEM paths; everything empty means plaintext (loopback use, tests, the embedded demo).
#ifndef STAMPEDE_COMMON_GRPC_TLS_H_
#define STAMPEDE_COMMON_GRPC_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace stampede {

struct TlsFiles {
  // Server: the CA that client certificates must chain to (set: mutual TLS required).
  // Client: the CA the coordinator's certificate must chain to (set: TLS on).
  std::string ca;
  // This side's certificate chain and private key (server: required for TLS; client: for mTLS).
  std::string cert;
  std::string key;
  bool empty() const { return ca.empty() && cert.empty() && key.empty(); }
};

// Errors name the flag (`flag_prefix` + "cert", ...) and the file that could not be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files, const std::string& flag_prefix = "--tls-");
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files, const std::string& flag_prefix = "--tls-");

// Client-side files from $STAMPEDE_TLS_CA, $STAMPEDE_TLS_CERT and $STAMPEDE_TLS_KEY.
TlsFiles TlsFilesFromEnv();

}  // namespace stampede

#endif  // STAMPEDE_COMMON_GRPC_TLS_H_
