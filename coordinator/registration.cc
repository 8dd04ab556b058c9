#include "coordinator/registration.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace stampede {
namespace {

constexpr size_t kMaxName = 128;
constexpr size_t kMaxRegion = 64;
constexpr size_t kMaxLabels = 32;
constexpr size_t kMaxLabelKey = 64;
constexpr size_t kMaxLabelValue = 256;
constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxInstanceId = 64;
constexpr int kMaxActiveRuns = 1024;
constexpr size_t kMaxRunId = 128;

// A short, printable quote of what was sent: never the whole of a megabyte-long field.
std::string Quote(absl::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return absl::StrCat("\"", out, s.size() > 40 ? "...\"" : "\"");
}

absl::Status CheckText(absl::string_view field, absl::string_view value, size_t min, size_t max,
                       bool spaces) {
  if (value.size() < min || value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat("register.", field, ": ", value.size(),
                                                   " characters (", min, " to ", max,
                                                   " allowed): ", Quote(value)));
  }
  for (char c : value) {
    const bool printable = c > 0x20 && c < 0x7f;
    if (!printable && !(spaces && c == ' ')) {
      return absl::InvalidArgumentError(absl::StrCat("register.", field, ": only printable ASCII",
                                                     spaces ? "" : " without spaces",
                                                     " is allowed: ", Quote(value)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Every byte of the longer one is looked at, whatever the contents.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

absl::Status ValidateRegistration(const Register& reg) {
  if (absl::Status s = CheckText("name", reg.name(), 1, kMaxName, false); !s.ok()) return s;
  if (absl::Status s = CheckText("region", reg.region(), 1, kMaxRegion, false); !s.ok()) return s;
  if (reg.labels_size() > static_cast<int>(kMaxLabels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("register.labels: ", reg.labels_size(), " labels (at most ", kMaxLabels, ")"));
  }
  for (const auto& [key, value] : reg.labels()) {
    if (absl::Status s = CheckText("labels (key)", key, 1, kMaxLabelKey, false); !s.ok()) return s;
    if (absl::Status s =
            CheckText(absl::StrCat("labels.", key.substr(0, 40)), value, 0, kMaxLabelValue, true);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckText("version", reg.version(), 0, kMaxVersion, false); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckText("instanceId", reg.instance_id(), 0, kMaxInstanceId, false);
      !s.ok()) {
    return s;
  }
  if (reg.active_runs_size() > kMaxActiveRuns) {
    return absl::InvalidArgumentError(absl::StrCat("register.activeRuns: ", reg.active_runs_size(),
                                                   " runs (at most ", kMaxActiveRuns, ")"));
  }
  for (const std::string& run : reg.active_runs()) {
    if (absl::Status s = CheckText("activeRuns", run, 1, kMaxRunId, false); !s.ok()) return s;
  }
  if (reg.cores() < 0 || reg.cores() > 100000) {
    return absl::InvalidArgumentError(absl::StrCat("register.cores: ", reg.cores()));
  }
  return absl::OkStatus();
}

absl::Status CheckNameMatchesCertificate(const std::string& name,
                                         const std::vector<std::string>& certificate_names) {
  if (std::find(certificate_names.begin(), certificate_names.end(), name) !=
      certificate_names.end()) {
    return absl::OkStatus();
  }
  std::vector<std::string> shown;
  for (const std::string& n : certificate_names) shown.push_back(Quote(n));
  return absl::PermissionDeniedError(
      absl::StrCat("agent name ", Quote(name), " is not a name of its client certificate (",
                   shown.empty() ? "it carries none" : absl::StrJoin(shown, ", "),
                   "): with mutual TLS an agent registers under a name its certificate carries"));
}

}  // namespace stampede
