#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace stampede::testing {
namespace {

// Bytes buffered per direction of a pair. When full, the sending side is not read.
constexpr size_t kMaxBuffered = 256 * 1024;
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxAcceptsPerWake = 64;

absl::Status ErrnoError(const std::string& what) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Closes with SO_LINGER {1, 0}: the peer gets a TCP RST, as when a link breaks hard.
void ResetClose(int fd) {
  if (fd < 0) return;
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// One direction's bytes in transit: data[offset, size) is still to be written.
struct Buffer {
  std::string data;
  size_t offset = 0;
  size_t pending() const { return data.size() - offset; }
  size_t room() const { return kMaxBuffered > pending() ? kMaxBuffered - pending() : 0; }
  void Compact() {
    if (offset == data.size()) {
      data.clear();
      offset = 0;
    } else if (offset > kMaxBuffered / 2) {
      data.erase(0, offset);
      offset = 0;
    }
  }
};

enum class IoResult { kOk, kEof, kError };

// Reads what is available (up to the buffer's room) from fd into buf.
IoResult ReadInto(int fd, Buffer& buf) {
  char chunk[kReadChunk];
  while (buf.room() > 0) {
    const ssize_t n = read(fd, chunk, std::min(sizeof(chunk), buf.room()));
    if (n > 0) {
      buf.data.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return IoResult::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoResult::kOk;
    return IoResult::kError;
  }
  return IoResult::kOk;
}

// Writes as much of buf to fd as the socket takes.
IoResult WriteFrom(int fd, Buffer& buf) {
  while (buf.pending() > 0) {
    const ssize_t n = send(fd, buf.data.data() + buf.offset, buf.pending(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return IoResult::kError;
  }
  buf.Compact();
  return IoResult::kOk;
}

}  // namespace

struct TcpProxy::Pair {
  int client = -1;
  int upstream = -1;
  bool connecting = true;  // the upstream connect() has not completed yet
  Buffer to_upstream;
  Buffer to_client;
  bool client_eof = false;     // read EOF from the client
  bool upstream_eof = false;   // read EOF from the upstream
  bool upstream_shut = false;  // shutdown(SHUT_WR) passed on to the upstream
  bool client_shut = false;    // shutdown(SHUT_WR) passed on to the client
  bool dead = false;           // close with RST
  bool done = false;           // both directions ended cleanly: close normally

  void Reset() {
    ResetClose(client);
    ResetClose(upstream);
    client = upstream = -1;
  }
  void CloseClean() {
    if (client >= 0) close(client);
    if (upstream >= 0) close(upstream);
    client = upstream = -1;
  }
};

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int upstream_port) {
  if (upstream_port <= 0 || upstream_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad upstream port ", upstream_port));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status status = ErrnoError("bind/listen on 127.0.0.1:0");
    close(fd);
    return status;
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    absl::Status status = ErrnoError("eventfd");
    close(fd);
    return status;
  }
  auto proxy =
      std::unique_ptr<TcpProxy>(new TcpProxy(fd, wake_fd, ntohs(addr.sin_port), upstream_port));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Run(); });
  return proxy;
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void TcpProxy::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpProxy::CutAll() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t ticket = ++cut_requested_;
  Wake();
  cut_done_cv_.wait(lock, [&] { return cut_done_ >= ticket; });
}

void TcpProxy::SetAccepting(bool accepting) { accepting_ = accepting; }

void TcpProxy::SetHoldReplies(bool hold) {
  hold_replies_ = hold;
  Wake();  // held bytes may be written now
}

void TcpProxy::SetHoldRequests(bool hold) {
  hold_requests_ = hold;
  Wake();
}

void TcpProxy::Run() {
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<pollfd> fds;
  auto reset_all = [&] {
    for (auto& p : pairs) p->Reset();
    pairs.clear();
    open_pairs_ = 0;
  };
  while (true) {
    // Commands first: stop, then cuts (acknowledged to the waiting CutAll callers).
    if (stop_.load()) break;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cut_done_ < cut_requested_) {
        reset_all();
        cut_done_ = cut_requested_;
        cut_done_cv_.notify_all();
      }
    }

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    const bool hold = hold_replies_.load();
    const bool hold_up = hold_requests_.load();
    for (const auto& p : pairs) {
      short cev = 0;
      short uev = 0;
      if (!p->client_eof && p->to_upstream.room() > 0) cev |= POLLIN;
      if (p->to_client.pending() > 0 && !hold) cev |= POLLOUT;
      if (p->connecting) {
        uev |= POLLOUT;
      } else {
        if (!p->upstream_eof && p->to_client.room() > 0) uev |= POLLIN;
        if (p->to_upstream.pending() > 0 && !hold_up) uev |= POLLOUT;
      }
      fds.push_back({p->client, cev, 0});
      fds.push_back({p->upstream, uev, 0});
    }
    const int ready = poll(fds.data(), fds.size(), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;  // cannot happen with valid fds; end rather than spin
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      (void)!read(wake_fd_, &value, sizeof(value));
      continue;  // handle commands before touching sockets (a cut discards everything)
    }

    for (size_t i = 0; i < pairs.size(); ++i) {
      Pair& p = *pairs[i];
      const short crev = fds[2 + 2 * i].revents;
      const short urev = fds[3 + 2 * i].revents;
      if (p.connecting && urev != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p.upstream, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
          p.dead = true;  // upstream refused: the client sees a reset
          continue;
        }
        p.connecting = false;
        NoDelay(p.upstream);
      }
      // Read before looking at HUP/ERR so that bytes that arrived before a FIN are kept.
      if ((crev & (POLLIN | POLLHUP | POLLERR)) && !p.client_eof) {
        const IoResult r = ReadInto(p.client, p.to_upstream);
        if (r == IoResult::kEof) p.client_eof = true;
        if (r == IoResult::kError) p.dead = true;
      }
      if (!p.connecting && (urev & (POLLIN | POLLHUP | POLLERR)) && !p.upstream_eof) {
        const IoResult r = ReadInto(p.upstream, p.to_client);
        if (r == IoResult::kEof) p.upstream_eof = true;
        if (r == IoResult::kError) p.dead = true;
      }
      if (p.dead) continue;
      if (!p.connecting && !hold_up && p.to_upstream.pending() > 0 &&
          WriteFrom(p.upstream, p.to_upstream) == IoResult::kError) {
        p.dead = true;
        continue;
      }
      if (!hold && p.to_client.pending() > 0 &&
          WriteFrom(p.client, p.to_client) == IoResult::kError) {
        p.dead = true;
        continue;
      }
      // Pass half-closes on once everything before them is through.
      if (p.client_eof && !p.connecting && p.to_upstream.pending() == 0 && !p.upstream_shut) {
        shutdown(p.upstream, SHUT_WR);
        p.upstream_shut = true;
      }
      if (p.upstream_eof && p.to_client.pending() == 0 && !p.client_shut) {
        shutdown(p.client, SHUT_WR);
        p.client_shut = true;
      }
      if (p.upstream_shut && p.client_shut) {
        p.done = true;
        continue;
      }
      // A socket fully closed by its peer (RST, or both directions shut) or in error: the pair
      // cannot carry anything more.
      if (((crev | urev) & POLLERR) || ((crev & POLLHUP) && !p.client_eof) ||
          (!p.connecting && (urev & POLLHUP) && !p.upstream_eof)) {
        p.dead = true;
      }
    }
    size_t kept = 0;
    for (auto& p : pairs) {
      if (p->dead) {
        p->Reset();
      } else if (p->done) {
        p->CloseClean();
      } else {
        pairs[kept++] = std::move(p);
      }
    }
    pairs.resize(kept);

    if (fds[1].revents & POLLIN) {
      for (int n = 0; n < kMaxAcceptsPerWake; ++n) {
        const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) break;  // EAGAIN (or a transient error): poll again
        if (!accepting_.load()) {
          ++refused_;
          ResetClose(client);
          continue;
        }
        NoDelay(client);
        auto p = std::make_unique<Pair>();
        p->client = client;
        p->upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (p->upstream < 0) {
          ResetClose(client);
          continue;
        }
        sockaddr_in addr = Loopback(upstream_port_);
        const int rc = connect(p->upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        if (rc == 0) {
          p->connecting = false;
          NoDelay(p->upstream);
        } else if (errno != EINPROGRESS) {
          p->Reset();
          continue;
        }
        ++connections_;
        pairs.push_back(std::move(p));
      }
    }
    open_pairs_ = pairs.size();
  }
  reset_all();
  // Release any CutAll() caller still waiting (the proxy is going away).
  std::lock_guard<std::mutex> lock(mu_);
  cut_done_ = cut_requested_;
  cut_done_cv_.notify_all();
}

}  // namespace stampede::testing
