// ValidatePlan (declared in plan_loader.h) and its rules. Every rule adds to one list, so a user
// fixes all mistakes in one round.
#include "common/plan_loader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/json_reader.h"
#include "common/plan_internal.h"
#include "common/thresholds.h"
#include "google/protobuf/duration.pb.h"
#include "plan.pb.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;
using plan_internal::FormatNumber;
using plan_internal::HumanDuration;
using plan_internal::kMaxProtoDurationSeconds;
using plan_internal::ToAbsl;

constexpr int32_t kMaxConcurrency = 100000;
constexpr double kMaxRate = 1e7;

// A plan of a megabyte can hold tens of thousands of mistakes; the message names the first ones.
constexpr size_t kMaxErrorsListed = 20;

class Errors {
 public:
  void Add(absl::string_view path, absl::string_view message) {
    if (messages_.size() < kMaxErrorsListed) {
      messages_.push_back(absl::StrCat(path, ": ", message));
    } else {
      ++unlisted_;
    }
  }
  absl::Status ToStatus() const {
    if (messages_.empty()) return absl::OkStatus();
    std::string text = absl::StrJoin(messages_, "; ");
    if (unlisted_ > 0) absl::StrAppend(&text, "; and ", unlisted_, " more");
    return absl::InvalidArgumentError(text);
  }

 private:
  std::vector<std::string> messages_;
  size_t unlisted_ = 0;
};

// A value from the plan, bounded, in double quotes.
std::string Quoted(absl::string_view value) { return absl::StrCat("\"", Excerpt(value), "\""); }

bool IsOneOf(absl::string_view value, std::initializer_list<absl::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::string NotOneOf(absl::string_view value, absl::string_view allowed) {
  return absl::StrCat(Quoted(value), " is not one of ", allowed);
}

// A plan received over gRPC never went through the JSON parser, so its durations may be
// malformed (mixed signs, nanos beyond a second).
bool IsValidDuration(const pb::Duration& d) {
  return d.seconds() >= -kMaxProtoDurationSeconds && d.seconds() <= kMaxProtoDurationSeconds &&
         d.nanos() > -1000000000 && d.nanos() < 1000000000 && !(d.seconds() > 0 && d.nanos() < 0) &&
         !(d.seconds() < 0 && d.nanos() > 0);
}

// Checks that `d` lies in (0, max].
void CheckPositiveDuration(const pb::Duration& d, absl::Duration max, absl::string_view path,
                           Errors* errors) {
  if (!IsValidDuration(d)) {
    errors->Add(path, absl::StrCat("not a valid duration (seconds=", d.seconds(),
                                   ", nanos=", d.nanos(), ")"));
  } else if (ToAbsl(d) <= absl::ZeroDuration() || ToAbsl(d) > max) {
    errors->Add(path,
                absl::StrCat("must be in (0s, ", HumanDuration(max), "], got ", HumanDuration(d)));
  }
}

// Written with negated comparisons so that NaN fails every range check.
void CheckPositive(double v, absl::string_view path, absl::string_view unit, Errors* errors) {
  if (!(v > 0) || !std::isfinite(v)) {
    errors->Add(path, absl::StrCat("must be > 0", unit, ", got ", FormatNumber(v)));
  }
}

void CheckFraction(double v, absl::string_view path, Errors* errors) {
  if (!(v >= 0 && v <= 1)) {
    errors->Add(path, absl::StrCat("must be in [0, 1], got ", FormatNumber(v)));
  }
}

bool IsSchemeChar(char c) { return absl::ascii_isalnum(c) || c == '+' || c == '-' || c == '.'; }

// A deliberately small URL check (no URL library in this target): absolute http(s) URL with a
// host, an optional numeric port, nothing the HTTP engine would choke on.
void CheckUrl(absl::string_view url, Errors* errors) {
  constexpr absl::string_view kPath = "target.url";
  if (url.empty()) return errors->Add(kPath, "missing");
  for (const char c : url) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) {
      return errors->Add(kPath, "contains whitespace or control characters");
    }
  }
  const size_t sep = url.find("://");
  if (sep == absl::string_view::npos || sep == 0 ||
      !std::all_of(url.begin(), url.begin() + sep, IsSchemeChar)) {
    return errors->Add(kPath, absl::StrCat(Quoted(url), " is not an absolute URL like ",
                                           "\"http://host:port/path\""));
  }
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return errors->Add(kPath, absl::StrCat("scheme ", Quoted(url.substr(0, sep)),
                                           " is not supported (use http or https)"));
  }
  absl::string_view authority = url.substr(sep + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != absl::string_view::npos) {
    return errors->Add(kPath,
                       "credentials in the URL are not allowed (secrets never go in "
                       "plans; use target.bearerTokenEnv)");
  }
  absl::string_view host = authority;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) return errors->Add(kPath, "unterminated [IPv6] host");
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return errors->Add(kPath, "unexpected text after the [IPv6] host");
    }
    port = after;
  } else if (const size_t colon = authority.rfind(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") {
    return errors->Add(kPath, absl::StrCat("no host in ", Quoted(url)));
  }
  int port_number = 0;
  if (!port.empty() && (!absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
                        port_number > 65535 || !absl::ascii_isdigit(port[0]))) {
    errors->Add(kPath, absl::StrCat("port ", Quoted(port), " is not a number in [1, 65535]"));
  }
}

// RFC 9110 token characters: what a header name may contain.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

void CheckHeader(const std::string& name, const std::string& value, Errors* errors) {
  const std::string path = absl::StrCat("target.headers[", Quoted(name), "]");
  if (name.empty()) return errors->Add("target.headers", "empty header name");
  if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
    return errors->Add(path, "header names may not contain spaces, colons or control characters");
  }
  if (absl::EqualsIgnoreCase(name, "Authorization")) {
    return errors->Add(path,
                       "secrets must not be written in plans; put the key in an "
                       "environment variable and name it in target.bearerTokenEnv");
  }
  if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
    errors->Add(path, "value contains CR, LF or NUL");
  }
}

bool IsEnvVarName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

void ValidateTarget(const Plan& plan, Errors* errors) {
  if (!plan.has_target()) return errors->Add("target", "missing");
  const Target& target = plan.target();
  CheckUrl(target.url(), errors);
  if (!IsOneOf(target.method(), {"", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})) {
    errors->Add("target.method",
                NotOneOf(target.method(), "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"));
  }
  // Sorted so that the message order does not depend on the map's hashing.
  const std::map<std::string, std::string> headers(target.headers().begin(),
                                                   target.headers().end());
  for (const auto& [name, value] : headers) CheckHeader(name, value, errors);
  if (!target.payload_file().empty() && target.payload_files_size() > 0) {
    errors->Add("target", "give either payloadFile or payloadFiles, not both");
  }
  for (int i = 0; i < target.payload_files_size(); ++i) {
    if (target.payload_files(i).empty()) {
      errors->Add(absl::StrCat("target.payloadFiles[", i, "]"), "empty path");
    }
  }
  if (target.has_timeout()) {
    CheckPositiveDuration(target.timeout(), absl::Hours(1), "target.timeout", errors);
  }
  if (!IsOneOf(target.http_version(), {"", "1.1", "2"})) {
    errors->Add("target.httpVersion", absl::StrCat(Quoted(target.http_version()),
                                                   " is not supported (use \"1.1\" or \"2\")"));
  }
  if (!IsOneOf(target.client(), {"", "auto", "curl"})) {
    errors->Add("target.client", absl::StrCat(Quoted(target.client()),
                                              " is not supported (use \"auto\" or \"curl\")"));
  }
  if (!target.bearer_token_env().empty() && !IsEnvVarName(target.bearer_token_env())) {
    errors->Add("target.bearerTokenEnv",
                absl::StrCat(Quoted(target.bearer_token_env()),
                             " is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"));
  }
}

// Which load model a stage uses and how strong it is.
void ValidateStageLoad(const Stage& stage, const std::string& path, Errors* errors) {
  if (!stage.has_concurrency() && !stage.has_rate()) {
    return errors->Add(path, "give either concurrency (closed model) or rate (open model)");
  }
  if (stage.has_concurrency() && stage.has_rate()) {
    return errors->Add(path,
                       "give either concurrency (closed model) or rate (open model), not both");
  }
  if (stage.has_concurrency() &&
      (stage.concurrency() < 1 || stage.concurrency() > kMaxConcurrency)) {
    errors->Add(path + ".concurrency",
                absl::StrCat("must be in [1, ", kMaxConcurrency, "], got ", stage.concurrency()));
  }
  if (stage.has_rate() && !(stage.rate() > 0 && stage.rate() <= kMaxRate)) {
    errors->Add(path + ".rate", absl::StrCat("must be in (0, ", FormatNumber(kMaxRate),
                                             "] requests/s, got ", FormatNumber(stage.rate())));
  }
}

// How long a stage lasts: a request count or a duration.
void ValidateStageLength(const Stage& stage, const std::string& path, Errors* errors) {
  if (!stage.has_requests() && !stage.has_duration()) {
    return errors->Add(path, "give either requests or duration");
  }
  if (stage.has_requests() && stage.has_duration()) {
    return errors->Add(path, "give either requests or duration, not both");
  }
  if (stage.has_requests() && stage.requests() <= 0) {
    errors->Add(path + ".requests", absl::StrCat("must be > 0, got ", stage.requests()));
  }
  if (stage.has_duration()) {
    CheckPositiveDuration(stage.duration(), absl::Hours(24), path + ".duration", errors);
  }
}

void ValidateStageRamp(const Stage& stage, const std::string& path, Errors* errors) {
  if (!stage.has_ramp_to()) return;
  const std::string ramp_path = path + ".rampTo";
  const double ramp = stage.ramp_to();
  const bool closed = stage.has_concurrency();
  if (!(ramp > 0) || !std::isfinite(ramp)) {
    errors->Add(ramp_path, absl::StrCat("must be > 0, got ", FormatNumber(ramp)));
  } else if (closed && (std::trunc(ramp) != ramp || ramp > kMaxConcurrency)) {
    errors->Add(ramp_path, absl::StrCat("is a concurrency on a closed stage: must be an integer "
                                        "in [1, ",
                                        kMaxConcurrency, "], got ", FormatNumber(ramp)));
  } else if (!closed && ramp > kMaxRate) {
    errors->Add(ramp_path, absl::StrCat("must be <= ", FormatNumber(kMaxRate), " requests/s, got ",
                                        FormatNumber(ramp)));
  }
  if (stage.has_requests()) {
    errors->Add(ramp_path, "a ramp needs a duration, not a request count");
  }
}

// Settings that belong to only one of the two models.
void ValidateStageModelSettings(const Stage& stage, const std::string& path, Errors* errors) {
  const bool closed = stage.has_concurrency();
  const bool open = stage.has_rate();
  if (!IsOneOf(stage.arrival(), {"", "constant", "poisson"})) {
    errors->Add(path + ".arrival", NotOneOf(stage.arrival(), "constant, poisson"));
  } else if (closed && !stage.arrival().empty()) {
    errors->Add(path + ".arrival", "only open (rate) stages have an arrival process");
  }
  if (stage.has_think_time()) {
    const pb::Duration& think = stage.think_time();
    if (open) {
      errors->Add(path + ".thinkTime", "only closed (concurrency) stages have a think time");
    } else if (!IsValidDuration(think) || ToAbsl(think) < absl::ZeroDuration()) {
      errors->Add(path + ".thinkTime",
                  absl::StrCat("must not be negative, got ", HumanDuration(think)));
    }
  }
  if (stage.has_max_in_flight()) {
    if (closed) {
      errors->Add(path + ".maxInFlight",
                  "only open (rate) stages have a cap on requests in flight (a closed stage "
                  "always has concurrency requests in flight)");
    } else if (stage.max_in_flight() <= 0) {
      errors->Add(path + ".maxInFlight", absl::StrCat("must be > 0, got ", stage.max_in_flight()));
    }
  }
}

void ValidateStages(const Plan& plan, Errors* errors) {
  if (plan.stages().empty()) return errors->Add("stages", "at least one stage is required");
  for (int i = 0; i < plan.stages_size(); ++i) {
    const std::string path = absl::StrCat("stages[", i, "]");
    ValidateStageLoad(plan.stages(i), path, errors);
    ValidateStageLength(plan.stages(i), path, errors);
    ValidateStageRamp(plan.stages(i), path, errors);
    ValidateStageModelSettings(plan.stages(i), path, errors);
  }
}

void ValidateAgents(const Plan& plan, Errors* errors) {
  const AgentSelection& agents = plan.agents();
  if (agents.count() < 0) {
    errors->Add("agents.count", absl::StrCat("must be >= 0, got ", agents.count()));
  }
  if (!IsOneOf(agents.split(), {"", "perAgent", "cluster"})) {
    errors->Add("agents.split", NotOneOf(agents.split(), "perAgent, cluster"));
  }
  for (int i = 0; i < agents.regions_size(); ++i) {
    if (agents.regions(i).empty()) {
      errors->Add(absl::StrCat("agents.regions[", i, "]"), "empty region name");
    }
  }
  if (agents.labels().contains("")) errors->Add("agents.labels", "empty label key");
}

void ValidateThresholds(const Plan& plan, Errors* errors) {
  const Thresholds& t = plan.thresholds();
  if (t.has_p50_ms()) CheckPositive(t.p50_ms(), "thresholds.p50Ms", " ms", errors);
  if (t.has_p90_ms()) CheckPositive(t.p90_ms(), "thresholds.p90Ms", " ms", errors);
  if (t.has_p99_ms()) CheckPositive(t.p99_ms(), "thresholds.p99Ms", " ms", errors);
  if (t.has_p95_ms()) CheckPositive(t.p95_ms(), "thresholds.p95Ms", " ms", errors);
  if (t.has_p999_ms()) CheckPositive(t.p999_ms(), "thresholds.p999Ms", " ms", errors);
  std::vector<std::string> keys;
  for (const auto& entry : t.latency()) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());  // errors in a stable order
  for (const std::string& key : keys) {
    const std::string path = absl::StrCat("thresholds.latency.", key);
    if (!PercentileOfKey(key).has_value()) {
      errors->Add(path, "not a percentile: write \"p\" and a number in (0, 100], e.g. p95, p99.9");
      continue;
    }
    CheckPositive(t.latency().at(key), path, " ms", errors);
  }
  if (t.has_max_ms()) CheckPositive(t.max_ms(), "thresholds.maxMs", " ms", errors);
  if (t.has_mean_ms()) CheckPositive(t.mean_ms(), "thresholds.meanMs", " ms", errors);
  if (t.has_min_throughput_rps()) {
    CheckPositive(t.min_throughput_rps(), "thresholds.minThroughputRps", " req/s", errors);
  }
  if (t.has_error_rate()) CheckFraction(t.error_rate(), "thresholds.errorRate", errors);
  if (t.has_max_error_rate()) CheckFraction(t.max_error_rate(), "thresholds.maxErrorRate", errors);
  if (t.has_error_rate() && t.has_max_error_rate()) {
    errors->Add("thresholds.errorRate", "is the older name of maxErrorRate: set one, not both");
  }
  if (t.has_abort_window()) {
    CheckPositiveDuration(t.abort_window(), absl::Hours(1), "thresholds.abortWindow", errors);
    if (!t.abort_on_fail()) errors->Add("thresholds.abortWindow", "needs abortOnFail: true");
  }
  const bool any_limit = t.has_p50_ms() || t.has_p90_ms() || t.has_p95_ms() || t.has_p99_ms() ||
                         t.has_p999_ms() || !t.latency().empty() || t.has_max_ms() ||
                         t.has_mean_ms() || t.has_min_throughput_rps() || t.has_error_rate() ||
                         t.has_max_error_rate();
  if (t.abort_on_fail() && !any_limit) {
    errors->Add("thresholds.abortOnFail", "needs at least one limit to watch");
  }
  if (t.per_region() && !any_limit) {
    errors->Add("thresholds.perRegion", "needs at least one limit to judge in each region");
  }
}

void ValidateSaturation(const Plan& plan, Errors* errors) {
  if (!plan.has_saturation()) return;
  const SaturationSettings& s = plan.saturation();
  if (s.has_start_load()) CheckPositive(s.start_load(), "saturation.startLoad", "", errors);
  if (s.has_step_factor() && !(s.step_factor() > 1 && std::isfinite(s.step_factor()))) {
    errors->Add("saturation.stepFactor",
                absl::StrCat("must be > 1, got ", FormatNumber(s.step_factor())));
  }
  if (s.has_max_load()) {
    CheckPositive(s.max_load(), "saturation.maxLoad", "", errors);
    if (s.has_start_load() && s.max_load() < s.start_load()) {
      errors->Add("saturation.maxLoad",
                  absl::StrCat("must be >= startLoad (", FormatNumber(s.start_load()), "), got ",
                               FormatNumber(s.max_load())));
    }
  }
  if (s.has_step_duration()) {
    CheckPositiveDuration(s.step_duration(), absl::Hours(24), "saturation.stepDuration", errors);
  }
  if (s.has_tolerance() && !(s.tolerance() > 0 && s.tolerance() < 1)) {
    errors->Add("saturation.tolerance",
                absl::StrCat("must be in (0, 1), got ", FormatNumber(s.tolerance())));
  }
  if (s.has_repeats() && (s.repeats() < 1 || s.repeats() > 20)) {
    errors->Add("saturation.repeats", absl::StrCat("must be in [1, 20], got ", s.repeats()));
  }
  if (s.has_max_error_rate()) {
    CheckFraction(s.max_error_rate(), "saturation.maxErrorRate", errors);
  }
  if (s.has_slo_p99_ms()) CheckPositive(s.slo_p99_ms(), "saturation.sloP99Ms", " ms", errors);
  if (s.has_min_throughput_growth() &&
      !(s.min_throughput_growth() >= 0 && s.min_throughput_growth() < 1)) {
    errors->Add("saturation.minThroughputGrowth",
                absl::StrCat("must be in [0, 1) (0: off), got ",
                             FormatNumber(s.min_throughput_growth())));
  }
  if (s.has_max_p99_multiple() && !(std::isfinite(s.max_p99_multiple()) &&
                                    (s.max_p99_multiple() == 0 || s.max_p99_multiple() > 1))) {
    errors->Add("saturation.maxP99Multiple",
                absl::StrCat("must be > 1 (0: off), got ", FormatNumber(s.max_p99_multiple())));
  }
  if (s.has_operating_fraction() && !(s.operating_fraction() > 0 && s.operating_fraction() <= 1)) {
    errors->Add("saturation.operatingFraction",
                absl::StrCat("must be in (0, 1], got ", FormatNumber(s.operating_fraction())));
  }
  if (!IsOneOf(s.model(), {"", "closed", "open"})) {
    errors->Add("saturation.model", NotOneOf(s.model(), "closed, open"));
  }
}

}  // namespace

absl::Status ValidatePlan(const Plan& plan) {
  Errors errors;
  ValidateTarget(plan, &errors);
  ValidateStages(plan, &errors);
  ValidateAgents(plan, &errors);
  ValidateThresholds(plan, &errors);
  ValidateSaturation(plan, &errors);
  return errors.ToStatus();
}

}  // namespace stampede
