#include "coordinator/listen_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stampede {
namespace {

struct HostPort {
  std::string host;  // without brackets
  std::string port;
};

HostPort Split(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  HostPort out;
  out.host = colon == std::string::npos ? listen : listen.substr(0, colon);
  out.port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  return out;
}

}  // namespace

absl::Status CheckListenAddress(const std::string& listen) {
  const HostPort hp = Split(listen);
  if (hp.host.empty() || hp.port.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen \"", listen,
                     "\": expected HOST:PORT (127.0.0.1:7700, [::1]:7700, 0.0.0.0:7700)"));
  }
  int port = -1;
  if (!absl::SimpleAtoi(hp.port, &port) || port < 0 || port > 65535 ||
      hp.port.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--listen ", listen, ": port \"", hp.port,
                                                   "\" is not in 0..65535 (0: the kernel picks)"));
  }
  return absl::OkStatus();
}

std::optional<std::string> ListenProblem(const std::string& listen) {
  const HostPort hp = Split(listen);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &found); rc != 0) {
    return absl::StrCat("\"", hp.host, "\" does not resolve (", gai_strerror(rc), ")");
  }
  std::optional<std::string> why;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // as gRPC does
    const int rc = bind(fd, a->ai_addr, a->ai_addrlen);
    const int error = errno;
    close(fd);
    if (rc == 0) continue;
    if (error == EADDRINUSE) {
      why = "the port is in use (another `stampede serve`, or another program)";
    } else if (error == EADDRNOTAVAIL) {
      why = "it is not an address of this machine";
    } else if (error == EACCES) {
      why = "permission denied (ports below 1024 need privileges)";
    } else {
      why = std::strerror(error);
    }
    break;
  }
  freeaddrinfo(found);
  return why;
}

bool IsLoopbackAddress(const std::string& listen) {
  const std::string host = Split(listen).host;
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace stampede
