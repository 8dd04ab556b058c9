// Plan JSON in three passes:
//   1. read the text into a google.protobuf.Struct with the bounded reader (json_reader.h: JSON
//      syntax, size and nesting limits, duplicate keys; errors give the line and column);
//   2. walk the Struct against the Plan descriptor: reject unknown keys and wrong JSON types with
//      the field path, and rewrite human durations ("250ms") into protobuf's form ("0.250s");
//   3. hand the normalised JSON to protobuf's parser.
// Pass 2 exists because protobuf's own errors neither name the path nor suggest a fix, and its
// parser is lenient where plans should not be (it takes "5" for an int32, drops null array
// elements, and silently keeps the last of "payloadFile"/"payload_file"). Pass 3 only ever sees
// text that passes 1 and 2 wrote, so its cost is bounded by the plan limits.
// Messages quote what the plan says only through Excerpt(): a hostile key or value is cut short.
#include "common/plan_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/closest_name.h"
#include "common/json_reader.h"
#include "common/plan_internal.h"
#include "common/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace stampede {
namespace {

namespace pb = ::google::protobuf;
using plan_internal::FormatNumber;
using plan_internal::kMaxProtoDurationSeconds;
using plan_internal::OneLine;

// Doubles hold every integer up to 2^53 exactly; larger JSON numbers may already be rounded.
constexpr double kMaxExactDoubleInt = 9007199254740992.0;

// Fields the loader fills in; a plan that sets them would smuggle in bytes or a secret that
// bypass the payload and environment rules.
bool IsLoaderFilled(const pb::FieldDescriptor& field) {
  const std::string& name = field.full_name();
  return name == "stampede.Target.resolved_bearer_token" ||
         name == "stampede.Target.resolved_payloads";
}

std::string FieldPath(const std::string& parent, absl::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
}

// A value from the plan, bounded, in double quotes.
std::string Quoted(absl::string_view value) { return absl::StrCat("\"", Excerpt(value), "\""); }

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
  if (auto best = ClosestName(key, names)) return absl::StrCat("(did you mean \"", *best, "\"?)");
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
        absl::StrCat(path, ": expected a duration string like \"5s\" or \"250ms\", got ",
                     Quoted(v->string_value())));
  }
  if (d < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must not be negative, got ", Excerpt(v->string_value())));
  }
  absl::Duration rest;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rest);
  if (seconds > kMaxProtoDurationSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", Excerpt(v->string_value()), " is out of range"));
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
        absl::StrCat(path, ": must be an integer, got ", Quoted(v.string_value())));
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
        path, ": ", Quoted(v.string_value()), " is not a value of ", field.enum_type()->name()));
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
    const std::string entry_path = absl::StrCat(path, "[", Quoted(key), "]");
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
    const std::string key_path = FieldPath(path, Excerpt(key));
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
    return absl::InvalidArgumentError(
        absl::StrCat("plan: ", Excerpt(OneLine(status.message().ToString()), 200)));
  }
  return plan;
}

// Sizes in messages: "2.1 MiB"; exact bytes when rounding would make it look like the limit.
std::string Mebibytes(uint64_t bytes) {
  std::string text = absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  if (text == absl::StrFormat("%.1f MiB", static_cast<double>(kMaxPlanBytes) / (1 << 20))) {
    return absl::StrCat(bytes, " bytes");
  }
  return text;
}

}  // namespace

std::string PlanTooLargeMessage(uint64_t bytes) {
  return absl::StrCat(Mebibytes(bytes), " is over the ", kMaxPlanBytes >> 20,
                      " MiB limit for a plan");
}

// Parsing into a Value (not a Struct) lets a top-level array get a clear message.
absl::StatusOr<pb::Struct> ReadPlanJsonObject(absl::string_view json) {
  if (json.size() > kMaxPlanBytes) {
    return absl::InvalidArgumentError(PlanTooLargeMessage(json.size()));
  }
  ASSIGN_OR_RETURN(pb::Value root, ReadJson(json, JsonLimits{.max_bytes = kMaxPlanBytes,
                                                             .max_depth = kMaxPlanDepth}));
  if (root.kind_case() != pb::Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan: must be a JSON object, got ", JsonKind(root)));
  }
  return std::move(*root.mutable_struct_value());
}

absl::StatusOr<Plan> PlanFromJsonObject(pb::Struct object) {
  RETURN_IF_ERROR(NormalizeMessage(*Plan::descriptor(), &object, ""));
  return StructToPlan(object);
}

absl::StatusOr<Plan> PlanFromJson(absl::string_view json) {
  ASSIGN_OR_RETURN(pb::Struct object, ReadPlanJsonObject(json));
  return PlanFromJsonObject(std::move(object));
}

}  // namespace stampede
