// absl::Status <-> grpc::Status at the RPC edge: the codes are the same canonical codes, so the
// conversion keeps code and message. Used by the coordinator's services and by RPC clients.
#ifndef STAMPEDE_COMMON_GRPC_STATUS_H_
#define STAMPEDE_COMMON_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace stampede {

grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_GRPC_STATUS_H_
