#include "cli/adhoc_plan.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/json_writer.h"
#include "common/plan_loader.h"

namespace stampede {
namespace {

constexpr const char* kAdhocNames[] = {"--url",        "--method",      "--body", "--header",
                                       "--bearer-env", "--concurrency", "--rate", "--duration",
                                       "--requests",   "--timeout"};

}  // namespace

std::vector<FlagSpec> AdhocFlags() {
  return {
      {.name = "--url", .value = "URL", .help = "ad-hoc run without a plan file: the target"},
      {.name = "--method", .alias = "-m", .value = "M", .default_value = "POST", .help = "ad hoc"},
      {.name = "--body", .value = "FILE", .help = "ad hoc: the request body (a payload file)"},
      {.name = "--header",
       .alias = "-H",
       .value = "'K: V'",
       .repeatable = true,
       .help = "ad hoc: a request header (repeatable)"},
      {.name = "--bearer-env", .value = "VAR", .help = "ad hoc: send `Authorization: Bearer $VAR`"},
      {.name = "--concurrency",
       .alias = "-c",
       .value = "N",
       .help = "ad hoc: N virtual users (closed model); or --rate"},
      {.name = "--rate", .value = "R", .help = "ad hoc: R arrivals per second (open model)"},
      {.name = "--duration", .alias = "-d", .value = "D", .help = "ad hoc: how long (10s); or -n"},
      {.name = "--requests", .alias = "-n", .value = "N", .help = "ad hoc: how many requests"},
      {.name = "--timeout", .value = "D", .help = "ad hoc: the request timeout (default 30s)"}};
}

bool HasAdhocFlags(const ParsedFlags& flags) {
  for (const char* name : kAdhocNames) {
    if (flags.Has(name)) return true;
  }
  return false;
}

absl::StatusOr<Plan> AdhocPlan(const ParsedFlags& flags) {
  if (!flags.Has("--url")) {
    return absl::InvalidArgumentError("ad-hoc flags need --url (or give a plan file instead)");
  }
  if (flags.Has("--concurrency") == flags.Has("--rate")) {
    return absl::InvalidArgumentError("-c/--concurrency or --rate: give exactly one");
  }
  if (flags.Has("--duration") == flags.Has("--requests")) {
    return absl::InvalidArgumentError("-d/--duration or -n/--requests: give exactly one");
  }
  // The flags as a plan's JSON: the loader checks the values and names them by plan field; the
  // message says which flag that field came from.
  JsonWriter w;
  w.BeginObject();
  w.Key("name");
  w.String("ad-hoc");
  w.Key("target");
  w.BeginObject();
  w.Key("url");
  w.String(flags.String("--url"));
  w.Key("method");
  w.String(absl::AsciiStrToUpper(flags.String("--method")));
  if (auto body = flags.Get("--body")) {
    w.Key("payloadFile");
    std::error_code error;
    const std::filesystem::path absolute = std::filesystem::absolute(*body, error);
    w.String(error ? *body : absolute.string());
  }
  if (auto env = flags.Get("--bearer-env")) {
    w.Key("bearerTokenEnv");
    w.String(*env);
  }
  if (auto timeout = flags.Get("--timeout")) {
    w.Key("timeout");
    w.String(*timeout);
  }
  w.Key("headers");
  w.BeginObject();
  for (const std::string& header : flags.All("--header")) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("-H \"", header.substr(0, 80), "\": expected 'Name: value'"));
    }
    w.Key(absl::StripAsciiWhitespace(absl::string_view(header).substr(0, colon)));
    w.String(absl::StripAsciiWhitespace(absl::string_view(header).substr(colon + 1)));
  }
  w.EndObject();
  w.EndObject();
  w.Key("stages");
  w.BeginArray();
  w.BeginObject();
  if (auto c = flags.Get("--concurrency")) {
    auto n = flags.Int("--concurrency", 1, 1'000'000);
    if (!n.ok()) return n.status();
    w.Key("concurrency");
    w.Int(*n);
  } else {
    auto rate = flags.PositiveDouble("--rate");
    if (!rate.ok()) return rate.status();
    w.Key("rate");
    w.Number(*rate);
  }
  if (flags.Has("--requests")) {
    auto n = flags.Int("--requests", 1, int64_t{1} << 40);
    if (!n.ok()) return n.status();
    w.Key("requests");
    w.Int(*n);
  } else {
    w.Key("duration");
    w.String(flags.String("--duration"));
  }
  w.EndObject();
  w.EndArray();
  w.EndObject();
  absl::StatusOr<Plan> plan = ParsePlan(w.Take(), PlanLoadOptions{});
  if (!plan.ok()) {
    return absl::Status(plan.status().code(),
                        absl::StrCat("the ad-hoc flags: ", plan.status().message()));
  }
  return plan;
}

}  // namespace stampede
