// The HTTP side of stampede-target: libevent evhttp loops in front of the ReplicaModel.
#ifndef STAMPEDE_TARGET_SERVER_H_
#define STAMPEDE_TARGET_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "target/flags.h"

namespace stampede::target {

class Server {
 public:
  // Creates one event loop per --threads and binds their listening sockets (sharing the port
  // through SO_REUSEPORT when there are several), so the port is known before Run().
  static absl::StatusOr<std::unique_ptr<Server>> Create(const TargetOptions& opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;
  // "HOST:PORT" (IPv6 hosts in brackets), as printed in the "listening on" line.
  std::string address() const;

  // Serves until SIGINT or SIGTERM, then returns OK. The calling thread runs loop 0; the other
  // loops get threads of their own. Call once.
  absl::Status Run();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stampede::target

#endif  // STAMPEDE_TARGET_SERVER_H_
