// Plan loading: PlanFromJson (plan_json.h) turns the text into a Plan; ParsePlan then checks the
// semantic rules (ValidatePlan, plan_validation.cc) and resolves the payload files and the bearer
// key; PlanSummary describes a plan in one line.
#include "common/plan_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/plan_internal.h"
#include "common/plan_json.h"
#include "common/status_macros.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;
using plan_internal::FormatNumber;
using plan_internal::HumanDuration;
using plan_internal::OneLine;

constexpr int64_t kMaxPayloadBytes = int64_t{64} << 20;
// A plan is a few KiB; the cap only stops a mistyped path (a log, a disk image) being slurped.
constexpr int64_t kMaxPlanBytes = int64_t{16} << 20;

absl::Status PrefixStatus(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// ---------------------------------------------------------------------------------------------
// Resolution: files and the environment.

// Reads a whole regular file of at most `limit` bytes. `what` starts every error message.
absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t limit,
                                     absl::string_view what) {
  const std::string context = absl::StrCat(what, "cannot read \"", path, "\"");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, context);
  struct stat info;
  std::string bytes;
  absl::Status status;
  if (::fstat(fd, &info) != 0) {
    status = absl::ErrnoToStatus(errno, context);
  } else if (S_ISDIR(info.st_mode)) {
    status = absl::ErrnoToStatus(EISDIR, context);
  } else if (!S_ISREG(info.st_mode)) {
    // A FIFO or a device could block forever or never end.
    status = absl::InvalidArgumentError(absl::StrCat(context, ": not a regular file"));
  } else if (info.st_size > limit) {
    status = absl::InvalidArgumentError(absl::StrCat(what, "\"", path, "\" is ", info.st_size,
                                                     " bytes; the limit is ", limit >> 20, " MiB"));
  } else {
    bytes.resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = absl::ErrnoToStatus(errno, context);
        break;
      }
      if (n == 0) break;  // the file shrank while being read
      done += static_cast<size_t>(n);
    }
    bytes.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return bytes;
}

// The media type of the Content-Type header (case-insensitive name, parameters dropped).
std::string ContentType(const Target& target) {
  for (const auto& [name, value] : target.headers()) {
    if (absl::EqualsIgnoreCase(name, "Content-Type")) {
      absl::string_view media = value;
      media = media.substr(0, media.find(';'));
      return absl::AsciiStrToLower(absl::StripAsciiWhitespace(media));
    }
  }
  return "";
}

// Catches the classic mistake of pointing a JSON endpoint at the wrong file before the run
// rather than as 100% HTTP 400s during it.
absl::Status CheckJsonPayload(const std::string& bytes, const std::string& field_path,
                              const std::string& file) {
  pb::Value value;
  const auto status = pb::util::JsonStringToMessage(bytes, &value);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field_path, ": \"", file, "\" is not valid JSON: ", OneLine(status.message().ToString())));
}

absl::Status ResolvePayloads(const std::string& base_dir, Target* target) {
  std::vector<std::pair<std::string, std::string>> files;  // (field path, path as written)
  if (!target->payload_file().empty())
    files.emplace_back("target.payloadFile", target->payload_file());
  for (int i = 0; i < target->payload_files_size(); ++i) {
    files.emplace_back(absl::StrCat("target.payloadFiles[", i, "]"), target->payload_files(i));
  }
  const bool json = ContentType(*target) == "application/json";
  target->clear_resolved_payloads();
  for (const auto& [field_path, written] : files) {
    // Absolute in messages so that "No such file" says where the loader actually looked.
    const std::string file =
        std::filesystem::absolute(std::filesystem::path(base_dir) / written).lexically_normal();
    ASSIGN_OR_RETURN(std::string bytes,
                     ReadFile(file, kMaxPayloadBytes, absl::StrCat(field_path, ": ")));
    if (json) RETURN_IF_ERROR(CheckJsonPayload(bytes, field_path, file));
    target->add_resolved_payloads(std::move(bytes));
  }
  return absl::OkStatus();
}

// Messages name the variable, never its value: a key must not leak into logs through an error.
absl::Status ResolveBearerToken(const EnvLookup& env, Target* target) {
  const std::string& name = target->bearer_token_env();
  if (name.empty()) return absl::OkStatus();
  const std::optional<std::string> value = env ? env(name) : ProcessEnv()(name);
  constexpr absl::string_view kPath = "target.bearerTokenEnv: environment variable ";
  if (!value.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(kPath, name, " is not set"));
  }
  if (value->empty()) return absl::InvalidArgumentError(absl::StrCat(kPath, name, " is empty"));
  // It becomes an "Authorization: Bearer ..." header line, so no spaces or line breaks.
  if (!std::all_of(value->begin(), value->end(),
                   [](char c) { return absl::ascii_isgraph(c) || (c & 0x80) != 0; })) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPath, name, " holds whitespace or control characters"));
  }
  target->set_resolved_bearer_token(*value);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// PlanSummary pieces.

std::string DescribeStage(const Stage& stage) {
  const std::string ramp = stage.has_ramp_to() ? "→" + FormatNumber(stage.ramp_to()) : "";
  std::string out;
  if (stage.has_concurrency()) {
    out = absl::StrCat("closed c=", stage.concurrency(), ramp);
  } else if (stage.has_rate()) {
    out = absl::StrCat("open ", FormatNumber(stage.rate()), ramp, "/s");
    if (stage.arrival() == "poisson") out += " poisson";
  } else {
    out = "no load";
  }
  if (stage.has_requests()) absl::StrAppend(&out, " x", stage.requests(), " req");
  if (stage.has_duration()) absl::StrAppend(&out, " for ", HumanDuration(stage.duration()));
  return out;
}

std::string DescribeAgents(const AgentSelection& agents) {
  std::string out = absl::StrCat(
      "agents: ", agents.count() > 0 ? absl::StrCat(agents.count()) : std::string("all"));
  if (!agents.regions().empty())
    absl::StrAppend(&out, " in ", absl::StrJoin(agents.regions(), ","));
  if (!agents.labels().empty()) {
    const std::map<std::string, std::string> labels(agents.labels().begin(), agents.labels().end());
    absl::StrAppend(&out, " with ", absl::StrJoin(labels, ",", absl::PairFormatter("=")));
  }
  if (agents.split() == "cluster") out += " (cluster split)";
  return out;
}

std::string DescribeThresholds(const Thresholds& t) {
  std::vector<std::string> parts;
  if (t.has_p50_ms()) parts.push_back(absl::StrCat("p50<", FormatNumber(t.p50_ms()), "ms"));
  if (t.has_p90_ms()) parts.push_back(absl::StrCat("p90<", FormatNumber(t.p90_ms()), "ms"));
  if (t.has_p99_ms()) parts.push_back(absl::StrCat("p99<", FormatNumber(t.p99_ms()), "ms"));
  if (t.has_error_rate()) {
    parts.push_back(absl::StrCat("err<", FormatNumber(t.error_rate() * 100), "%"));
  }
  if (parts.empty()) return "";
  return absl::StrCat("thresholds ", absl::StrJoin(parts, " "));
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Plan> LoadPlan(const std::string& path) { return LoadPlan(path, {}); }

absl::StatusOr<Plan> LoadPlan(const std::string& path, PlanLoadOptions options) {
  ASSIGN_OR_RETURN(std::string json, ReadFile(path, kMaxPlanBytes, "plan: "));
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("plan: cannot resolve \"", path, "\": ", error.message()));
  }
  options.base_dir = absolute.parent_path().string();
  // ParsePlan has already run ValidatePlan; the prefix tells which file a field path is in.
  absl::StatusOr<Plan> plan = ParsePlan(json, options);
  if (!plan.ok()) return PrefixStatus(plan.status(), absl::StrCat(path, ": "));
  return plan;
}

absl::StatusOr<Plan> ParsePlan(std::string_view json, const PlanLoadOptions& options) {
  ASSIGN_OR_RETURN(Plan plan, PlanFromJson(absl::string_view(json.data(), json.size())));
  RETURN_IF_ERROR(ValidatePlan(plan));
  if (options.resolve) {
    RETURN_IF_ERROR(ResolvePayloads(options.base_dir, plan.mutable_target()));
    RETURN_IF_ERROR(ResolveBearerToken(options.env, plan.mutable_target()));
  }
  return plan;
}

Plan WithoutSecrets(Plan plan) {
  plan.mutable_target()->clear_resolved_bearer_token();
  plan.mutable_target()->clear_resolved_payloads();
  return plan;
}

std::string PlanSummary(const Plan& plan) {
  const Target& target = plan.target();
  std::vector<std::string> stages;
  for (const Stage& stage : plan.stages()) stages.push_back(DescribeStage(stage));
  std::string out =
      absl::StrCat(plan.name().empty() ? "(unnamed)" : plan.name(), ": ",
                   target.method().empty() ? "POST" : target.method(), " ", target.url(), ", ",
                   plan.stages_size(), plan.stages_size() == 1 ? " stage (" : " stages (",
                   absl::StrJoin(stages, ", "), "), ", DescribeAgents(plan.agents()));
  if (const std::string thresholds = DescribeThresholds(plan.thresholds()); !thresholds.empty()) {
    absl::StrAppend(&out, ", ", thresholds);
  }
  return out;
}

bool IsClosedStage(const Stage& stage) { return stage.has_concurrency(); }

int64_t DurationToNs(const google::protobuf::Duration& d) {
  // Saturate instead of overflowing: a Duration can hold ~10000 years, int64 ns only ~292.
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000000000 - 1;
  if (d.seconds() > kMaxSeconds) return std::numeric_limits<int64_t>::max();
  if (d.seconds() < -kMaxSeconds) return std::numeric_limits<int64_t>::min();
  return d.seconds() * 1000000000 + d.nanos();
}

}  // namespace stampede
