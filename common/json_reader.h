// A strict JSON reader (RFC 8259) for text that comes from outside: plans, payload files. One
// linear pass, no recursion (an explicit stack bounded by the nesting limit), no exceptions, and
// every error is "LINE:COLUMN: message" quoting at most a short excerpt of the input.
//
// Protobuf's own JSON parser is not used on such text because it is superlinear in the nesting
// depth (100k nested arrays took over 6 minutes), has no size or depth limit of the caller's
// choosing, and its errors name neither a line nor a column.
#ifndef STAMPEDE_COMMON_JSON_READER_H_
#define STAMPEDE_COMMON_JSON_READER_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace stampede {

struct JsonLimits {
  // Longer input is refused before any of it is parsed.
  size_t max_bytes = 0;
  // Arrays and objects nested deeper than this are refused; the top-level one is level 1.
  // ReadJson caps it at 1000 (the tree it builds is destroyed and walked recursively).
  int max_depth = 0;
};

// Parses `text` (one JSON value, any type, surrounded by optional whitespace; a leading UTF-8
// byte order mark is skipped) into a google.protobuf.Value. Beyond the grammar it refuses:
// duplicate keys in an object (naming the key's path, e.g. "stages[1].rate"), numbers too large
// for a double, invalid UTF-8, unpaired \u surrogates. Numbers become doubles exactly as
// strtod would round them. Errors are InvalidArgument, "LINE:COLUMN: message", both 1-based,
// columns counted in characters.
absl::StatusOr<google::protobuf::Value> ReadJson(absl::string_view text, const JsonLimits& limits);

// The same checks without building anything, for large documents that are only passed on (a
// payload file). Duplicate keys are not looked for here: RFC 8259 allows them, and keeping every
// key of a 64 MiB document would cost what this function exists to avoid.
absl::Status CheckJson(absl::string_view text, const JsonLimits& limits);

// `text` made safe to quote in a one-line message: at most `max_bytes` bytes of it (cut on a
// character boundary, then "..."), control characters, backslashes, double quotes and invalid
// UTF-8 escaped as in C. Every message that echoes something a user or a peer sent goes through
// this, so that a hostile megabyte never ends up in a log line.
std::string Excerpt(absl::string_view text, size_t max_bytes = 40);

}  // namespace stampede

#endif  // STAMPEDE_COMMON_JSON_READER_H_
