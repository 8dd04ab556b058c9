#include "agent/curl_transport.h"

#include <cerrno>

#include "absl/base/call_once.h"
#include "agent/error_class.h"

namespace stampede {

void CurlGlobalInit() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_ALL); });
}

CurlTransport::CurlTransport(int epoll_fd, const RequestTemplate* request,
                             TransportCallbacks* callbacks, const Clock* clock)
    : epoll_fd_(epoll_fd), request_(request), callbacks_(callbacks), clock_(clock) {}

CurlTransport::~CurlTransport() {
  for (auto& s : slots_) {
    if (s->active) curl_multi_remove_handle(multi_, s->easy);
    curl_easy_cleanup(s->easy);
  }
  // May call OnSocket to unregister sockets: the worker's epoll fd is still open.
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
}

absl::Status CurlTransport::Init() {
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlTransport::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlTransport::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS, 1000L);
  return absl::OkStatus();
}

int CurlTransport::OnSocket(CURL* /*easy*/, curl_socket_t s, int what, void* userp, void* socketp) {
  auto* self = static_cast<CurlTransport*>(userp);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(self->epoll_fd_, EPOLL_CTL_DEL, s, nullptr);
    return 0;
  }
  epoll_event ev{};  // zeroed: the tag is the bare fd, never kWorkerEpollTag
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = s;
  // socketp is non-null once we have registered this socket (curl_multi_assign below); a socket
  // curl closed and reopened with the same number gets a fresh ADD.
  if (socketp == nullptr || epoll_ctl(self->epoll_fd_, EPOLL_CTL_MOD, s, &ev) != 0) {
    if (epoll_ctl(self->epoll_fd_, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
      epoll_ctl(self->epoll_fd_, EPOLL_CTL_MOD, s, &ev);
    }
    curl_multi_assign(self->multi_, s, self);
  }
  return 0;
}

int CurlTransport::OnTimer(CURLM* /*multi*/, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlTransport*>(userp);
  self->deadline_ns_ =
      timeout_ms < 0 ? INT64_MAX
                     : self->clock_->MonotonicNs() + static_cast<int64_t>(timeout_ms) * 1'000'000;
  return 0;
}

CurlTransport::Slot* CurlTransport::Acquire() {
  if (!free_.empty()) {
    Slot* s = free_.back();
    free_.pop_back();
    return s;
  }
  auto s = std::make_unique<Slot>();
  s->easy = curl_easy_init();
  if (s->easy == nullptr) return nullptr;
  // The plan's options were checked on a probe handle when the transport was chosen
  // (agent/transport_factory.cc), so this cannot fail.
  (void)request_->Configure(s->easy);
  curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s.get());
  curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, &s->rx_bytes);
  slots_.push_back(std::move(s));
  return slots_.back().get();
}

void CurlTransport::Start(uint64_t cookie, uint64_t payload, int64_t /*now*/) {
  Slot* s = Acquire();
  if (s == nullptr) {
    // Out of memory for a handle: still one result for the request we meant to send.
    immediate_.push_back({cookie, TransportResult{ERROR_OTHER, 0, 0, 0}});
    return;
  }
  s->cookie = cookie;
  s->payload_bytes = request_->payload_size(payload);
  s->rx_bytes = 0;
  request_->SelectPayload(s->easy, payload);
  if (curl_multi_add_handle(multi_, s->easy) != CURLM_OK) {
    free_.push_back(s);
    immediate_.push_back({cookie, TransportResult{ERROR_OTHER, 0, 0, 0}});
    return;
  }
  s->active = true;
  kick_ = true;
}

void CurlTransport::Action(curl_socket_t socket, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, socket, flags, &running);
  const int64_t now = clock_->MonotonicNs();
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg == CURLMSG_DONE) Complete(m->easy_handle, m->data.result, now);
  }
}

void CurlTransport::OnEvent(epoll_data_t data, uint32_t events, int64_t /*now*/) {
  int flags = 0;
  if (events & EPOLLIN) flags |= CURL_CSELECT_IN;
  if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
  if (events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
  Action(data.fd, flags);
}

void CurlTransport::Complete(CURL* easy, CURLcode code, int64_t now) {
  Slot* s = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
  long status = 0;
  long header_bytes = 0;
  long request_bytes = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_bytes);
  curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_bytes);
  curl_multi_remove_handle(multi_, easy);
  TransportResult r;
  r.status = static_cast<uint32_t>(status);
  r.error = ClassifyResult(code, status);
  // REQUEST_SIZE counts header bytes only; the body went out too when a response came back.
  r.sent = static_cast<uint64_t>(request_bytes) + (request_bytes > 0 ? s->payload_bytes : 0);
  r.received = static_cast<uint64_t>(header_bytes) + s->rx_bytes;
  s->active = false;
  free_.push_back(s);  // the worker may start its next request on this handle from Done
  callbacks_->Done(s->cookie, r, now);
}

int64_t CurlTransport::NextDeadline(int64_t now) {
  return kick_ || !immediate_.empty() ? now : deadline_ns_;
}

void CurlTransport::RunDue(int64_t now) {
  if (kick_ || deadline_ns_ <= now) {
    // New transfers were added (let curl start them now rather than after another wait: the
    // loop calls this just before waiting), or curl's timer is due. curl sets its next timer
    // through OnTimer.
    kick_ = false;
    if (deadline_ns_ <= now) deadline_ns_ = INT64_MAX;
    Action(CURL_SOCKET_TIMEOUT, 0);
  }
  // Failures inside Start are reported here, outside it, as the native transport does.
  if (!immediate_.empty()) {
    reporting_.swap(immediate_);
    for (const Immediate& i : reporting_) callbacks_->Done(i.cookie, i.result, now);
    reporting_.clear();
  }
}

void CurlTransport::AbortAll(int64_t now) {
  for (auto& s : slots_) {
    if (!s->active) continue;
    curl_multi_remove_handle(multi_, s->easy);
    s->active = false;
    free_.push_back(s.get());
    callbacks_->Done(s->cookie, TransportResult{ERROR_ABORTED, 0, 0, 0}, now);
  }
  reporting_.swap(immediate_);
  for (const Immediate& i : reporting_) {
    callbacks_->Done(i.cookie, TransportResult{ERROR_ABORTED, 0, 0, 0}, now);
  }
  reporting_.clear();
}

}  // namespace stampede
