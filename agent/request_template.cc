#include "agent/request_template.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

// Transfers count received body bytes and keep nothing: the response body is not stored.
size_t DiscardBody(char* /*data*/, size_t size, size_t nmemb, void* userdata) {
  *static_cast<uint64_t*>(userdata) += size * nmemb;
  return size * nmemb;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RequestTemplate>> RequestTemplate::Create(const Target& target) {
  auto t = std::unique_ptr<RequestTemplate>(new RequestTemplate());
  t->url_ = target.url();
  t->method_ = target.method().empty() ? "POST" : absl::AsciiStrToUpper(target.method());
  t->http2_ = target.http_version() == "2";
  if (t->http2_ && absl::StartsWithIgnoreCase(t->url_, "http:") &&
      curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
    // libcurl before 8.0.0 fails every request after the first on a reused cleartext HTTP/2
    // (prior knowledge) connection with "Error in the HTTP2 framing layer" (curl#10634). The
    // errors would look like the server's fault, so refuse up front.
    return absl::FailedPreconditionError(absl::StrCat(
        "target.httpVersion: HTTP/2 over cleartext http:// is broken in this libcurl (",
        curl_version_info(CURLVERSION_NOW)->version,
        ", fixed in 8.0.0): use an https:// URL for HTTP/2, or httpVersion \"1.1\""));
  }
  t->insecure_ = target.insecure();
  if (target.has_timeout()) {
    t->timeout_ms_ = std::max<long>(1, DurationToNs(target.timeout()) / 1'000'000);
  }
  for (const auto& p : target.resolved_payloads()) t->payloads_.push_back(p);
  const bool wants_body = t->method_ == "POST" || t->method_ == "PUT" || t->method_ == "PATCH";
  const bool names_payload = !target.payload_file().empty() || target.payload_files_size() > 0;
  if (names_payload && t->payloads_.empty()) {
    return absl::FailedPreconditionError(
        "target: the plan names a payload file but its bytes were not loaded");
  }
  // POST with no payload still sends an (empty) body.
  if (wants_body && t->payloads_.empty()) t->payloads_.emplace_back();
  t->has_body_ = wants_body;

  // Sorted for a stable request layout; the bearer key is added last and never logged.
  std::vector<std::pair<std::string, std::string>> headers(target.headers().begin(),
                                                           target.headers().end());
  std::sort(headers.begin(), headers.end());
  for (const auto& [name, value] : headers) {
    t->headers_ = curl_slist_append(t->headers_, absl::StrCat(name, ": ", value).c_str());
  }
  if (!target.resolved_bearer_token().empty()) {
    t->headers_ = curl_slist_append(
        t->headers_, absl::StrCat("Authorization: Bearer ", target.resolved_bearer_token()).c_str());
  }
  // libcurl waits for "100 Continue" before sending bodies over 1 KiB: a whole extra round trip
  // per request. An empty Expect header turns that off.
  t->headers_ = curl_slist_append(t->headers_, "Expect:");
  return t;
}

RequestTemplate::~RequestTemplate() { curl_slist_free_all(headers_); }

absl::Status RequestTemplate::Configure(CURL* easy) const {
  auto set = [&](CURLcode code, const char* what) -> absl::Status {
    if (code == CURLE_OK) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("libcurl rejected ", what, ": ", curl_easy_strerror(code)));
  };
  absl::Status s;
  if (!(s = set(curl_easy_setopt(easy, CURLOPT_URL, url_.c_str()), "target.url")).ok()) return s;
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "stampede/" STAMPEDE_VERSION);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &DiscardBody);
  if (http2_) {
    const bool tls = absl::StartsWithIgnoreCase(url_, "https:");
    if (!(s = set(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                                   tls ? CURL_HTTP_VERSION_2TLS
                                       : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE),
                  "target.httpVersion 2"))
             .ok()) {
      return s;
    }
    // Wait for an existing connection to multiplex on rather than opening one per transfer.
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  }
  if (insecure_) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (method_ == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (method_ != "GET") {
    if (has_body_) {
      // POSTFIELDS points at the shared payload: no copy per request.
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(payloads_[0].size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, payloads_[0].data());
    }
    if (method_ != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method_.c_str());
  }
  return absl::OkStatus();
}

void RequestTemplate::SelectPayload(CURL* easy, uint64_t i) const {
  if (!has_body_ || payloads_.size() < 2) return;
  const std::string& p = payloads_[i % payloads_.size()];
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(p.size()));
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, p.data());
}

}  // namespace stampede
