#include "agent/http1_transport.h"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "agent/error_class.h"

namespace stampede {
namespace {

constexpr size_t kReadBuffer = 16 * 1024;

ErrorClass ConnectError(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ETIMEDOUT:
    case EADDRNOTAVAIL:
      return ERROR_CONNECT;
    default:
      return ERROR_OTHER;
  }
}

}  // namespace

struct Http1Transport::Conn {
  int fd = -1;
  bool connecting = false;
  bool busy = false;        // a request is on this connection
  bool reused = false;      // the request is not the connection's first
  bool retried = false;     // already re-sent once after a stale keep-alive connection
  uint32_t watched = 0;     // epoll interest currently registered (0: none)
  uint64_t generation = 0;  // bumped when a request ends: stale deadlines are ignored
  uint64_t cookie = 0;
  uint64_t payload = 0;
  uint64_t written = 0;
  uint64_t received = 0;
  Http1ResponseParser parser;
  std::unique_ptr<char[]> buffer{new char[kReadBuffer]};
};

Http1Transport::Http1Transport(int epoll_fd, const Http1Request* request,
                               TransportCallbacks* callbacks)
    : epoll_fd_(epoll_fd), request_(request), callbacks_(callbacks) {}

Http1Transport::~Http1Transport() {
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
  }
}

void Http1Transport::Watch(Conn* c, uint32_t events) {
  if (c->watched == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epoll_fd_, c->watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
  c->watched = events;
}

Http1Transport::Conn* Http1Transport::Connect(int* error) {
  const sockaddr_storage& addr = request_->address();
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return nullptr;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), request_->address_len());
  if (rc != 0 && errno != EINPROGRESS) {
    *error = errno;
    close(fd);
    return nullptr;
  }
  Conn* c;
  if (!spare_.empty()) {
    c = spare_.back();
    spare_.pop_back();
  } else {
    conns_.push_back(std::make_unique<Conn>());
    c = conns_.back().get();
  }
  c->fd = fd;
  c->connecting = rc != 0;
  c->watched = 0;
  Watch(c, c->connecting ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
  return c;
}

void Http1Transport::Start(uint64_t cookie, uint64_t payload, int64_t now) {
  in_start_ = true;
  Conn* c = nullptr;
  while (!idle_.empty() && c == nullptr) {
    c = idle_.back();
    idle_.pop_back();
    if (c->fd < 0 || c->busy) c = nullptr;  // closed by the server while idle
  }
  if (c != nullptr) {
    Begin(c, cookie, payload, /*reused=*/true, /*retried=*/false, now);
  } else {
    int error = 0;
    c = Connect(&error);
    if (c == nullptr) {
      Report(cookie, TransportResult{ConnectError(error), 0, 0, 0}, now);
    } else {
      Begin(c, cookie, payload, /*reused=*/false, /*retried=*/false, now);
    }
  }
  in_start_ = false;
}

void Http1Transport::Begin(Conn* c, uint64_t cookie, uint64_t payload, bool reused, bool retried,
                           int64_t now) {
  c->busy = true;
  c->reused = reused;
  c->retried = retried;
  c->cookie = cookie;
  c->payload = payload;
  c->written = 0;
  c->received = 0;
  c->parser.Reset(request_->head());
  deadlines_.push_back({now + request_->timeout_ns(), c, c->generation});
  if (!c->connecting) Send(c, now);
}

void Http1Transport::Report(uint64_t cookie, const TransportResult& result, int64_t now) {
  if (in_start_) {
    // Never call back into the worker from inside Start: it would start the next request
    // recursively (a refused connection fails at once, again and again).
    immediate_.push_back({cookie, result});
    return;
  }
  callbacks_->Done(cookie, result, now);
}

void Http1Transport::Send(Conn* c, int64_t now) {
  const size_t variant = c->payload % request_->variants();
  const std::string& head = request_->head_bytes(variant);
  const std::string& body = request_->body(variant);
  const uint64_t total = head.size() + body.size();
  while (c->written < total) {
    iovec iov[2];
    int count = 0;
    if (c->written < head.size()) {
      iov[count++] = {const_cast<char*>(head.data()) + c->written, head.size() - c->written};
      if (!body.empty()) iov[count++] = {const_cast<char*>(body.data()), body.size()};
    } else {
      const size_t off = c->written - head.size();
      iov[count++] = {const_cast<char*>(body.data()) + off, body.size() - off};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    // MSG_NOSIGNAL: a peer that hung up must be an error record, not a SIGPIPE.
    const ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      c->written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Watch(c, EPOLLIN | EPOLLOUT);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    if (RetryStale(c, now)) return;
    Finish(c, TransportResult{ERROR_SEND, 0, c->written, c->received}, false, now);
    return;
  }
  Watch(c, EPOLLIN);
}

bool Http1Transport::RetryStale(Conn* c, int64_t now) {
  if (!c->reused || c->retried || c->received > 0) return false;
  const uint64_t cookie = c->cookie;
  const uint64_t payload = c->payload;
  ++c->generation;
  c->busy = false;
  Close(c);
  int error = 0;
  Conn* fresh = Connect(&error);
  if (fresh == nullptr) {
    Report(cookie, TransportResult{ConnectError(error), 0, 0, 0}, now);
  } else {
    Begin(fresh, cookie, payload, /*reused=*/false, /*retried=*/true, now);
  }
  return true;
}

void Http1Transport::OnEvent(epoll_data_t data, uint32_t events, int64_t now) {
  Conn* c = static_cast<Conn*>(data.ptr);
  if (c->fd < 0) return;
  if (!c->busy) {
    // An idle keep-alive connection became readable: the server closed it (or sent junk we
    // cannot attribute to a request). Drop it; the next request opens a fresh one.
    char sink[512];
    const ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0) Close(c);
    return;
  }
  if (c->connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Finish(c, TransportResult{ConnectError(err), 0, 0, 0}, false, now);
      return;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    c->connecting = false;
    Send(c, now);
    return;
  }
  const uint64_t total = request_->head_bytes(c->payload % request_->variants()).size() +
                         request_->body(c->payload % request_->variants()).size();
  if ((events & EPOLLOUT) && c->written < total) {
    Send(c, now);
    if (!c->busy || c->written < total) return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) Read(c, now);
}

void Http1Transport::Read(Conn* c, int64_t now) {
  const ssize_t n = recv(c->fd, c->buffer.get(), kReadBuffer, 0);
  if (n > 0) {
    c->received += static_cast<uint64_t>(n);
    size_t consumed = 0;
    const auto state = c->parser.Feed(c->buffer.get(), static_cast<size_t>(n), &consumed);
    if (state == Http1ResponseParser::State::kComplete) {
      const uint32_t status = static_cast<uint32_t>(c->parser.status());
      // Bytes beyond the response (we never pipeline) mean the stream is out of step: do not
      // reuse the connection.
      const bool reusable = c->parser.keep_alive() && consumed == static_cast<size_t>(n);
      Finish(c, TransportResult{ClassifyStatus(status), status, c->written, c->received}, reusable,
             now);
    } else if (state == Http1ResponseParser::State::kError) {
      Finish(c,
             TransportResult{ERROR_PROTOCOL, static_cast<uint32_t>(std::max(0, c->parser.status())),
                             c->written, c->received},
             false, now);
    }
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  // EOF or a reset.
  if (n == 0 && c->parser.OnEof() == Http1ResponseParser::State::kComplete) {
    const uint32_t status = static_cast<uint32_t>(c->parser.status());
    Finish(c, TransportResult{ClassifyStatus(status), status, c->written, c->received}, false, now);
    return;
  }
  if (RetryStale(c, now)) return;
  Finish(c,
         TransportResult{ERROR_RESET, static_cast<uint32_t>(std::max(0, c->parser.status())),
                         c->written, c->received},
         false, now);
}

void Http1Transport::Finish(Conn* c, const TransportResult& result, bool reusable, int64_t now) {
  const uint64_t cookie = c->cookie;
  c->busy = false;
  ++c->generation;
  if (reusable) {
    idle_.push_back(c);
  } else {
    Close(c);
  }
  Report(cookie, result, now);
}

void Http1Transport::Close(Conn* c) {
  if (c->fd < 0) return;
  close(c->fd);  // also leaves the epoll set
  c->fd = -1;
  c->watched = 0;
  c->connecting = false;
  // Not reusable until the current epoll batch is over: a pending event for the old socket must
  // not be applied to a new connection in the same object.
  closed_.push_back(c);
}

int64_t Http1Transport::NextDeadline(int64_t now) {
  if (!immediate_.empty()) return now;
  // Requests mostly end in start order, so stale entries gather at the front: drop them here
  // to keep the queue about as long as the requests in flight.
  while (!deadlines_.empty() &&
         (!deadlines_.front().conn->busy ||
          deadlines_.front().conn->generation != deadlines_.front().generation)) {
    deadlines_.pop_front();
  }
  return deadlines_.empty() ? INT64_MAX : deadlines_.front().at;
}

void Http1Transport::ExpireTimeouts(int64_t now) {
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    const Deadline d = deadlines_.front();
    deadlines_.pop_front();
    Conn* c = d.conn;
    if (!c->busy || c->generation != d.generation) continue;
    Finish(c,
           TransportResult{ERROR_TIMEOUT, static_cast<uint32_t>(std::max(0, c->parser.status())),
                           c->written, c->received},
           false, now);
  }
}

void Http1Transport::RunDue(int64_t now) {
  ExpireTimeouts(now);
  // Failures that happened inside Start are reported now, outside it. Failures of the requests
  // these reports start again wait for the next turn, so the loop keeps checking stage ends and
  // the stop flag (and serving its other sockets) even against a port that refuses everything
  // at once.
  if (!immediate_.empty()) {
    reporting_.swap(immediate_);  // Start called from Done appends to the emptied immediate_
    for (const Immediate& i : reporting_) callbacks_->Done(i.cookie, i.result, now);
    reporting_.clear();
  }
  if (!closed_.empty()) {
    spare_.insert(spare_.end(), closed_.begin(), closed_.end());
    closed_.clear();
  }
}

void Http1Transport::AbortAll(int64_t now) {
  for (auto& c : conns_) {
    if (c->busy) {
      Finish(c.get(), TransportResult{ERROR_ABORTED, 0, c->written, c->received}, false, now);
    }
  }
  reporting_.swap(immediate_);
  for (const Immediate& i : reporting_) {
    callbacks_->Done(i.cookie, TransportResult{ERROR_ABORTED, 0, 0, 0}, now);
  }
  reporting_.clear();
}

}  // namespace stampede
