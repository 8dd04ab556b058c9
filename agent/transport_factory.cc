#include "agent/transport_factory.h"

#include <utility>

#include "agent/curl_transport.h"
#include "agent/http1_request.h"
#include "agent/http1_transport.h"
#include "agent/request_template.h"
#include "common/status_macros.h"

namespace stampede {
namespace {

class Http1TransportFactory final : public TransportFactory {
 public:
  explicit Http1TransportFactory(std::unique_ptr<Http1Request> request)
      : request_(std::move(request)) {}
  TransportKind kind() const override { return TransportKind::kHttp1; }
  absl::StatusOr<std::unique_ptr<Transport>> Create(int epoll_fd, TransportCallbacks* callbacks,
                                                    const Clock* /*clock*/) const override {
    return std::make_unique<Http1Transport>(epoll_fd, request_.get(), callbacks);
  }

 private:
  const std::unique_ptr<Http1Request> request_;
};

class CurlTransportFactory final : public TransportFactory {
 public:
  explicit CurlTransportFactory(std::unique_ptr<RequestTemplate> request)
      : request_(std::move(request)) {}
  TransportKind kind() const override { return TransportKind::kCurl; }
  absl::StatusOr<std::unique_ptr<Transport>> Create(int epoll_fd, TransportCallbacks* callbacks,
                                                    const Clock* clock) const override {
    auto transport = std::make_unique<CurlTransport>(epoll_fd, request_.get(), callbacks, clock);
    RETURN_IF_ERROR(transport->Init());
    return transport;
  }

 private:
  const std::unique_ptr<RequestTemplate> request_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TransportFactory>> ChooseTransport(const Target& target) {
  CurlGlobalInit();
  // The libcurl request is built and checked for every target, native ones too: it is the
  // fallback, and its checks (payloads loaded, HTTP/2 support) hold for both transports.
  ASSIGN_OR_RETURN(std::unique_ptr<RequestTemplate> request, RequestTemplate::Create(target));
  {
    // Options are checked once on a probe handle so that transports configure theirs blindly.
    CURL* probe = curl_easy_init();
    if (probe == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
    absl::Status s = request->Configure(probe);
    curl_easy_cleanup(probe);
    RETURN_IF_ERROR(s);
  }
  if (Http1Request::Wants(target)) {
    auto created = Http1Request::Create(target);
    if (created.ok()) return std::make_unique<Http1TransportFactory>(std::move(*created));
    // A host that does not resolve falls back to libcurl, which records a DNS error for each
    // request; anything else is the plan's fault.
    if (created.status().code() != absl::StatusCode::kNotFound) return created.status();
  }
  return std::make_unique<CurlTransportFactory>(std::move(request));
}

}  // namespace stampede
