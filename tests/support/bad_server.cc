#include "tests/support/bad_server.h"

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
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace stampede::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Request heads larger than this are not something libcurl sends; drop the connection rather
// than buffer without bound.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
// Unparsed input kept per connection. Once full we stop reading (TCP flow control pushes back
// on the client) until the response in flight is done and the buffer can be consumed.
constexpr size_t kMaxBuffered = 64 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
// Per poll() wake-up, so that one flooding client cannot starve the others or the stop signal.
constexpr int kMaxReadsPerWake = 16;
constexpr int kMaxAcceptsPerWake = 64;
constexpr int kMaxStepsPerWake = 64;

absl::Status ErrnoError(const char* what) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string ResponseHead(int status, size_t content_length, bool keep_alive) {
  return absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status),
                      "\r\nContent-Type: application/json\r\nContent-Length: ", content_length,
                      "\r\nConnection: ", keep_alive ? "keep-alive" : "close", "\r\n\r\n");
}

std::string FullResponse(int status, const std::string& body, bool keep_alive) {
  return absl::StrCat(ResponseHead(status, body.size(), keep_alive), body);
}

// Exactly 200 bytes of valid JSON, so a client that parses the trickled body can.
const std::string& TrickleBody() {
  static const std::string* body = [] {
    auto* b = new std::string("{\"pad\":\"");
    b->append(200 - b->size() - 2, 'x');
    b->append("\"}");
    return b;
  }();
  return *body;
}

const std::string& GarbageBytes() {
  // Starts like another protocol's banner and continues with binary junk: nothing an HTTP
  // client can mistake for a status line.
  static constexpr char kBytes[] =
      "SSH-2.0-nonsense\r\n\r\n\x00\xff\xfe\x7f<<not http at all>>\x01\x02\x03\r\n";
  static const std::string* bytes = new std::string(kBytes, sizeof(kBytes) - 1);
  return *bytes;
}

struct RequestHead {
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

// Parses the request line and headers (without the final blank line). nullopt means the
// connection should be dropped: malformed, or a chunked body this server does not decode.
std::optional<RequestHead> ParseHead(absl::string_view head) {
  RequestHead result;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (first) {
      first = false;
      if (line.empty()) return std::nullopt;
      // HTTP/1.0 defaults to close; HTTP/1.1 to keep-alive.
      if (absl::EndsWith(line, "HTTP/1.0")) result.keep_alive = false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return std::nullopt;
    const std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const std::string value =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (name == "content-length") {
      if (!absl::SimpleAtoi(value, &result.content_length)) return std::nullopt;
    } else if (name == "transfer-encoding") {
      return std::nullopt;
    } else if (name == "connection") {
      if (value.find("close") != std::string::npos) result.keep_alive = false;
      if (value.find("keep-alive") != std::string::npos) result.keep_alive = true;
    } else if (name == "expect") {
      result.expect_continue = value == "100-continue";
    }
  }
  return result;
}

}  // namespace

struct BadServer::Connection {
  enum class Phase {
    kHeaders,   // waiting for (or between) request heads; responses go out in this phase
    kBody,      // discarding body_left more request body bytes
    kStalled,   // kStall: read and discard everything, never answer
    kDraining,  // flush `out`, half-close, then discard input until the peer closes
  };

  explicit Connection(int fd) : fd(fd) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(fd); }

  bool Flushed() const { return out_off == out.size(); }
  // A response is still being produced; the next pipelined request must wait for it.
  bool Busy() const { return !Flushed() || trickling; }
  bool Discarding() const { return phase == Phase::kStalled || phase == Phase::kDraining; }
  bool WantsRead() const {
    return !read_eof && !dead && (Discarding() || in.size() < kMaxBuffered);
  }

  void ReadSome() {
    char buf[kReadChunk];
    for (int i = 0; i < kMaxReadsPerWake && !read_eof && !dead; ++i) {
      const size_t want =
          Discarding() ? sizeof(buf) : std::min(sizeof(buf), kMaxBuffered - in.size());
      if (want == 0) return;
      const ssize_t n = recv(fd, buf, want, 0);
      if (n > 0) {
        if (!Discarding()) in.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        read_eof = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else if (errno != EINTR) {
        dead = true;  // ECONNRESET and friends: the client is gone
      }
    }
  }

  void Flush() {
    while (out_off < out.size()) {
      // MSG_NOSIGNAL: a client that already hung up must cost us EPIPE, not SIGPIPE.
      const ssize_t n = send(fd, out.data() + out_off, out.size() - out_off, MSG_NOSIGNAL);
      if (n > 0) {
        out_off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        dead = true;
        return;
      }
    }
    out.clear();
    out_off = 0;
  }

  const int fd;
  Phase phase = Phase::kHeaders;
  std::string in;   // received, not yet consumed
  std::string out;  // to send; out_off bytes of it already sent
  size_t out_off = 0;
  uint64_t body_left = 0;
  bool keep_alive = true;  // of the request being answered
  bool close_after_flush = false;
  bool shut_wr = false;
  bool read_eof = false;
  bool dead = false;  // close (and forget) at the end of this loop iteration
  bool trickling = false;
  size_t trickle_pos = 0;  // next TrickleBody() byte to send
  Clock::time_point next_trickle;
};

absl::StatusOr<std::unique_ptr<BadServer>> BadServer::Start(Misbehaviour m,
                                                            BadServerOptions options) {
  if (options.status < 200 || options.status > 599) {
    return absl::InvalidArgumentError(absl::StrCat("status out of range: ", options.status));
  }
  if (options.trickle_interval.count() < 0) {
    return absl::InvalidArgumentError("negative trickle_interval");
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
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
  std::unique_ptr<BadServer> server(new BadServer(m, options, fd, wake_fd, ntohs(addr.sin_port)));
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

BadServer::~BadServer() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_fd_);
}

void BadServer::Run() {
  // Owned here so that every connection socket is closed when the loop ends.
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<pollfd> fds;
  bool more_work = false;
  while (true) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    int timeout_ms = more_work ? 0 : -1;
    const Clock::time_point now = Clock::now();
    for (const auto& c : conns) {
      short events = 0;
      if (c->WantsRead()) events |= POLLIN;
      if (!c->Flushed()) events |= POLLOUT;
      fds.push_back({c->fd, events, 0});
      if (c->trickling && c->Flushed()) {
        // Round up: waking a millisecond early would only cost another turn of the loop,
        // but the trickle must never run faster than the interval.
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(c->next_trickle - now);
        const int ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
        timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
      }
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      break;  // EFAULT/EINVAL/ENOMEM: nothing sensible left to do but stop serving
    }
    if (fds[0].revents != 0) break;

    more_work = false;
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = *conns[i];
      const pollfd& p = fds[i + 2];
      if (p.revents & POLLNVAL) {
        c.dead = true;
      } else if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        // POLLHUP/POLLERR are reported even when we did not ask to read; then the peer is gone
        // and there is nothing left to do for it (and polling again would spin).
        if (p.events & POLLIN) {
          c.ReadSome();
        } else {
          c.dead = true;
        }
      }
      // Out of step budget (a burst of pipelined requests): come back without blocking.
      if (!c.dead && !Service(c)) more_work = true;
    }
    std::erase_if(conns, [](const std::unique_ptr<Connection>& c) { return c->dead; });
    if (fds[1].revents & POLLIN) AcceptAll(conns);
  }
}

void BadServer::AcceptAll(std::vector<std::unique_ptr<Connection>>& conns) {
  for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: backlog empty; EMFILE and such: try again on the next wake-up
    }
    // Without this, Nagle plus delayed ACKs hold back the trickled single bytes by ~40 ms.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    connections_accepted_.fetch_add(1);
    conns.push_back(std::make_unique<Connection>(fd));
  }
}

bool BadServer::Service(Connection& conn) {
  for (int i = 0; i < kMaxStepsPerWake && !conn.dead; ++i) {
    conn.Flush();
    if (conn.dead || !Step(conn)) return true;
  }
  if (!conn.dead) conn.Flush();
  return conn.dead;
}

bool BadServer::Step(Connection& c) {
  using Phase = Connection::Phase;
  switch (c.phase) {
    case Phase::kDraining:
      if (!c.Flushed()) return false;
      if (!c.shut_wr) {
        // Half-close rather than close: closing with unread input queued would make the kernel
        // send RST, and these misbehaviours promise the client a clean FIN.
        shutdown(c.fd, SHUT_WR);
        c.shut_wr = true;
      }
      if (c.read_eof) c.dead = true;
      return false;

    case Phase::kStalled:
      if (c.read_eof) c.dead = true;
      return false;

    case Phase::kBody: {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(c.body_left, c.in.size()));
      c.in.erase(0, take);
      c.body_left -= take;
      if (c.body_left > 0) {
        if (c.read_eof) c.dead = true;  // truncated request: never complete
        return false;
      }
      requests_seen_.fetch_add(1);
      c.phase = Phase::kHeaders;
      Respond(c);
      return true;
    }

    case Phase::kHeaders: {
      if (c.trickling && c.Flushed() && Clock::now() >= c.next_trickle) {
        const std::string& body = TrickleBody();
        c.out.push_back(body[c.trickle_pos++]);
        if (c.trickle_pos == body.size()) {
          c.trickling = false;
        } else {
          c.next_trickle = Clock::now() + options_.trickle_interval;
        }
        return true;
      }
      if (c.Busy()) return false;
      if (c.close_after_flush) {
        c.phase = Phase::kDraining;
        return true;
      }
      const size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > kMaxHeaderBytes || c.read_eof) c.dead = true;
        return false;
      }
      std::optional<RequestHead> head = ParseHead(absl::string_view(c.in.data(), end));
      c.in.erase(0, end + 4);
      if (!head.has_value()) {
        c.dead = true;
        return false;
      }
      c.body_left = head->content_length;
      c.keep_alive = head->keep_alive;
      // Answer the handshake whatever the misbehaviour: each one is about the final response,
      // and without this libcurl would sit out its Expect timeout before sending large bodies.
      if (head->expect_continue && head->content_length > 0) {
        c.out.append("HTTP/1.1 100 Continue\r\n\r\n");
      }
      c.phase = Phase::kBody;
      return true;
    }
  }
  return false;
}

void BadServer::Respond(Connection& c) {
  switch (misbehaviour_) {
    case Misbehaviour::kOk:
      c.out.append(FullResponse(200, "{\"ok\":true}", c.keep_alive));
      c.close_after_flush = !c.keep_alive;
      break;
    case Misbehaviour::kStatus:
      c.out.append(FullResponse(
          options_.status,
          absl::StrCat("{\"error\":\"injected\",\"status\":", options_.status, "}"), c.keep_alive));
      c.close_after_flush = !c.keep_alive;
      break;
    case Misbehaviour::kCloseBeforeResponse:
      c.close_after_flush = true;
      break;
    case Misbehaviour::kCloseMidResponse:
      c.out.append(ResponseHead(200, 1000, /*keep_alive=*/true));
      c.out.append("{\"partial\"");  // 10 of the 1000 announced bytes
      c.close_after_flush = true;
      break;
    case Misbehaviour::kResetAfterRequest: {
      // Linger on with a zero timeout turns close() into an abortive close: RST, not FIN.
      const linger lin{1, 0};
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
      c.dead = true;
      break;
    }
    case Misbehaviour::kGarbage:
      c.out.append(GarbageBytes());
      c.close_after_flush = true;
      break;
    case Misbehaviour::kStall:
      c.phase = Connection::Phase::kStalled;
      break;
    case Misbehaviour::kTrickle:
      c.out.append(ResponseHead(200, TrickleBody().size(), c.keep_alive));
      c.close_after_flush = !c.keep_alive;
      c.trickling = true;
      c.trickle_pos = 0;
      // First byte one interval after the head, so the body takes at least size * interval.
      c.next_trickle = Clock::now() + options_.trickle_interval;
      break;
  }
}

absl::StatusOr<int> ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status status = ErrnoError("bind 127.0.0.1:0");
    close(fd);
    return status;
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace stampede::testing
