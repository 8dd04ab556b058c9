// The request every transfer sends, built once per run: URL, method, header list (with the bearer
// key and without "Expect: 100-continue"), payloads held once and pointed to by every transfer.
#ifndef STAMPEDE_AGENT_REQUEST_TEMPLATE_H_
#define STAMPEDE_AGENT_REQUEST_TEMPLATE_H_

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plan.pb.h"

namespace stampede {

class RequestTemplate {
 public:
  // Needs a resolved plan target (payload bytes and bearer key read by the loader).
  static absl::StatusOr<std::unique_ptr<RequestTemplate>> Create(const Target& target);
  ~RequestTemplate();
  RequestTemplate(const RequestTemplate&) = delete;
  RequestTemplate& operator=(const RequestTemplate&) = delete;

  // Sets every per-run option on a fresh easy handle (called once per handle, not per request).
  absl::Status Configure(CURL* easy) const;
  // Points the handle at payload `i % payload_count()`; a cheap pointer swap per request.
  void SelectPayload(CURL* easy, uint64_t i) const;
  size_t payload_count() const { return payloads_.size(); }
  bool has_body() const { return has_body_; }
  size_t payload_size(uint64_t i) const {
    return payloads_.empty() ? 0 : payloads_[i % payloads_.size()].size();
  }
  bool http2() const { return http2_; }

 private:
  RequestTemplate() = default;

  std::string url_;
  std::string method_;
  bool has_body_ = false;
  bool http2_ = false;
  bool insecure_ = false;
  long timeout_ms_ = 10000;
  std::vector<std::string> payloads_;
  curl_slist* headers_ = nullptr;
};

}  // namespace stampede

#endif  // STAMPEDE_AGENT_REQUEST_TEMPLATE_H_
