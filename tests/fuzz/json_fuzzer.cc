// The JSON reader on arbitrary bytes, against itself and against protobuf's parser:
//   - ReadJson and CheckJson agree, except that only ReadJson refuses duplicate keys;
//   - every refusal is "LINE:COLUMN: message" with the position inside the input, and short;
//   - what ReadJson accepts, protobuf's JSON parser also accepts and reads into the same Value.
// The last is a differential check of the decoding (numbers, escapes, surrogates, UTF-8); the
// depth limit keeps protobuf's superlinear nesting out of it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/json_reader.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

constexpr stampede::JsonLimits kLimits{.max_bytes = 1 << 20, .max_depth = 32};
// 40-byte excerpts (escaped, up to 4x), a path of 32 levels at most, the words around them.
constexpr size_t kMaxMessageBytes = 8 << 10;

void Check(bool condition, const char* what, absl::string_view detail = "") {
  if (condition) return;
  std::fprintf(stderr, "json_fuzzer: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// "LINE:COLUMN: ..." with a line no later than the input's last and a column within it.
bool HasPosition(absl::string_view message, absl::string_view text) {
  const std::vector<absl::string_view> parts = absl::StrSplit(message, absl::MaxSplits(':', 2));
  int line = 0;
  int column = 0;
  if (parts.size() < 3 || !absl::SimpleAtoi(parts[0], &line) ||
      !absl::SimpleAtoi(parts[1], &column) || line < 1 || column < 1) {
    return false;
  }
  size_t lines = 1;
  for (const char c : text) lines += c == '\n';
  return static_cast<size_t>(line) <= lines && static_cast<size_t>(column) <= text.size() + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<google::protobuf::Value> value = stampede::ReadJson(text, kLimits);
  const absl::Status checked = stampede::CheckJson(text, kLimits);
  if (!value.ok()) {
    const absl::string_view message = value.status().message();
    Check(message.size() <= kMaxMessageBytes, "error message too long", message.substr(0, 500));
    Check(HasPosition(message, text), "error without a valid LINE:COLUMN", message);
    if (message.find(": duplicate key") == absl::string_view::npos) {
      Check(checked == value.status(), "CheckJson and ReadJson disagree", message);
    }
    return 0;
  }
  Check(checked.ok(), "ReadJson accepts what CheckJson refuses", checked.message());

  // The reader skips a byte order mark (RFC 8259 allows that); protobuf refuses one.
  absl::string_view unmarked = text;
  absl::ConsumePrefix(&unmarked, "\xEF\xBB\xBF");
  google::protobuf::Value theirs;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(unmarked.data(), unmarked.size()), &theirs);
  Check(status.ok(), "protobuf refuses what ReadJson accepts", status.ToString());
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  Check(differencer.Compare(theirs, *value), "protobuf reads it differently", difference);
  return 0;
}
