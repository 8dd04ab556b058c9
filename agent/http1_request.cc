#include "agent/http1_request.h"

#include <curl/curl.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
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
    return absl::InvalidArgumentError(
        absl::StrCat("target.url: cannot parse \"", target.url(), "\""));
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

  const std::string method =
      target.method().empty() ? "POST" : absl::AsciiStrToUpper(target.method());
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

}  // namespace stampede
