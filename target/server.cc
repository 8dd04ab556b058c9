#include "target/server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "target/replica_model.h"
#include "target/service_time.h"

namespace stampede::target {
namespace {

// Model payloads are small; the cap only stops a runaway client from eating memory.
constexpr ev_ssize_t kMaxBodyBytes = 16 << 20;
constexpr ev_ssize_t kMaxHeaderBytes = 64 << 10;
constexpr int kIdleTimeoutSeconds = 60;
constexpr int kListenBacklog = 1024;

constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

timeval MsToTimeval(double ms) {
  int64_t us = std::max<int64_t>(0, std::llround(ms * 1000));
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  return tv;
}

// Every reply goes through evhttp_send_reply: evhttp_send_error would add "Connection: close",
// and load generators must see 401/404/500/503 on a connection that stays open, as they would
// from a real model server.
void Reply(evhttp_request* req, int code, const char* reason, std::string_view body,
           const char* content_type, const char* extra_header = nullptr,
           const char* extra_value = nullptr) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", content_type);
  if (extra_header != nullptr) evhttp_add_header(headers, extra_header, extra_value);
  evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  evhttp_send_reply(req, code, reason, nullptr);
}

// Compares without an early exit so that response timing says nothing about the key.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

struct Loop;

// One POST /score from arrival to reply. Created and destroyed on its loop's thread; while it
// is queued another loop's thread may start it (under Impl::mu_) and arm its timer.
struct Pending {
  evhttp_request* req = nullptr;
  Loop* loop = nullptr;
  event* timer = nullptr;  // fires at the end of the service time
  int replica = -1;
  double service_ms = 0;
  double score = 0;
  bool fail = false;
  int64_t arrival_ns = 0;
  int64_t start_ns = 0;  // service start on the model's timeline (see Complete)
  int64_t end_ns = 0;    // start_ns + service time
  // Links in Loop::live, so that shutdown can free what is still in progress.
  Pending* prev = nullptr;
  Pending* next = nullptr;
};

// One event loop with its own evhttp and listening socket. Touched only by its own thread,
// except through the thread-safe libevent calls (event_add, event_active) on its events.
struct Loop {
  Server::Impl* server = nullptr;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  event* stop = nullptr;       // activated to end the loop from any thread
  event* stall_end = nullptr;  // admits the held arrivals when the stall is over
  std::deque<Pending*> held;   // arrivals during the stall, in order
  Pending* live = nullptr;     // every Pending of this loop
  std::thread thread;
};

struct Counters {
  int64_t requests = 0;  // POST /score arrivals
  int64_t ok = 0;
  int64_t rejected503 = 0;
  int64_t unauthorized401 = 0;
  int64_t failed500 = 0;
  int64_t not_found404 = 0;
  int64_t method_not_allowed405 = 0;
  int64_t held = 0;  // arrivals waiting for the stall to end
  int64_t body_bytes = 0;
};

}  // namespace

class Server::Impl {
 public:
  explicit Impl(const TargetOptions& opts)
      : opts_(opts),
        auth_value_(opts.key.empty() ? "" : absl::StrCat("Bearer ", opts.key)),
        model_(opts.replicas, opts.concurrency, opts.queue),
        sampler_(opts.service_dist, opts.service_ms, opts.jitter),
        rng_(opts.seed.has_value() ? *opts.seed : std::random_device()()) {}
  ~Impl();

  absl::Status Init();
  absl::Status Run();
  int port() const { return port_; }
  std::string address() const {
    return opts_.host.find(':') != std::string::npos ? absl::StrCat("[", opts_.host, "]:", port_)
                                                     : absl::StrCat(opts_.host, ":", port_);
  }

 private:
  static void OnRequest(evhttp_request* req, void* arg);
  static void OnTimer(evutil_socket_t, short, void* arg);
  static void OnStallEnd(evutil_socket_t, short, void* arg);
  static void OnStop(evutil_socket_t, short, void* arg);
  static void OnSignal(evutil_socket_t, short, void* arg);

  void OnScore(Loop* loop, evhttp_request* req);
  // Auth check and admission into the replica model.
  void Admit(Pending* p);
  // End of p's service time: frees its slot (starting the next queued request) and replies.
  void Complete(Pending* p);
  void ReplyStats(evhttp_request* req);
  void CountOther(int64_t Counters::*counter);
  // Draws p's service time, outcome and score; its service runs from start_ns.
  void StartLocked(Pending* p, int64_t start_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopAll();
  static void ArmTimer(Pending* p, double ms);
  static Pending* NewPending(Loop* loop, evhttp_request* req);
  static void Destroy(Pending* p);

  const TargetOptions opts_;
  const std::string auth_value_;  // expected Authorization header, empty when no --key
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<event*> signals_;
  int port_ = 0;

  absl::Mutex mu_;
  ReplicaModel model_ ABSL_GUARDED_BY(mu_);
  ServiceTimeSampler sampler_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::uniform_real_distribution<double> unit_ ABSL_GUARDED_BY(mu_);
  Counters counters_ ABSL_GUARDED_BY(mu_);
  // Requests waiting in a replica queue, by the id given to the model.
  absl::flat_hash_map<uint64_t, Pending*> queued_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool stall_triggered_ ABSL_GUARDED_BY(mu_) = false;
  int64_t stall_until_ns_ ABSL_GUARDED_BY(mu_) = 0;
};

Server::Impl::~Impl() {
  for (event* ev : signals_) event_free(ev);
  for (auto& loop : loops_) {
    while (loop->live != nullptr) Destroy(loop->live);
    if (loop->stop != nullptr) event_free(loop->stop);
    if (loop->stall_end != nullptr) event_free(loop->stall_end);
    // Frees the listener and the connections (with any request still unanswered).
    if (loop->http != nullptr) evhttp_free(loop->http);
    if (loop->base != nullptr) event_base_free(loop->base);
  }
}

absl::Status Server::Impl::Init() {
  // Locking inside libevent costs on every call; it is needed only when one loop's thread arms
  // a timer on another loop's base (a queued request started by a completion elsewhere).
  if (opts_.threads > 1 && evthread_use_pthreads() != 0) {
    return absl::InternalError("evthread_use_pthreads failed");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(opts_.host.c_str(), nullptr, &hints, &res); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve --host ", opts_.host, ": ", gai_strerror(rc)));
  }
  sockaddr_storage addr{};
  socklen_t addr_len = res->ai_addrlen;
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  auto set_port = [&](int port) {
    if (addr.ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(static_cast<uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(static_cast<uint16_t>(port));
    }
  };

  // timerfd-backed timers give sub-millisecond service times; plain epoll rounds every timeout
  // up to a whole millisecond. They cost a syscall per loop turn, so only when timers are used.
  const bool precise = opts_.service_ms > 0 || opts_.stall_ms > 0;
  for (int i = 0; i < opts_.threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = this;
    event_config* cfg = event_config_new();
    if (precise) event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    // evhttp flips read/write interest several times per request; the changelist folds the
    // flips of one loop turn into one epoll_ctl (measured: 4 calls per request down to 2).
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    loop->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (loop->base == nullptr) return absl::InternalError("event_base_new failed");
    Loop* raw = loop.get();
    loops_.push_back(std::move(loop));

    raw->http = evhttp_new(raw->base);
    if (raw->http == nullptr) return absl::InternalError("evhttp_new failed");
    evhttp_set_max_body_size(raw->http, kMaxBodyBytes);
    evhttp_set_max_headers_size(raw->http, kMaxHeaderBytes);
    evhttp_set_timeout(raw->http, kIdleTimeoutSeconds);
    // Let every common method reach the handler so that /score can answer 405 itself.
    evhttp_set_allowed_methods(raw->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(raw->http, &Impl::OnRequest, raw);

    // Loop 0 binds the requested port (perhaps 0); the others join the port it got.
    set_port(i == 0 ? opts_.port : port_);
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE;
    if (opts_.threads > 1) flags |= LEV_OPT_REUSEABLE_PORT;
    evconnlistener* listener =
        evconnlistener_new_bind(raw->base, nullptr, nullptr, flags, kListenBacklog,
                                reinterpret_cast<sockaddr*>(&addr), static_cast<int>(addr_len));
    if (listener == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", opts_.host, ":",
                                                 i == 0 ? opts_.port : port_, ": ",
                                                 std::strerror(errno)));
    }
    evutil_socket_t fd = evconnlistener_get_fd(listener);
    // Linux copies TCP_NODELAY from the listening socket to the accepted ones; without it a
    // response split over two writes could wait for a delayed ACK.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (i == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof(bound);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
        evconnlistener_free(listener);
        return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
      }
      port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    if (evhttp_bind_listener(raw->http, listener) == nullptr) {
      evconnlistener_free(listener);
      return absl::InternalError("evhttp_bind_listener failed");
    }
    raw->stop = event_new(raw->base, -1, 0, &Impl::OnStop, raw);
    raw->stall_end = evtimer_new(raw->base, &Impl::OnStallEnd, raw);
  }
  // Installed now rather than in Run() so that a signal sent as soon as "listening on" is
  // printed is not lost; the callback runs once loop 0 dispatches.
  for (int sig : {SIGINT, SIGTERM}) {
    event* ev = evsignal_new(loops_[0]->base, sig, &Impl::OnSignal, this);
    event_add(ev, nullptr);
    signals_.push_back(ev);
  }
  return absl::OkStatus();
}

absl::Status Server::Impl::Run() {
  // A client that hangs up must not kill the server when its reply is written.
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 1; i < loops_.size(); ++i) {
    Loop* loop = loops_[i].get();
    loop->thread = std::thread([loop] { event_base_dispatch(loop->base); });
  }
  int rc = event_base_dispatch(loops_[0]->base);
  StopAll();
  for (size_t i = 1; i < loops_.size(); ++i) loops_[i]->thread.join();
  if (rc < 0) return absl::InternalError("event loop failed");
  return absl::OkStatus();
}

void Server::Impl::StopAll() {
  // event_base_loopbreak before a loop has started is forgotten when it starts; an activated
  // event is not, so every loop breaks itself from its own callback.
  for (auto& loop : loops_) event_active(loop->stop, EV_TIMEOUT, 0);
}

void Server::Impl::OnStop(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<Loop*>(arg)->base);
}

void Server::Impl::OnSignal(evutil_socket_t, short, void* arg) {
  static_cast<Impl*>(arg)->StopAll();
}

void Server::Impl::OnRequest(evhttp_request* req, void* arg) {
  Loop* loop = static_cast<Loop*>(arg);
  Impl* self = loop->server;
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  std::string_view path = raw_path != nullptr ? raw_path : "";
  const evhttp_cmd_type cmd = evhttp_request_get_command(req);
  const bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

  if (path == "/score") {
    if (cmd == EVHTTP_REQ_POST) {
      self->OnScore(loop, req);
      return;
    }
    self->CountOther(&Counters::method_not_allowed405);
    Reply(req, 405, "Method Not Allowed", R"({"error":"method not allowed"})", kJson, "Allow",
          "POST");
  } else if (path == "/healthz" || path == "/stats") {
    if (!get) {
      self->CountOther(&Counters::method_not_allowed405);
      Reply(req, 405, "Method Not Allowed", R"({"error":"method not allowed"})", kJson, "Allow",
            "GET, HEAD");
    } else if (path == "/healthz") {
      Reply(req, 200, "OK", "ok", kText);
    } else {
      self->ReplyStats(req);
    }
  } else {
    self->CountOther(&Counters::not_found404);
    Reply(req, 404, "Not Found", R"({"error":"not found"})", kJson);
  }
}

void Server::Impl::CountOther(int64_t Counters::*counter) {
  absl::MutexLock lock(&mu_);
  ++(counters_.*counter);
}

Pending* Server::Impl::NewPending(Loop* loop, evhttp_request* req) {
  auto* p = new Pending;
  p->req = req;
  p->loop = loop;
  p->timer = evtimer_new(loop->base, &Impl::OnTimer, p);
  p->next = loop->live;
  if (loop->live != nullptr) loop->live->prev = p;
  loop->live = p;
  return p;
}

void Server::Impl::Destroy(Pending* p) {
  if (p->prev != nullptr) p->prev->next = p->next;
  if (p->next != nullptr) p->next->prev = p->prev;
  if (p->loop->live == p) p->loop->live = p->next;
  event_free(p->timer);
  delete p;
}

void Server::Impl::ArmTimer(Pending* p, double ms) {
  timeval tv = MsToTimeval(ms);
  evtimer_add(p->timer, &tv);
}

void Server::Impl::OnScore(Loop* loop, evhttp_request* req) {
  Pending* p = NewPending(loop, req);
  p->arrival_ns = NowNs();
  // The body is read in full by evhttp before this callback; only its size matters here.
  const size_t body_bytes = evbuffer_get_length(evhttp_request_get_input_buffer(req));
  bool hold;
  int64_t stall_until_ns;
  {
    absl::MutexLock lock(&mu_);
    ++counters_.requests;
    counters_.body_bytes += static_cast<int64_t>(body_bytes);
    if (opts_.stall_ms > 0 && !stall_triggered_ && counters_.requests == opts_.stall_after + 1) {
      stall_triggered_ = true;
      stall_until_ns_ = p->arrival_ns + static_cast<int64_t>(opts_.stall_ms * 1e6);
    }
    // Arrivals after the stall wait behind those still held, keeping arrival order.
    hold = p->arrival_ns < stall_until_ns_ || !loop->held.empty();
    if (hold) ++counters_.held;
    stall_until_ns = stall_until_ns_;
  }
  if (!hold) {
    Admit(p);
    return;
  }
  loop->held.push_back(p);
  if (!evtimer_pending(loop->stall_end, nullptr)) {
    timeval tv = MsToTimeval(static_cast<double>(stall_until_ns - p->arrival_ns) / 1e6);
    evtimer_add(loop->stall_end, &tv);
  }
}

void Server::Impl::OnStallEnd(evutil_socket_t, short, void* arg) {
  Loop* loop = static_cast<Loop*>(arg);
  Impl* self = loop->server;
  const int64_t now = NowNs();
  {
    absl::MutexLock lock(&self->mu_);
    if (now < self->stall_until_ns_) {
      // libevent's clock and steady_clock can disagree by a little; wait the rest.
      timeval tv = MsToTimeval(static_cast<double>(self->stall_until_ns_ - now) / 1e6);
      evtimer_add(loop->stall_end, &tv);
      return;
    }
    self->counters_.held -= static_cast<int64_t>(loop->held.size());
  }
  std::deque<Pending*> batch;
  batch.swap(loop->held);
  for (Pending* p : batch) self->Admit(p);
}

void Server::Impl::Admit(Pending* p) {
  if (!auth_value_.empty()) {
    const char* auth =
        evhttp_find_header(evhttp_request_get_input_headers(p->req), "Authorization");
    if (auth == nullptr || !ConstantTimeEquals(auth, auth_value_)) {
      CountOther(&Counters::unauthorized401);
      Reply(p->req, 401, "Unauthorized", R"({"error":"unauthorized"})", kJson, "WWW-Authenticate",
            "Bearer");
      Destroy(p);
      return;
    }
  }
  ReplicaModel::Outcome outcome;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t id = next_id_++;
    ReplicaModel::Admission admission = model_.Admit(id);
    outcome = admission.outcome;
    p->replica = admission.replica;
    if (outcome == ReplicaModel::Outcome::kRejected) {
      ++counters_.rejected503;
    } else if (outcome == ReplicaModel::Outcome::kQueued) {
      // From here on a completing request (perhaps on another loop) may start p.
      queued_.emplace(id, p);
    } else {
      StartLocked(p, NowNs());
    }
  }
  if (outcome == ReplicaModel::Outcome::kRejected) {
    Reply(p->req, 503, "Service Unavailable", R"({"error":"overloaded"})", kJson);
    Destroy(p);
  } else if (outcome == ReplicaModel::Outcome::kStarted) {
    // --service-ms 0 answers in this callback: no timer round trip for trivial responses.
    if (p->service_ms <= 0) {
      Complete(p);
    } else {
      ArmTimer(p, p->service_ms);
    }
  }
}

void Server::Impl::StartLocked(Pending* p, int64_t start_ns) {
  p->start_ns = start_ns;
  p->service_ms = sampler_.Sample(rng_);
  p->end_ns = start_ns + static_cast<int64_t>(p->service_ms * 1e6);
  p->fail = opts_.fail_rate > 0 && unit_(rng_) < opts_.fail_rate;
  p->score = unit_(rng_);
}

void Server::Impl::OnTimer(evutil_socket_t, short, void* arg) {
  Pending* p = static_cast<Pending*>(arg);
  p->loop->server->Complete(p);
}

void Server::Impl::Complete(Pending* p) {
  const int64_t now = NowNs();
  Pending* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (now < stall_until_ns_) {
      // Stalled: the slot stays busy and the response is held until the stall ends.
      ArmTimer(p, static_cast<double>(stall_until_ns_ - now) / 1e6);
      return;
    }
    if (std::optional<uint64_t> id = model_.Complete(p->replica)) {
      auto it = queued_.find(*id);
      next = it->second;
      queued_.erase(it);
      // The slot was free at p's scheduled end, not when its timer got to run: starting the
      // next request from there keeps timer and scheduling lateness from adding up along the
      // queue, so throughput stays R*C/service time on a busy machine. A stall is different:
      // no work progresses during it, so service resumes from its end.
      StartLocked(next, std::max({p->end_ns, next->arrival_ns, stall_until_ns_}));
    }
    ++(p->fail ? counters_.failed500 : counters_.ok);
  }
  // The slot is free before the reply leaves, so a closed-loop client never finds it busy.
  // `next` may belong to another loop: its timer fires there (0 ms: on the next loop turn).
  if (next != nullptr) ArmTimer(next, static_cast<double>(next->end_ns - now) / 1e6);
  if (p->fail) {
    char body[96];
    int n = absl::SNPrintF(body, sizeof(body), R"({"error":"simulated failure","replica":%d})",
                           p->replica);
    Reply(p->req, 500, "Internal Server Error", std::string_view(body, n), kJson);
  } else {
    char body[160];
    int n = absl::SNPrintF(body, sizeof(body),
                           R"({"score":%.4f,"replica":%d,"serviceMs":%.3f,"queueMs":%.3f})",
                           p->score, p->replica, p->service_ms,
                           static_cast<double>(p->start_ns - p->arrival_ns) / 1e6);
    Reply(p->req, 200, "OK", std::string_view(body, n), kJson);
  }
  Destroy(p);
}

void Server::Impl::ReplyStats(evhttp_request* req) {
  std::string body;
  {
    absl::MutexLock lock(&mu_);
    const Counters& c = counters_;
    int64_t in_service = 0;
    int64_t queued = 0;
    for (int r = 0; r < model_.replicas(); ++r) {
      in_service += model_.in_service(r);
      queued += model_.queued(r);
    }
    body = absl::StrCat(
        "{\"requests\":", c.requests, ",\"ok\":", c.ok, ",\"rejected503\":", c.rejected503,
        ",\"unauthorized401\":", c.unauthorized401, ",\"failed500\":", c.failed500,
        ",\"notFound404\":", c.not_found404, ",\"methodNotAllowed405\":", c.method_not_allowed405,
        ",\"inFlight\":", model_.in_flight(), ",\"maxInFlight\":", model_.max_in_flight(),
        ",\"inService\":", in_service, ",\"queued\":", queued, ",\"held\":", c.held,
        ",\"capacity\":", model_.capacity(),
        ",\"stalled\":", NowNs() < stall_until_ns_ ? "true" : "false",
        ",\"bodyBytes\":", c.body_bytes, "}");
  }
  Reply(req, 200, "OK", body, kJson);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const TargetOptions& opts) {
  auto impl = std::make_unique<Impl>(opts);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::port() const { return impl_->port(); }
std::string Server::address() const { return impl_->address(); }
absl::Status Server::Run() { return impl_->Run(); }

}  // namespace stampede::target
