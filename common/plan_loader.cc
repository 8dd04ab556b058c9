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
#include <functional>
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
#include "common/json_reader.h"
#include "common/plan_internal.h"
#include "common/plan_json.h"
#include "common/status_macros.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;
using plan_internal::FormatNumber;
using plan_internal::HumanDuration;

constexpr int64_t kMaxPayloadBytes = int64_t{64} << 20;
// Payloads are model inputs (nested arrays of numbers at most a few levels deep); the JSON check
// must not be the thing a hostile payload file stalls.
constexpr int kMaxPayloadDepth = 512;
// File paths in messages: long enough for any real path, short enough for a log line.
constexpr size_t kMaxPathInMessage = 300;

std::string QuotedPath(absl::string_view path) {
  return absl::StrCat("\"", Excerpt(path, kMaxPathInMessage), "\"");
}

absl::Status PrefixStatus(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// "plan.json:3:12: expected ':'" for a syntax error (the compiler's form, which editors and
// terminals turn into a link), "plan.json: stages[0].rate: ..." for the rest.
std::string PlanFilePrefix(const std::string& path, const absl::Status& status) {
  const absl::string_view message = status.message();
  size_t i = 0;
  const auto number = [&] {
    const size_t from = i;
    while (i < message.size() && absl::ascii_isdigit(message[i])) ++i;
    return i > from;
  };
  const bool positioned = number() && i < message.size() && message[i++] == ':' && number() &&
                          i < message.size() && message[i] == ':';
  return absl::StrCat(Excerpt(path, kMaxPathInMessage), positioned ? ":" : ": ");
}

// ---------------------------------------------------------------------------------------------
// Resolution: files and the environment.

// Reads a whole regular file of at most `limit` bytes. `what` starts every error message but the
// one for a file over the limit, which is `too_large(size)`. Never blocks on a FIFO or a device
// and never reads more than the limit, whatever the path names.
absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t limit, absl::string_view what,
                                     const std::function<std::string(int64_t)>& too_large) {
  const std::string context = absl::StrCat(what, "cannot read ", QuotedPath(path));
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever. It changes
  // nothing for the regular files that are all this reads.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
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
    status = absl::InvalidArgumentError(too_large(info.st_size));
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
  const absl::Status status =
      CheckJson(bytes, JsonLimits{.max_bytes = static_cast<size_t>(kMaxPayloadBytes),
                                  .max_depth = kMaxPayloadDepth});
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field_path, ": ", QuotedPath(file), " is not valid JSON: ", status.message()));
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
    const auto too_large = [&path = field_path, &file](int64_t size) {
      return absl::StrCat(path, ": ", QuotedPath(file), " is ", size, " bytes; the limit is ",
                          kMaxPayloadBytes >> 20, " MiB");
    };
    ASSIGN_OR_RETURN(std::string bytes,
                     ReadFile(file, kMaxPayloadBytes, absl::StrCat(field_path, ": "), too_large));
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
    return absl::InvalidArgumentError(absl::StrCat(kPath, Excerpt(name), " is not set"));
  }
  if (value->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kPath, Excerpt(name), " is empty"));
  }
  // It becomes an "Authorization: Bearer ..." header line, so no spaces or line breaks.
  if (!std::all_of(value->begin(), value->end(),
                   [](char c) { return absl::ascii_isgraph(c) || (c & 0x80) != 0; })) {
    return absl::InvalidArgumentError(
        absl::StrCat(kPath, Excerpt(name), " holds whitespace or control characters"));
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
  auto ms = [&](bool set, const char* name, double v) {
    if (set) parts.push_back(absl::StrCat(name, "<", FormatNumber(v), "ms"));
  };
  ms(t.has_p50_ms(), "p50", t.p50_ms());
  ms(t.has_p90_ms(), "p90", t.p90_ms());
  ms(t.has_p95_ms(), "p95", t.p95_ms());
  ms(t.has_p99_ms(), "p99", t.p99_ms());
  ms(t.has_p999_ms(), "p99.9", t.p999_ms());
  const std::map<std::string, double> latency(t.latency().begin(), t.latency().end());
  for (const auto& [q, v] : latency) parts.push_back(absl::StrCat(q, "<", FormatNumber(v), "ms"));
  ms(t.has_max_ms(), "max", t.max_ms());
  ms(t.has_mean_ms(), "mean", t.mean_ms());
  if (t.has_min_throughput_rps()) {
    parts.push_back(absl::StrCat("throughput>=", FormatNumber(t.min_throughput_rps()), "/s"));
  }
  if (t.has_error_rate() || t.has_max_error_rate()) {
    const double rate = t.has_max_error_rate() ? t.max_error_rate() : t.error_rate();
    parts.push_back(absl::StrCat("err<", FormatNumber(rate * 100), "%"));
  }
  if (parts.empty()) return "";
  std::string out = absl::StrCat("thresholds ", absl::StrJoin(parts, " "));
  if (t.per_region()) out += " (each region too)";
  if (t.abort_on_fail()) out += " (abort on fail)";
  return out;
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

absl::StatusOr<std::string> ReadPlanFile(const std::string& path) {
  return ReadFile(path, kMaxPlanBytes, "plan: ", [&path](int64_t size) {
    return absl::StrCat(Excerpt(path, kMaxPathInMessage), ": ", PlanTooLargeMessage(size));
  });
}

absl::StatusOr<Plan> LoadPlan(const std::string& path, PlanLoadOptions options) {
  ASSIGN_OR_RETURN(std::string json, ReadPlanFile(path));
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("plan: cannot resolve ", QuotedPath(path), ": ", error.message()));
  }
  options.base_dir = absolute.parent_path().string();
  // ParsePlan has already run ValidatePlan; the prefix tells which file a field path is in.
  absl::StatusOr<Plan> plan = ParsePlan(json, options);
  if (!plan.ok()) return PrefixStatus(plan.status(), PlanFilePrefix(path, plan.status()));
  return plan;
}

absl::StatusOr<Plan> ParsePlan(std::string_view json, const PlanLoadOptions& options) {
  ASSIGN_OR_RETURN(pb::Struct object,
                   ReadPlanJsonObject(absl::string_view(json.data(), json.size())));
  return ParsePlanObject(std::move(object), options);
}

absl::StatusOr<Plan> ParsePlanObject(pb::Struct object, const PlanLoadOptions& options) {
  ASSIGN_OR_RETURN(Plan plan, PlanFromJsonObject(std::move(object)));
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
