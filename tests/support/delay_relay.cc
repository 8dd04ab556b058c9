#include "tests/support/delay_relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stampede::testing {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxAcceptsPerWake = 64;

int64_t NowNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

absl::Status ErrnoError(const std::string& what) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// "A.B.C.D:PORT" or "[V6]:PORT", both numeric.
absl::StatusOr<SocketAddress> ParseAddress(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat("expected HOST:PORT, got \"", text, "\""));
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in \"", text, "\""));
  }
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), absl::StrCat(port).c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not a numeric address: \"", text, "\""));
  }
  SocketAddress address;
  std::memcpy(&address.storage, found->ai_addr, found->ai_addrlen);
  address.length = found->ai_addrlen;
  freeaddrinfo(found);
  return address;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// A read's bytes (or the end of the stream), due to be written at release_ns (monotonic).
struct Chunk {
  int64_t release_ns = 0;
  std::string data;
  size_t offset = 0;  // data[offset, size) is still to be written
  bool eof = false;   // pass on the end of the stream: shutdown(SHUT_WR)
};

// One direction of a connection: its chunks in transit.
struct Direction {
  std::deque<Chunk> queue;
  size_t queued = 0;            // bytes in `queue`
  int64_t last_release_ns = 0;  // no chunk leaves before the one queued before it
  bool read_eof = false;        // the source ended its stream (an eof chunk is queued)
  bool shut = false;            // ... and the end has been passed on

  bool Due(int64_t now_ns) const { return !queue.empty() && queue.front().release_ns <= now_ns; }
};

}  // namespace

struct DelayRelay::Connection {
  uint64_t id = 0;
  int client = -1;
  int upstream = -1;
  bool connecting = true;  // the upstream connect() has not completed yet
  bool first_byte_seen = false;
  Direction up;    // client -> upstream
  Direction down;  // upstream -> client

  ~Connection() {
    CloseFd(client);
    CloseFd(upstream);
  }
  bool Finished() const { return up.shut && down.shut; }
};

absl::StatusOr<std::unique_ptr<DelayRelay>> DelayRelay::Start(DelayRelayOptions options) {
  if (options.up_delay < absl::ZeroDuration() || options.down_delay < absl::ZeroDuration() ||
      options.jitter < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("delays and jitter must not be negative");
  }
  if (options.max_queued == 0) return absl::InvalidArgumentError("max_queued must be > 0");
  auto listen_at = ParseAddress(options.listen);
  if (!listen_at.ok()) return listen_at.status();
  auto upstream = ParseAddress(options.upstream);
  if (!upstream.ok()) return upstream.status();

  const int fd =
      socket(listen_at->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, listen_at->get(), listen_at->length) != 0) {
    auto status = ErrnoError(absl::StrCat("bind ", options.listen));
    close(fd);
    return status;
  }
  if (listen(fd, 128) != 0) {
    auto status = ErrnoError("listen");
    close(fd);
    return status;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  std::string address;
  if (bound.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&bound);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
    address = absl::StrCat("[", host, "]:", port);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&bound);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    address = absl::StrCat(host, ":", port);
  }
  const int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    auto status = ErrnoError("eventfd");
    close(fd);
    return status;
  }
  std::unique_ptr<DelayRelay> relay(
      new DelayRelay(std::move(options), fd, wake, port, std::move(address)));
  relay->upstream_ = upstream->storage;
  relay->upstream_len_ = upstream->length;
  relay->thread_ = std::thread([r = relay.get()] { r->Run(); });
  return relay;
}

DelayRelay::DelayRelay(DelayRelayOptions options, int listen_fd, int wake_fd, int port,
                       std::string address)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      address_(std::move(address)),
      rng_(options_.seed) {}

DelayRelay::~DelayRelay() {
  stop_.store(true);
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void DelayRelay::Accept(std::vector<std::unique_ptr<Connection>>& connections) {
  for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN, or a connection reset before it was accepted
    auto c = std::make_unique<Connection>();
    c->id = connections_.fetch_add(1) + 1;
    c->client = client;
    NoDelay(client);
    c->upstream = socket(upstream_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->upstream < 0) continue;  // drops (closes) the client
    NoDelay(c->upstream);
    if (connect(c->upstream, reinterpret_cast<const sockaddr*>(&upstream_), upstream_len_) == 0) {
      c->connecting = false;
    } else if (errno != EINPROGRESS) {
      continue;  // the upstream refused: so does the relay, by closing the client
    }
    connections.push_back(std::move(c));
  }
}

bool DelayRelay::ReadSide(Connection& c, bool up) {
  Direction& d = up ? c.up : c.down;
  const int fd = up ? c.client : c.upstream;
  const absl::Duration delay = up ? options_.up_delay : options_.down_delay;
  const int64_t delay_ns = absl::ToInt64Nanoseconds(delay);
  const int64_t jitter_ns = absl::ToInt64Nanoseconds(options_.jitter);
  char buf[kReadChunk];
  while (!d.read_eof && d.queued < options_.max_queued) {
    const ssize_t n = read(fd, buf, std::min(sizeof(buf), options_.max_queued - d.queued));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    const int64_t now = NowNs(CLOCK_MONOTONIC);
    if (up && n > 0 && !c.first_byte_seen) {
      c.first_byte_seen = true;
      if (options_.on_first_byte) options_.on_first_byte(c.id, NowNs(CLOCK_REALTIME));
    }
    int64_t release = now + delay_ns;
    if (jitter_ns > 0) {
      release += std::uniform_int_distribution<int64_t>(-jitter_ns, jitter_ns)(rng_);
    }
    // Never before it arrived, never before the chunk ahead of it: no reordering.
    release = std::max({release, now, d.last_release_ns});
    d.last_release_ns = release;
    Chunk chunk;
    chunk.release_ns = release;
    if (n == 0) {
      chunk.eof = true;
      d.read_eof = true;
    } else {
      chunk.data.assign(buf, static_cast<size_t>(n));
      d.queued += static_cast<size_t>(n);
    }
    d.queue.push_back(std::move(chunk));
  }
  return true;
}

bool DelayRelay::WriteSide(Connection& c, bool up, int64_t now_ns) {
  Direction& d = up ? c.up : c.down;
  const int fd = up ? c.upstream : c.client;
  if (up && c.connecting) return true;
  while (d.Due(now_ns)) {
    Chunk& chunk = d.queue.front();
    if (chunk.eof) {
      shutdown(fd, SHUT_WR);
      d.shut = true;
      d.queue.pop_front();
      continue;
    }
    const ssize_t n =
        send(fd, chunk.data.data() + chunk.offset, chunk.data.size() - chunk.offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    chunk.offset += static_cast<size_t>(n);
    d.queued -= static_cast<size_t>(n);
    (up ? bytes_up_ : bytes_down_).fetch_add(static_cast<uint64_t>(n));
    if (chunk.offset == chunk.data.size()) d.queue.pop_front();
  }
  return true;
}

void DelayRelay::Run() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    // Release what is due; drop connections that failed or ended both ways.
    const int64_t now = NowNs(CLOCK_MONOTONIC);
    int64_t next_release = std::numeric_limits<int64_t>::max();
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    std::vector<std::unique_ptr<Connection>> alive;
    for (auto& c : connections) {
      if (!WriteSide(*c, true, now) || !WriteSide(*c, false, now) || c->Finished()) continue;
      short client_events = 0;
      short upstream_events = 0;
      if (!c->up.read_eof && c->up.queued < options_.max_queued) client_events |= POLLIN;
      if (c->down.Due(now)) client_events |= POLLOUT;  // due but the socket was full
      if (c->connecting) {
        upstream_events = POLLOUT;
      } else {
        if (!c->down.read_eof && c->down.queued < options_.max_queued) upstream_events |= POLLIN;
        if (c->up.Due(now)) upstream_events |= POLLOUT;
      }
      for (const Direction* d : {&c->up, &c->down}) {
        if (!d->queue.empty() && d->queue.front().release_ns > now) {
          next_release = std::min(next_release, d->queue.front().release_ns);
        }
      }
      // An fd with nothing asked is left out (-1): a socket whose peer has gone would otherwise
      // report POLLHUP on every round while the other direction drains.
      fds.push_back({client_events ? c->client : -1, client_events, 0});
      fds.push_back({upstream_events ? c->upstream : -1, upstream_events, 0});
      alive.push_back(std::move(c));
    }
    connections = std::move(alive);

    timespec timeout{};
    const timespec* wait = nullptr;  // none due: wait for events only
    if (next_release != std::numeric_limits<int64_t>::max()) {
      const int64_t left = std::max<int64_t>(0, next_release - now);
      timeout.tv_sec = left / 1'000'000'000;
      timeout.tv_nsec = left % 1'000'000'000;
      wait = &timeout;
    }
    if (ppoll(fds.data(), fds.size(), wait, nullptr) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0 || stop_.load()) break;
    if (fds[1].revents & POLLIN) Accept(connections);

    std::vector<std::unique_ptr<Connection>> kept;
    for (size_t i = 0; i < connections.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
      Connection& c = *connections[i];
      const short client_revents = fds[2 + 2 * i].revents;
      const short upstream_revents = fds[2 + 2 * i + 1].revents;
      bool ok = true;
      if (c.connecting && upstream_revents != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
        c.connecting = !ok;
      } else if (upstream_revents & (POLLIN | POLLHUP | POLLERR)) {
        ok = ReadSide(c, /*up=*/false);
      }
      if (ok && (client_revents & (POLLIN | POLLHUP | POLLERR))) ok = ReadSide(c, /*up=*/true);
      // A failed connection is closed on both sides at once (the destructor).
      if (ok) kept.push_back(std::move(connections[i]));
    }
    // Connections accepted during this round have no poll entry yet: keep them as they are.
    for (size_t i = (fds.size() - 2) / 2; i < connections.size(); ++i) {
      kept.push_back(std::move(connections[i]));
    }
    connections = std::move(kept);
  }
}

}  // namespace stampede::testing
