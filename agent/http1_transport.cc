#include "agent/http1_client.h"

#include <netdb.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <curl/curl.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/error_class.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

constexpr size_t kReadBuffer = 16 * 1024;

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

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

bool Http1Request::Wants(const Target& target) {
  return target.client() != "curl" && absl::StartsWithIgnoreCase(target.url(), "http:") &&
         (target.http_version().empty() || target.http_version() == "1.1");
}

absl::StatusOr<std::unique_ptr<Http1Request>> Http1Request::Create(const Target& target) {
  if (!Wants(target)) return absl::FailedPreconditionError("not a plain HTTP/1.1 target");
  auto r = std::unique_ptr<Http1Request>(new Http1Request());
  CURLU* url = curl_url();
  const CURLUcode parsed = curl_url_set(url, CURLUPART_URL, target.url().c_str(), 0);
  const std::string host = UrlPart(url, CURLUPART_HOST);
  std::string port = UrlPart(url, CURLUPART_PORT);
  std::string path = UrlPart(url, CURLUPART_PATH);
  const std::string query = UrlPart(url, CURLUPART_QUERY);
  curl_url_cleanup(url);
  if (parsed != CURLUE_OK || host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("target.url: cannot parse \"", target.url(),
                                                   "\""));
  }
  if (path.empty()) path.push_back('/');
  if (!query.empty()) absl::StrAppend(&path, "?", query);
  // Resolved once per run; a name that does not resolve is left to libcurl, which records a DNS
  // error per request.
  std::string bare_host = host;
  if (bare_host.size() > 2 && bare_host.front() == '[') {
    bare_host = bare_host.substr(1, bare_host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(bare_host.c_str(), port.empty() ? "80" : port.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::NotFoundError(absl::StrCat("target.url: host \"", host, "\" does not resolve"));
  }
  std::memcpy(&r->address_, found->ai_addr, found->ai_addrlen);
  r->address_len_ = found->ai_addrlen;
  freeaddrinfo(found);

  const std::string method = target.method().empty() ? "POST" : absl::AsciiStrToUpper(target.method());
  const bool body = method == "POST" || method == "PUT" || method == "PATCH";
  r->head_ = method == "HEAD";
  if (target.has_timeout()) r->timeout_ns_ = std::max<int64_t>(1, DurationToNs(target.timeout()));

  // Header block: defaults unless the plan sets them, the plan's headers sorted, the key last.
  std::vector<std::pair<std::string, std::string>> headers(target.headers().begin(),
                                                           target.headers().end());
  std::sort(headers.begin(), headers.end());
  auto has = [&](absl::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return absl::EqualsIgnoreCase(h.first, name); });
  };
  std::string common = absl::StrCat(method, " ", path, " HTTP/1.1\r\n");
  if (!has("Host")) {
    absl::StrAppend(&common, "Host: ", host, port.empty() ? "" : absl::StrCat(":", port), "\r\n");
  }
  if (!has("User-Agent")) absl::StrAppend(&common, "User-Agent: stampede/" STAMPEDE_VERSION "\r\n");
  if (!has("Accept")) absl::StrAppend(&common, "Accept: */*\r\n");
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "Content-Length")) continue;  // ours is the true length
    absl::StrAppend(&common, name, ": ", value, "\r\n");
  }
  if (!target.resolved_bearer_token().empty()) {
    absl::StrAppend(&common, "Authorization: Bearer ", target.resolved_bearer_token(), "\r\n");
  }
  std::vector<std::string> payloads(target.resolved_payloads().begin(),
                                    target.resolved_payloads().end());
  if (payloads.empty()) payloads.emplace_back();
  for (const std::string& p : payloads) {
    if (body) {
      r->heads_.push_back(absl::StrCat(common, "Content-Length: ", p.size(), "\r\n\r\n"));
      r->bodies_.push_back(p);
    } else {
      r->heads_.push_back(absl::StrCat(common, "\r\n"));
      r->bodies_.emplace_back();
    }
  }
  return r;
}

struct Http1Client::Conn {
  int fd = -1;
  bool connecting = false;
  bool busy = false;       // a request is on this connection
  bool reused = false;     // the request is not the connection's first
  bool retried = false;    // already re-sent once after a stale keep-alive connection
  uint32_t watched = 0;    // epoll interest currently registered (0: none)
  uint64_t generation = 0; // bumped when a request ends: stale deadlines are ignored
  uint64_t cookie = 0;
  uint64_t payload = 0;
  uint64_t written = 0;
  uint64_t received = 0;
  Http1ResponseParser parser;
  std::unique_ptr<char[]> buffer{new char[kReadBuffer]};
};

Http1Client::Http1Client(int epoll_fd, const Http1Request* request, Done done)
    : epoll_fd_(epoll_fd), request_(request), done_(std::move(done)) {}

Http1Client::~Http1Client() {
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
  }
}

void Http1Client::Watch(Conn* c, uint32_t events) {
  if (c->watched == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epoll_fd_, c->watched == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
  c->watched = events;
}

Http1Client::Conn* Http1Client::Connect(int64_t /*now*/, int* error) {
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

void Http1Client::Start(uint64_t cookie, uint64_t payload, int64_t now) {
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
    c = Connect(now, &error);
    if (c == nullptr) {
      Report(cookie, Result{ConnectError(error), 0, 0, 0}, now);
    } else {
      Begin(c, cookie, payload, /*reused=*/false, /*retried=*/false, now);
    }
  }
  in_start_ = false;
}

void Http1Client::Begin(Conn* c, uint64_t cookie, uint64_t payload, bool reused, bool retried,
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

void Http1Client::Report(uint64_t cookie, const Result& result, int64_t now) {
  if (in_start_) {
    // Never call back into the worker from inside Start: it would start the next request
    // recursively (a refused connection fails at once, again and again).
    immediate_.push_back({cookie, result});
    return;
  }
  done_(cookie, result, now);
}

void Http1Client::Send(Conn* c, int64_t now) {
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
    Finish(c, Result{ERROR_SEND, 0, c->written, c->received}, false, now);
    return;
  }
  Watch(c, EPOLLIN);
}

bool Http1Client::RetryStale(Conn* c, int64_t now) {
  if (!c->reused || c->retried || c->received > 0) return false;
  const uint64_t cookie = c->cookie;
  const uint64_t payload = c->payload;
  ++c->generation;
  c->busy = false;
  Close(c);
  int error = 0;
  Conn* fresh = Connect(now, &error);
  if (fresh == nullptr) {
    Report(cookie, Result{ConnectError(error), 0, 0, 0}, now);
  } else {
    Begin(fresh, cookie, payload, /*reused=*/false, /*retried=*/true, now);
  }
  return true;
}

void Http1Client::OnEvent(void* connection, uint32_t events, int64_t now) {
  Conn* c = static_cast<Conn*>(connection);
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
      Finish(c, Result{ConnectError(err), 0, 0, 0}, false, now);
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

void Http1Client::Read(Conn* c, int64_t now) {
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
      Finish(c, Result{ClassifyResult(CURLE_OK, status), status, c->written, c->received},
             reusable, now);
    } else if (state == Http1ResponseParser::State::kError) {
      Finish(c,
             Result{ERROR_PROTOCOL, static_cast<uint32_t>(std::max(0, c->parser.status())),
                    c->written, c->received},
             false, now);
    }
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  // EOF or a reset.
  if (n == 0 && c->parser.OnEof() == Http1ResponseParser::State::kComplete) {
    const uint32_t status = static_cast<uint32_t>(c->parser.status());
    Finish(c, Result{ClassifyResult(CURLE_OK, status), status, c->written, c->received}, false,
           now);
    return;
  }
  if (RetryStale(c, now)) return;
  Finish(c,
         Result{ERROR_RESET, static_cast<uint32_t>(std::max(0, c->parser.status())), c->written,
                c->received},
         false, now);
}

void Http1Client::Finish(Conn* c, Result result, bool reusable, int64_t now) {
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

void Http1Client::Close(Conn* c) {
  if (c->fd < 0) return;
  close(c->fd);  // also leaves the epoll set
  c->fd = -1;
  c->watched = 0;
  c->connecting = false;
  // Not reusable until the current epoll batch is over: a pending event for the old socket must
  // not be applied to a new connection in the same object.
  closed_.push_back(c);
}

int64_t Http1Client::NextDeadline() {
  // Requests mostly end in start order, so stale entries gather at the front: drop them here
  // to keep the queue about as long as the requests in flight.
  while (!deadlines_.empty() &&
         (!deadlines_.front().conn->busy ||
          deadlines_.front().conn->generation != deadlines_.front().generation)) {
    deadlines_.pop_front();
  }
  return deadlines_.empty() ? INT64_MAX : deadlines_.front().at;
}

void Http1Client::ExpireTimeouts(int64_t now) {
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    const Deadline d = deadlines_.front();
    deadlines_.pop_front();
    Conn* c = d.conn;
    if (!c->busy || c->generation != d.generation) continue;
    Finish(c,
           Result{ERROR_TIMEOUT, static_cast<uint32_t>(std::max(0, c->parser.status())),
                  c->written, c->received},
           false, now);
  }
}

void Http1Client::EndOfBatch(int64_t now) {
  // Failures that happened inside Start are reported now, one loop turn later. Failures of the
  // requests these reports start again wait for the next turn, so the loop keeps checking
  // stage ends and the stop flag even against a port that refuses everything at once.
  std::vector<Immediate> pending;
  pending.swap(immediate_);
  for (const Immediate& i : pending) done_(i.cookie, i.result, now);
  for (Conn* c : closed_) spare_.push_back(c);
  closed_.clear();
}

void Http1Client::AbortAll(int64_t now) {
  for (auto& c : conns_) {
    if (c->busy) {
      Finish(c.get(), Result{ERROR_ABORTED, 0, c->written, c->received}, false, now);
    }
  }
  std::vector<Immediate> pending;
  pending.swap(immediate_);
  for (const Immediate& i : pending) {
    done_(i.cookie, Result{ERROR_ABORTED, 0, 0, 0}, now);
  }
}

}  // namespace stampede
