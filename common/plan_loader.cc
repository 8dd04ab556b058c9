// Plan loading in three passes:
//   1. parse the text into a google.protobuf.Struct (JSON syntax only);
//   2. walk the Struct against the Plan descriptor: reject unknown keys and wrong JSON types with
//      the field path, and rewrite human durations ("250ms") into protobuf's form ("0.250s");
//   3. hand the normalised JSON to protobuf's parser, then check the semantic rules
//      (ValidatePlan) and resolve the payload files and the bearer key.
// Pass 2 exists because protobuf's own errors neither name the path nor suggest a fix, and its
// parser is lenient where plans should not be (it takes "5" for an int32, drops null array
// elements, and silently keeps the last of "payloadFile"/"payload_file").
#include "common/plan_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;

constexpr int64_t kMaxPayloadBytes = int64_t{64} << 20;
// A plan is a few KiB; the cap only stops a mistyped path (a log, a disk image) being slurped.
constexpr int64_t kMaxPlanBytes = int64_t{16} << 20;
constexpr int32_t kMaxConcurrency = 100000;
constexpr double kMaxRate = 1e7;
// google.protobuf.Duration's documented range (about 10000 years).
constexpr int64_t kMaxProtoDurationSeconds = 315576000000;
// Doubles hold every integer up to 2^53 exactly; larger JSON numbers may already be rounded.
constexpr double kMaxExactDoubleInt = 9007199254740992.0;

// Fields the loader fills in; a plan that sets them would smuggle in bytes or a secret that
// bypass the payload and environment rules.
bool IsLoaderFilled(const pb::FieldDescriptor& field) {
  const std::string& name = field.full_name();
  return name == "stampede.Target.resolved_bearer_token" ||
         name == "stampede.Target.resolved_payloads";
}

// ---------------------------------------------------------------------------------------------
// Small formatting helpers.

std::string FieldPath(const std::string& parent, absl::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
}

// Integral values print without exponent or decimals ("500", not "500.0" or "5e+02").
std::string FormatNumber(double v) {
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) < 1e15) {
    return absl::StrFormat("%.0f", v);
  }
  return absl::StrFormat("%.6g", v);
}

absl::Duration ToAbsl(const pb::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// absl prints a zero duration as "0"; "0s" reads better next to "(0s, 1h]".
std::string HumanDuration(absl::Duration d) {
  return d == absl::ZeroDuration() ? "0s" : absl::FormatDuration(d);
}

std::string HumanDuration(const pb::Duration& d) { return HumanDuration(ToAbsl(d)); }

// Protobuf's JSON errors end with an excerpt of the input and a caret on separate lines; a status
// message should be one line, so keep the sentence and quote the excerpt line.
std::string OneLine(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  std::string out(absl::StripAsciiWhitespace(lines[0]));
  if (lines.size() > 1 && !absl::StripAsciiWhitespace(lines[1]).empty()) {
    absl::StrAppend(&out, " near \"", absl::StripAsciiWhitespace(lines[1]), "\"");
  }
  return out;
}

absl::Status PrefixStatus(const absl::Status& status, absl::string_view prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// ---------------------------------------------------------------------------------------------
// Pass 2: the descriptor-driven walk over the Struct.

const char* JsonKind(const pb::Value& v) {
  switch (v.kind_case()) {
    case pb::Value::kNullValue:
      return "null";
    case pb::Value::kNumberValue:
      return "number";
    case pb::Value::kStringValue:
      return "string";
    case pb::Value::kBoolValue:
      return "boolean";
    case pb::Value::kStructValue:
      return "object";
    case pb::Value::kListValue:
      return "array";
    default:
      return "nothing";
  }
}

absl::Status TypeError(const std::string& path, absl::string_view expected, const pb::Value& v) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": expected ", expected, ", got ", JsonKind(v)));
}

// Optimal-string-alignment distance, case-insensitive: a transposition ("nmae") counts as one
// edit, which is the typo people actually make.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const bool same = absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 2]) &&
          absl::ascii_tolower(a[i - 2]) == absl::ascii_tolower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The JSON names a plan may use in `message`, in declaration order.
std::vector<std::string> WritableJsonNames(const pb::Descriptor& message) {
  std::vector<std::string> names;
  for (int i = 0; i < message.field_count(); ++i) {
    if (!IsLoaderFilled(*message.field(i))) names.push_back(message.field(i)->json_name());
  }
  return names;
}

// "(did you mean "concurrency"?)" when one field is close, else the list of valid names.
std::string UnknownFieldHint(const pb::Descriptor& message, absl::string_view key) {
  const std::vector<std::string> names = WritableJsonNames(message);
  const std::string* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& name : names) {
    const size_t distance = EditDistance(key, name);
    const bool close = distance <= std::max<size_t>(1, name.size() / 3);
    // "p99" for "p99Ms": a truncated name is as good a clue as a typo.
    const bool prefix = key.size() >= 3 && absl::StartsWithIgnoreCase(name, key);
    if ((close || prefix) && distance < best_distance) {
      best = &name;
      best_distance = distance;
    }
  }
  if (best != nullptr) return absl::StrCat("(did you mean \"", *best, "\"?)");
  return absl::StrCat("(expected one of: ", absl::StrJoin(names, ", "), ")");
}

// Plan fields are looked up by JSON name first, then by proto name, as protobuf's parser does.
const pb::FieldDescriptor* FindField(const pb::Descriptor& message, absl::string_view key) {
  for (int i = 0; i < message.field_count(); ++i) {
    if (message.field(i)->json_name() == key) return message.field(i);
  }
  for (int i = 0; i < message.field_count(); ++i) {
    if (message.field(i)->name() == key) return message.field(i);
  }
  return nullptr;
}

absl::Status NormalizeMessage(const pb::Descriptor& message, pb::Struct* object,
                              const std::string& path);

// Durations are written the way people say them ("250ms", "1m30s"); protobuf only takes decimal
// seconds, so the walk rewrites them in place.
absl::Status NormalizeDuration(pb::Value* v, const std::string& path) {
  if (v->kind_case() != pb::Value::kStringValue) {
    return TypeError(path, "a duration string like \"5s\" or \"250ms\"", *v);
  }
  absl::Duration d;
  if (!absl::ParseDuration(v->string_value(), &d) || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a duration string like \"5s\" or \"250ms\", got \"",
                     v->string_value(), "\""));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must not be negative, got ", v->string_value()));
  }
  absl::Duration rest;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rest);
  if (seconds > kMaxProtoDurationSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", v->string_value(), " is out of range"));
  }
  pb::Duration proto;
  proto.set_seconds(seconds);
  proto.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
  v->set_string_value(pb::util::TimeUtil::ToString(proto));
  return absl::OkStatus();
}

// Integers arrive as doubles. They must be whole and in range; 64-bit ones may also be decimal
// strings, which is how protobuf itself prints int64 (so printed plans load again).
absl::Status CheckInteger(const pb::FieldDescriptor& field, const pb::Value& v,
                          const std::string& path) {
  const pb::FieldDescriptor::CppType type = field.cpp_type();
  const bool is64 =
      type == pb::FieldDescriptor::CPPTYPE_INT64 || type == pb::FieldDescriptor::CPPTYPE_UINT64;
  const bool is_unsigned =
      type == pb::FieldDescriptor::CPPTYPE_UINT32 || type == pb::FieldDescriptor::CPPTYPE_UINT64;
  if (is64 && v.kind_case() == pb::Value::kStringValue) {
    int64_t signed_value;
    uint64_t unsigned_value;
    const bool parsed = is_unsigned ? absl::SimpleAtoi(v.string_value(), &unsigned_value)
                                    : absl::SimpleAtoi(v.string_value(), &signed_value);
    if (parsed) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be an integer, got \"", v.string_value(), "\""));
  }
  if (v.kind_case() != pb::Value::kNumberValue) return TypeError(path, "an integer", v);
  const double x = v.number_value();
  if (std::trunc(x) != x) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must be an integer, got ", FormatNumber(x)));
  }
  double low = is_unsigned ? 0.0 : -2147483648.0;
  double high = is_unsigned ? 4294967295.0 : 2147483647.0;
  if (is64) {
    low = is_unsigned ? 0.0 : -kMaxExactDoubleInt;
    high = kMaxExactDoubleInt;
  }
  if (x < low || x > high) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", FormatNumber(x), " is out of range",
        is64 ? " (write integers beyond 2^53 as strings so that they stay exact)" : ""));
  }
  return absl::OkStatus();
}

absl::Status CheckEnum(const pb::FieldDescriptor& field, const pb::Value& v,
                       const std::string& path) {
  if (v.kind_case() == pb::Value::kStringValue) {
    if (field.enum_type()->FindValueByName(v.string_value()) != nullptr) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": \"", v.string_value(), "\" is not a value of ", field.enum_type()->name()));
  }
  return CheckInteger(field, v, path);
}

// One value of `field` (a whole singular field, one array element or one map value).
absl::Status NormalizeValue(const pb::FieldDescriptor& field, pb::Value* v,
                            const std::string& path) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:  // bytes too: base64, checked by protobuf
      if (v->kind_case() != pb::Value::kStringValue) return TypeError(path, "a string", *v);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (v->kind_case() != pb::Value::kBoolValue) return TypeError(path, "true or false", *v);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      // Protobuf also takes "NaN" and "Infinity" strings; no plan setting wants them.
      if (v->kind_case() != pb::Value::kNumberValue) return TypeError(path, "a number", *v);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return CheckEnum(field, *v, path);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
    default:
      return CheckInteger(field, *v, path);
  }
  const pb::Descriptor& type = *field.message_type();
  if (type.full_name() == pb::Duration::descriptor()->full_name()) {
    return NormalizeDuration(v, path);
  }
  // Other well-known types have their own JSON forms; protobuf checks those.
  if (type.file()->package() == "google.protobuf") return absl::OkStatus();
  if (v->kind_case() != pb::Value::kStructValue) return TypeError(path, "an object", *v);
  return NormalizeMessage(type, v->mutable_struct_value(), path);
}

absl::Status NormalizeMap(const pb::FieldDescriptor& field, pb::Value* v, const std::string& path) {
  if (v->kind_case() != pb::Value::kStructValue) return TypeError(path, "an object", *v);
  const pb::FieldDescriptor& value_field = *field.message_type()->map_value();
  for (auto& [key, entry] : *v->mutable_struct_value()->mutable_fields()) {
    const std::string entry_path = absl::StrCat(path, "[\"", key, "\"]");
    // Protobuf would quietly turn a null map value into "".
    if (entry.kind_case() == pb::Value::kNullValue) {
      return absl::InvalidArgumentError(absl::StrCat(entry_path, ": must not be null"));
    }
    RETURN_IF_ERROR(NormalizeValue(value_field, &entry, entry_path));
  }
  return absl::OkStatus();
}

absl::Status NormalizeRepeated(const pb::FieldDescriptor& field, pb::Value* v,
                               const std::string& path) {
  if (v->kind_case() != pb::Value::kListValue) return TypeError(path, "an array", *v);
  auto* items = v->mutable_list_value()->mutable_values();
  for (int i = 0; i < items->size(); ++i) {
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    // Protobuf would silently drop a null element and shift the indexes of the rest.
    if (items->Get(i).kind_case() == pb::Value::kNullValue) {
      return absl::InvalidArgumentError(absl::StrCat(item_path, ": must not be null"));
    }
    RETURN_IF_ERROR(NormalizeValue(field, items->Mutable(i), item_path));
  }
  return absl::OkStatus();
}

absl::Status NormalizeField(const pb::FieldDescriptor& field, pb::Value* v,
                            const std::string& path) {
  if (field.is_map()) return NormalizeMap(field, v, path);
  if (field.is_repeated()) return NormalizeRepeated(field, v, path);
  return NormalizeValue(field, v, path);
}

// Walks one JSON object against `message`. Keys are visited in sorted order so that a plan with
// several mistakes always reports the same one first.
absl::Status NormalizeMessage(const pb::Descriptor& message, pb::Struct* object,
                              const std::string& path) {
  auto& fields = *object->mutable_fields();
  std::vector<std::string> keys;
  for (const auto& [key, value] : fields) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  std::map<int, std::string> seen;  // field number -> key as written
  std::vector<std::string> nulls;
  for (const std::string& key : keys) {
    const std::string key_path = FieldPath(path, key);
    const pb::FieldDescriptor* field = FindField(message, key);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_path, ": unknown field ", UnknownFieldHint(message, key)));
    }
    if (IsLoaderFilled(*field)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_path, ": is filled in by the loader and must not be written in a plan"));
    }
    if (auto [it, inserted] = seen.emplace(field->number(), key); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(FieldPath(path, field->json_name()),
                                                     ": given twice (as \"", it->second,
                                                     "\" and \"", key, "\")"));
    }
    pb::Value& value = fields[key];
    // null means "not set" in protobuf's JSON mapping; dropping it keeps pass 3 simple.
    if (value.kind_case() == pb::Value::kNullValue) {
      nulls.push_back(key);
      continue;
    }
    RETURN_IF_ERROR(NormalizeField(*field, &value, FieldPath(path, field->json_name())));
  }
  for (const std::string& key : nulls) fields.erase(key);
  return absl::OkStatus();
}

// Pass 1. Parsing into a Value (not a Struct) lets a top-level array get a clear message.
absl::StatusOr<pb::Struct> ParseJsonObject(absl::string_view json) {
  pb::Value root;
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &root);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan is not valid JSON: ", OneLine(status.message().ToString())));
  }
  if (root.kind_case() != pb::Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan: must be a JSON object, got ", JsonKind(root)));
  }
  return std::move(*root.mutable_struct_value());
}

// Pass 3: protobuf's own parser on the normalised text.
absl::StatusOr<Plan> StructToPlan(const pb::Struct& object) {
  std::string json;
  auto status = pb::util::MessageToJsonString(object, &json);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("plan: ", status.message().ToString()));
  }
  Plan plan;
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  status = pb::util::JsonStringToMessage(json, &plan, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("plan: ", OneLine(status.message().ToString())));
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// ValidatePlan. Every rule adds to one list, so a user fixes all mistakes in one round.

class Errors {
 public:
  void Add(absl::string_view path, absl::string_view message) {
    messages_.push_back(absl::StrCat(path, ": ", message));
  }
  absl::Status ToStatus() const {
    if (messages_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(messages_, "; "));
  }

 private:
  std::vector<std::string> messages_;
};

bool IsOneOf(absl::string_view value, std::initializer_list<absl::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::string NotOneOf(absl::string_view value, absl::string_view allowed) {
  return absl::StrCat("\"", value, "\" is not one of ", allowed);
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
    return errors->Add(kPath, absl::StrCat("\"", url, "\" is not an absolute URL like ",
                                           "\"http://host:port/path\""));
  }
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return errors->Add(kPath, absl::StrCat("scheme \"", url.substr(0, sep),
                                           "\" is not supported (use http or https)"));
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
    return errors->Add(kPath, absl::StrCat("no host in \"", url, "\""));
  }
  int port_number = 0;
  if (!port.empty() && (!absl::SimpleAtoi(port, &port_number) || port_number < 1 ||
                        port_number > 65535 || !absl::ascii_isdigit(port[0]))) {
    errors->Add(kPath, absl::StrCat("port \"", port, "\" is not a number in [1, 65535]"));
  }
}

// RFC 9110 token characters: what a header name may contain.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

void CheckHeader(const std::string& name, const std::string& value, Errors* errors) {
  const std::string path = absl::StrCat("target.headers[\"", name, "\"]");
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
    errors->Add("target.httpVersion", absl::StrCat("\"", target.http_version(),
                                                   "\" is not supported (use \"1.1\" or "
                                                   "\"2\")"));
  }
  if (!IsOneOf(target.client(), {"", "auto", "curl"})) {
    errors->Add("target.client", absl::StrCat("\"", target.client(),
                                              "\" is not supported (use \"auto\" or \"curl\")"));
  }
  if (!target.bearer_token_env().empty() && !IsEnvVarName(target.bearer_token_env())) {
    errors->Add("target.bearerTokenEnv",
                absl::StrCat("\"", target.bearer_token_env(),
                             "\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"));
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
  if (t.has_error_rate()) CheckFraction(t.error_rate(), "thresholds.errorRate", errors);
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
  if (s.has_operating_fraction() && !(s.operating_fraction() > 0 && s.operating_fraction() <= 1)) {
    errors->Add("saturation.operatingFraction",
                absl::StrCat("must be in (0, 1], got ", FormatNumber(s.operating_fraction())));
  }
  if (!IsOneOf(s.model(), {"", "closed", "open"})) {
    errors->Add("saturation.model", NotOneOf(s.model(), "closed, open"));
  }
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
  ASSIGN_OR_RETURN(pb::Struct object, ParseJsonObject(absl::string_view(json.data(), json.size())));
  RETURN_IF_ERROR(NormalizeMessage(*Plan::descriptor(), &object, ""));
  ASSIGN_OR_RETURN(Plan plan, StructToPlan(object));
  RETURN_IF_ERROR(ValidatePlan(plan));
  if (options.resolve) {
    RETURN_IF_ERROR(ResolvePayloads(options.base_dir, plan.mutable_target()));
    RETURN_IF_ERROR(ResolveBearerToken(options.env, plan.mutable_target()));
  }
  return plan;
}

absl::Status ValidatePlan(const Plan& plan) {
  Errors errors;
  ValidateTarget(plan, &errors);
  ValidateStages(plan, &errors);
  ValidateAgents(plan, &errors);
  ValidateThresholds(plan, &errors);
  ValidateSaturation(plan, &errors);
  return errors.ToStatus();
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
